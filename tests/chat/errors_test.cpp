// Unsupported constructs and bad templates fail with one clear line naming the construct and the template line;
// hostile templates hit limits instead of crashing; the CLI reports user errors with exit status 1.
#include <gtest/gtest.h>

#include "chat/chat_template.h"
#include "core/error.h"
#include "test_util.h"

using namespace qwen3;
using ojson = nlohmann::ordered_json;

namespace {

std::string render_error(const std::string& source) {
  try {
    ChatTemplate t = ChatTemplate::from_source(source);
    t.render(ojson::parse(R"([{"role": "user", "content": "hi"}])"), nullptr, {});
  } catch (const Error& e) {
    return e.what();
  }
  return "(no error)";
}

void expect_error(const std::string& source, const std::string& want) {
  std::string got = render_error(source);
  EXPECT_NE(got.find(want), std::string::npos) << "template: " << source << "\nerror: " << got;
  EXPECT_EQ(got.find('\n'), std::string::npos) << "one line: " << got;
}

}  // namespace

TEST(ChatErrors, UnsupportedConstructsNameConstructAndLine) {
  expect_error("a\n{% include 'x.jinja' %}", "line 2: unsupported construct: 'include' statement");
  expect_error("{% extends 'base' %}", "line 1: unsupported construct: 'extends' statement");
  expect_error("\n\n{% call m() %}{% endcall %}", "line 3: unsupported construct: 'call' statement");
  expect_error("{{ x | wordwrap }}", "line 1: unsupported construct: filter 'wordwrap'");
  expect_error("\n{% if x is bogus %}{% endif %}", "line 2: unsupported construct: test 'bogus'");
  expect_error("{{ 'a'.zfill(3) }}", "line 1: unsupported construct: string method 'zfill'");
  expect_error("{{ '%s' % 1 }}", "unsupported construct: printf-style string formatting");
  expect_error("{% for x in l recursive %}{% endfor %}", "unsupported construct: recursive for loop");
  expect_error("{{ f(*args) }}", "unsupported construct: *args");
  expect_error("{{ joiner() }}", "unsupported construct: global function 'joiner'");
  expect_error("{% do x %}", "Encountered unknown tag 'do'");
}

TEST(ChatErrors, SyntaxErrors) {
  expect_error("{% if x %}never closed", "line 1: Unexpected end of template");
  expect_error("ok\n{{ 1 + }}", "line 2:");
  expect_error("{{ 'unterminated }}", "line 1: unexpected char");
  expect_error("{# no end", "Missing end of comment tag");
  expect_error("{{ (1 }}", "line 1:");
  expect_error("{% endfor %}", "unknown tag 'endfor'");
  expect_error(std::string("{{ '\xff' }}"), "invalid UTF-8");
}

TEST(ChatErrors, RuntimeErrors) {
  expect_error("{{ raise_exception('No user query found') }}", "No user query found");
  expect_error("\n\n{{ messages[0].nope.deeper }}", "line 3: UndefinedError");
  expect_error("{{ 1 / 0 }}", "ZeroDivisionError");
  expect_error("{{ [].append(1) }}", "SecurityError");
  expect_error("{% set x = 1 %}{% set x.y = 2 %}", "cannot assign attribute on non-namespace object");
}

TEST(ChatErrors, HostileTemplatesHitLimits) {
  expect_error("{{ " + std::string(5000, '(') + "1" + std::string(5000, ')') + " }}", "nesting deeper than");
  std::string chain = "{{ 1";
  for (int k = 0; k < 5000; ++k) chain += " + 1";
  expect_error(chain + " }}", "expression nested more than");
  std::string ifs;
  for (int k = 0; k < 500; ++k) ifs += "{% if true %}";
  expect_error(ifs, "nesting deeper than");
  expect_error("{% macro f() %}{{ f() }}{% endmacro %}{{ f() }}", "nested more than");
  expect_error("{% for i in range(1000000) %}{% for j in range(1000000) %}{% endfor %}{% endfor %}", "steps of work");
  expect_error("{{ 'x' * 100000000000 }}", "longer than");
  expect_error("{{ range(100000000) | length }}", "range() longer than");
  expect_error("{% set ns = namespace(x=[]) %}{% for i in range(1000) %}{% set ns.x = [ns.x] %}{% endfor %}",
               "nested more than");
  expect_error("{{ 9223372036854775807 + 1 }}", "beyond 64 bits");
  // A namespace holding itself renders without leaking (cycles are broken after each render) or looping.
  expect_error("{% set ns = namespace() %}{% set ns.me = ns %}{{ ns }}", "nested more than");
}

TEST(ChatErrors, Cli) {
  std::string bin = test::qwen3_binary();
  auto help = test::run_command(bin + " template --help");
  EXPECT_EQ(help.exit_code, 0);
  EXPECT_NE(help.out.find("--jsonl"), std::string::npos);
  auto missing = test::run_command(bin + " template -m /nonexistent/model --jsonl", "");
  EXPECT_EQ(missing.exit_code, 1);
  EXPECT_EQ(std::count(missing.err.begin(), missing.err.end(), '\n'), 1) << missing.err;
  std::string dir = test::scratch_dir("chat_cli_errors");
  test::write_file(dir + "/tokenizer_config.json", R"({"chat_template": "{{ messages[0].content }}"})");
  auto r = test::run_command(bin + " template -m " + dir + " --jsonl",
                             "{\"messages\": [{\"content\": \"ok\"}]}\nnot json\n{\"messages\": 3}\n"
                             "{\"messages\": [{\"content\": \"é\"}], \"tools\": null, \"add_generation_prompt\": true, "
                             "\"enable_thinking\": null}\n");
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_EQ(r.out, "{\"rendered\":\"ok\"}\n{\"error\":\"malformed JSON: [json.exception.parse_error.101] parse error at "
                   "line 1, column 2: syntax error while parsing value - invalid literal; last read: 'no'\"}\n"
                   "{\"error\":\"request needs a \\\"messages\\\" array\"}\n{\"rendered\":\"é\"}\n");
  test::write_file(dir + "/tokenizer_config.json", R"({"chat_template": "{% if %}"})");
  auto bad = test::run_command(bin + " template -m " + dir + " --jsonl", "");
  EXPECT_EQ(bad.exit_code, 1);
  EXPECT_NE(bad.err.find("line 1"), std::string::npos) << bad.err;
}
