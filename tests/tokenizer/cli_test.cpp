// qwen3 tokenize: the --jsonl contract of docs/DESIGN.md, the plain mode, and user errors.
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include "test_util.h"

namespace qwen3 {
namespace {

using json = nlohmann::json;

std::string tokenize_cmd(const std::string& args) {
  return test::qwen3_binary() + " tokenize -m '" + test::tokenizer_dir() + "' " + args;
}

std::vector<json> lines(const std::string& out) {
  std::vector<json> v;
  size_t i = 0;
  while (i < out.size()) {
    size_t j = out.find('\n', i);
    if (j == std::string::npos) j = out.size();
    if (j > i) v.push_back(json::parse(out.substr(i, j - i)));
    i = j + 1;
  }
  return v;
}

TEST(TokenizeCli, JsonlEncodesAndDecodes) {
  std::string in = json{{"text", "Hello world <|im_start|>user\n"}}.dump() + "\n" +
                   json{{"ids", {9707, 1879, 151644}}}.dump() + "\n" + json{{"text", ""}}.dump() + "\n" +
                   json{{"ids", {151644, 9707}}, {"skip_special_tokens", true}}.dump() + "\n";
  auto r = test::run_command(tokenize_cmd("--jsonl"), in);
  ASSERT_EQ(r.exit_code, 0) << r.err;
  auto out = lines(r.out);
  ASSERT_EQ(out.size(), 4u);
  EXPECT_EQ(out[0], (json{{"ids", {9707, 1879, 220, 151644, 872, 198}}}));
  EXPECT_EQ(out[1], (json{{"text", "Hello world<|im_start|>"}}));
  EXPECT_EQ(out[2], (json{{"ids", json::array()}}));
  EXPECT_EQ(out[3], (json{{"text", "Hello"}}));
}

TEST(TokenizeCli, BadLinesGetAnErrorLineAndExitStatusOne) {
  std::string in =
      "{\"text\": \"a\"}\nnot json\n{\"text\": 5}\n{\"ids\": [-1]}\n{\"foo\": 1}\n{\"text\": \"b\"}\n";
  auto r = test::run_command(tokenize_cmd("--jsonl"), in);
  EXPECT_EQ(r.exit_code, 1);
  auto out = lines(r.out);
  ASSERT_EQ(out.size(), 6u);
  EXPECT_TRUE(out[0].contains("ids"));
  for (size_t i = 1; i < 5; ++i) EXPECT_TRUE(out[i].contains("error")) << out[i].dump();
  EXPECT_TRUE(out[5].contains("ids"));
  EXPECT_NE(r.err.find("malformed JSON"), std::string::npos) << r.err;
}

TEST(TokenizeCli, PlainModePrintsIdsAndPieces) {
  auto r = test::run_command(tokenize_cmd("'Hello world<think>'"));
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(r.out, "9707\tHello\t\"Hello\"\n1879\t\xC4\xA0world\t\" world\"\n151667\t<think>\t\"<think>\"\n");
  auto s = test::run_command(tokenize_cmd(""), "from stdin");
  ASSERT_EQ(s.exit_code, 0) << s.err;
  EXPECT_NE(s.out.find("\"from\""), std::string::npos) << s.out;
}

TEST(TokenizeCli, HelpAndUserErrors) {
  auto h = test::run_command(test::qwen3_binary() + " tokenize --help");
  EXPECT_EQ(h.exit_code, 0);
  EXPECT_NE(h.out.find("--jsonl"), std::string::npos);
  auto missing = test::run_command(test::qwen3_binary() + " tokenize -m /nonexistent/model x");
  EXPECT_EQ(missing.exit_code, 1);
  EXPECT_EQ(std::count(missing.err.begin(), missing.err.end(), '\n'), 1) << missing.err;
  auto no_model = test::run_command(test::qwen3_binary() + " tokenize x");
  EXPECT_EQ(no_model.exit_code, 1);
  auto both = test::run_command(tokenize_cmd("--jsonl text"));
  EXPECT_EQ(both.exit_code, 1);
  auto bad_utf8 = test::run_command(tokenize_cmd("\"$(printf 'a\\200b')\""));
  EXPECT_EQ(bad_utf8.exit_code, 1);
  EXPECT_NE(bad_utf8.err.find("UTF-8"), std::string::npos) << bad_utf8.err;
}

}  // namespace
}  // namespace qwen3
