// Byte-exact comparison with Python jinja2 (set up as transformers does) on the committed goldens:
// template_goldens.jsonl (the real Qwen3 template and its siblings on many conversations) through the C++ API
// and through `qwen3 template --jsonl`, and expr_goldens.jsonl (interpreter semantics, snippet by snippet).
#include <gtest/gtest.h>

#include <fstream>
#include <map>

#include "chat/chat_template.h"
#include "chat/jinja_ast.h"
#include "chat/jinja_eval.h"
#include "core/error.h"
#include "core/file.h"
#include "test_util.h"

using namespace qwen3;
using ojson = nlohmann::ordered_json;

namespace {

std::string data_dir() {
  return test::source_dir() + "/tests/data/chat";
}

std::vector<ojson> read_jsonl(const std::string& path) {
  std::ifstream in(path);
  std::vector<ojson> out;
  std::string line;
  while (std::getline(in, line))
    if (!line.empty()) out.push_back(ojson::parse(line));
  return out;
}

ChatTemplate load_named(const std::string& name) {
  ChatTemplate t = ChatTemplate::from_source(read_text_file(data_dir() + "/templates/" + name + ".jinja"));
  t.set_special_tokens(ojson::parse(read_text_file(data_dir() + "/special_tokens.json")));
  return t;
}

ChatTemplateOptions options_of(const ojson& req) {
  ChatTemplateOptions o;
  o.add_generation_prompt = req["add_generation_prompt"].get<bool>();
  if (req["enable_thinking"].is_boolean()) o.enable_thinking = req["enable_thinking"].get<bool>();
  return o;
}

// For raise_exception the message must come through; other errors only need to be errors.
void expect_error_matches(const std::string& ours, const std::string& python, const std::string& name) {
  const std::string prefix = "TemplateError: ";
  if (python.rfind(prefix, 0) == 0) {
    EXPECT_NE(ours.find(python.substr(prefix.size())), std::string::npos) << name << ": " << ours;
  }
}

}  // namespace

TEST(ChatGolden, TemplatesThroughApi) {
  auto cases = read_jsonl(data_dir() + "/template_goldens.jsonl");
  ASSERT_GE(cases.size(), 100u);
  std::map<std::string, ChatTemplate> templates;
  size_t n_pass = 0, n_rendered = 0;
  for (const auto& c : cases) {
    std::string name = c["name"], tname = c["template"];
    if (!templates.count(tname)) templates.emplace(tname, load_named(tname));
    const ojson& req = c["request"];
    try {
      RenderedPrompt r = templates.at(tname).render(req["messages"], req["tools"], options_of(req));
      ASSERT_EQ(r.text.size(), r.from_template.size()) << name;
      if (c.contains("rendered")) {
        EXPECT_EQ(r.text, c["rendered"].get<std::string>()) << name;
        n_pass += r.text == c["rendered"].get<std::string>();
        ++n_rendered;
      } else {
        ADD_FAILURE() << name << ": Python failed (" << c["error"] << ") but we rendered";
      }
    } catch (const Error& e) {
      if (c.contains("rendered")) {
        ++n_rendered;
        ADD_FAILURE() << name << ": " << e.what();
      } else {
        expect_error_matches(e.what(), c["error"], name);
        ++n_pass;
      }
    }
  }
  std::printf("template goldens: %zu/%zu pass (%zu rendered, %zu expected errors)\n", n_pass, cases.size(),
              n_rendered, cases.size() - n_rendered);
}

TEST(ChatGolden, TemplatesThroughCli) {
  auto cases = read_jsonl(data_dir() + "/template_goldens.jsonl");
  std::map<std::string, std::string> inputs;
  std::map<std::string, std::vector<const ojson*>> expected;
  for (const auto& c : cases) {
    const ojson& req = c["request"];
    inputs[c["template"]] += req.dump() + "\n";
    expected[c["template"]].push_back(&c);
  }
  ojson specials = ojson::parse(read_text_file(data_dir() + "/special_tokens.json"));
  for (const auto& [tname, input] : inputs) {
    // A model directory the way Hugging Face lays it out: the template inside tokenizer_config.json.
    std::string dir = test::scratch_dir("chat_cli_" + tname);
    ojson config = specials;
    config["chat_template"] = read_text_file(data_dir() + "/templates/" + tname + ".jinja");
    test::write_file(dir + "/tokenizer_config.json", config.dump(2));
    auto r = test::run_command(test::qwen3_binary() + " template -m '" + dir + "' --jsonl", input);
    std::vector<ojson> lines;
    size_t start = 0;
    for (size_t nl; (nl = r.out.find('\n', start)) != std::string::npos; start = nl + 1)
      lines.push_back(ojson::parse(r.out.substr(start, nl - start)));
    const auto& want = expected[tname];
    ASSERT_EQ(lines.size(), want.size()) << tname << ": " << r.err;
    bool any_error = false;
    for (size_t k = 0; k < want.size(); ++k) {
      const ojson& c = *want[k];
      if (c.contains("rendered")) {
        ASSERT_TRUE(lines[k].contains("rendered")) << c["name"] << ": " << lines[k].dump();
        EXPECT_EQ(lines[k]["rendered"].get<std::string>(), c["rendered"].get<std::string>()) << c["name"];
      } else {
        any_error = true;
        EXPECT_TRUE(lines[k].contains("error")) << c["name"];
      }
    }
    EXPECT_EQ(r.exit_code, any_error ? 1 : 0) << tname << ": " << r.err;
  }
}

TEST(ChatGolden, InterpreterSnippets) {
  auto cases = read_jsonl(data_dir() + "/expr_goldens.jsonl");
  ASSERT_GE(cases.size(), 80u);
  size_t n_pass = 0;
  for (const auto& c : cases) {
    std::string name = c["name"], source = c["source"];
    std::string ctx = name + ": " + source;
    try {
      jinja::Body body = jinja::parse_template(source);
      jinja::check_names(body);
      jinja::Vars vars;
      for (const auto& [k, v] : c["vars"].items()) vars.emplace_back(k, jinja::from_json(v));
      std::string out = jinja::render(body, vars).text;
      if (c.contains("rendered")) {
        EXPECT_EQ(out, c["rendered"].get<std::string>()) << ctx;
        n_pass += out == c["rendered"].get<std::string>();
      } else {
        ADD_FAILURE() << ctx << ": Python failed (" << c["error"] << ") but we rendered " << out;
      }
    } catch (const Error& e) {
      if (c.contains("rendered")) {
        ADD_FAILURE() << ctx << ": " << e.what();
      } else {
        expect_error_matches(e.what(), c["error"], ctx);
        ++n_pass;
      }
    }
  }
  std::printf("interpreter goldens: %zu/%zu pass\n", n_pass, cases.size());
}
