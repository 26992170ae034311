// `qwen3 generate --json-schema | --grammar | --regex` (issue 16, item 4): the answer of a random-weight
// model matches the constraint, for several seeds; a bad schema, grammar or regex is one line and exit
// status 1.
#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <regex>
#include <string>

#include <nlohmann/json.hpp>

#include "test_util.h"

namespace qwen3::test {
namespace {

struct TinyModel {
  std::string dir = scratch_dir("cli_constraint_" + std::to_string(::getpid()));
  TinyModel() {
    auto r = run_command(qwen3_binary() + " synth --preset tiny --seed 7 --out " + dir + "/m");
    EXPECT_EQ(r.exit_code, 0) << r.err;
  }
  ~TinyModel() { std::filesystem::remove_all(dir); }
};

const std::string& model() {
  static const TinyModel m;
  static const std::string path = m.dir + "/m";
  return path;
}

// The answer text of `qwen3 generate --json` with the given constraint flags.
std::string answer(const std::string& flags, int seed) {
  auto r =
      run_command(qwen3_binary() + " generate -m " + model() +
                  " -p 'Hi' --no-think --temp 1 -n 200 --json --seed " + std::to_string(seed) + " " + flags);
  EXPECT_EQ(r.exit_code, 0) << flags << ": " << r.err;
  if (r.exit_code != 0) return "";
  auto j = nlohmann::json::parse(r.out);
  EXPECT_EQ(j["finish_reason"], "stop") << r.out;
  return j["text"];
}

TEST(ConstraintCli, JsonSchemaInlineAndFromAFile) {
  const std::string schema =
      R"({"type":"object","properties":{"n":{"type":"integer","minimum":1,"maximum":9},"ok":{"type":"boolean"}},)"
      R"("required":["n","ok"],"additionalProperties":false})";
  std::string file = model() + "/../schema.json";
  write_file(file, schema);
  for (int seed = 1; seed <= 3; ++seed) {
    for (const std::string& flag : {"--json-schema '" + schema + "'", "--json-schema " + file}) {
      auto v = nlohmann::json::parse(answer(flag, seed));
      ASSERT_TRUE(v.is_object()) << v;
      EXPECT_EQ(v.size(), 2u) << v;
      EXPECT_TRUE(v["n"].is_number_integer() && v["n"] >= 1 && v["n"] <= 9) << v;
      EXPECT_TRUE(v["ok"].is_boolean()) << v;
    }
  }
}

TEST(ConstraintCli, RegexAndGrammar) {
  for (int seed = 1; seed <= 3; ++seed) {
    EXPECT_TRUE(
        std::regex_match(answer("--regex '[a-d]{2}-[0-9]{1,3}'", seed), std::regex("[a-d]{2}-[0-9]{1,3}")));
    std::string g = answer("--grammar 'root ::= \"<\" [xyz]{1,4} \">\"'", seed);
    EXPECT_TRUE(std::regex_match(g, std::regex("<[xyz]{1,4}>"))) << g;
  }
}

TEST(ConstraintCli, BadConstraintsAreOneLineAndExitOne) {
  for (const std::string& flag :
       {std::string("--json-schema '{bad'"), std::string("--json-schema '{\"type\":\"strnig\"}'"),
        std::string("--regex '('"), std::string("--grammar 'root ::= missing'"),
        std::string("--json-schema /nonexistent.json"),
        std::string("--regex a --grammar 'root ::= \"a\"'")}) {
    auto r = run_command(qwen3_binary() + " generate -m " + model() + " -p Hi " + flag);
    EXPECT_EQ(r.exit_code, 1) << flag;
    EXPECT_NE(r.err.find("error: "), std::string::npos) << flag << ": " << r.err;
    EXPECT_EQ(r.out, "") << flag;
  }
}

}  // namespace
}  // namespace qwen3::test
