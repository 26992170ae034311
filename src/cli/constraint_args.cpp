#include "cli/constraint_args.h"

#include <filesystem>
#include <fstream>
#include <sstream>

#include "core/error.h"
#include "core/json.h"

namespace qwen3::cli {

namespace {

std::string read_file(const std::string& flag, const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  QWEN3_CHECK(in.good(), "%s %s: cannot read the file", flag.c_str(), path.c_str());
  std::ostringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

}  // namespace

void add_constraint_options(CLI::App* cmd, ConstraintArgs& a) {
  cmd->add_option_function<std::string>(
         "--json-schema",
         [&a](const std::string& v) {
           // Inline JSON when it looks like JSON, else a file.
           size_t first = v.find_first_not_of(" \t\r\n");
           bool inline_json = first != std::string::npos && (v[first] == '{' || v == "true" || v == "false");
           std::string text = inline_json ? v : read_file("--json-schema", v);
           nlohmann::ordered_json j;
           std::string error;
           QWEN3_CHECK(try_parse_json(text, j, &error), "--json-schema: not valid JSON: %s", error.c_str());
           QWEN3_CHECK(j.is_object() || j.is_boolean(), "--json-schema: a JSON Schema is an object");
           a.json_schema = text;
         },
         "the answer is JSON valid against this schema (a file, or the JSON itself)")
      ->type_name("FILE_OR_JSON");
  cmd->add_option_function<std::string>(
         "--grammar",
         [&a](const std::string& v) {
           a.grammar = std::filesystem::is_regular_file(v) ? read_file("--grammar", v) : v;
           QWEN3_CHECK(!a.grammar.empty(), "--grammar: the grammar is empty");
         },
         "the answer matches this GBNF grammar (llama.cpp's format): a file, or the grammar itself")
      ->type_name("FILE_OR_GBNF");
  cmd->add_option_function<std::string>(
         "--grammar-file", [&a](const std::string& v) { a.grammar = read_file("--grammar-file", v); },
         "as --grammar, always a file (llama.cpp's spelling)")
      ->type_name("FILE");
  cmd->add_option("--regex", a.regex, "the answer matches this regular expression (whole)");
}

OutputConstraint make_output_constraint(const ConstraintArgs& a, const Tokenizer& tokenizer,
                                        const Model& model) {
  OutputConstraint c;
  int given = !a.json_schema.empty() + !a.grammar.empty() + !a.regex.empty();
  if (given == 0) return c;
  QWEN3_CHECK(given == 1, "give one of --json-schema, --grammar and --regex");
  const char* flag = !a.json_schema.empty() ? "--json-schema" : !a.grammar.empty() ? "--grammar" : "--regex";
  try {
    constrain::Builder g(constrain::make_vocabulary(tokenizer, model.generation.eos_token_ids));
    constrain::Builder::Rule root = !a.json_schema.empty() ? g.json_schema(parse_json(a.json_schema))
                                    : !a.grammar.empty()   ? g.gbnf(a.grammar)
                                                           : g.regex(a.regex);
    c.grammar = g.build(root);
  } catch (const constrain::CompileError& e) {
    std::string where = e.path.empty() ? "" : " at " + e.path;
    throw Error(strfmt("%s: cannot compile (%s%s): %s", flag, e.keyword.c_str(), where.c_str(), e.what()));
  }
  return c;
}

}  // namespace qwen3::cli
