// qwen3 eval --jsonl, byte for byte: one output line per request, fields "greedy" and (when asked) "logits",
// the same numbers as the library; bad lines get an error line and exit status 1 without stopping the rest.
#include <gtest/gtest.h>

#include "model/forward.h"
#include "reference_data.h"

namespace qwen3 {
namespace {

TEST(EvalCli, AnswersOneLinePerRequestWithTheLibrarysNumbers) {
  std::string model_dir = test::synth_model("tiny-f32");
  std::string input =
      "{\"ids\": [151644, 872, 198, 9707], \"n_predict\": 5, \"logits\": true}\n"
      "{\"ids\": [1, 2, 3], \"n_predict\": 3, \"logits\": false}\n"
      "{\"ids\": [42], \"n_predict\": 0}\n";
  auto r = test::run_command(test::qwen3_binary() + " eval -m " + model_dir + " --threads 2 --jsonl", input);
  ASSERT_EQ(r.exit_code, 0) << r.err;
  std::vector<std::string> lines;
  size_t start = 0;
  for (size_t nl; (nl = r.out.find('\n', start)) != std::string::npos; start = nl + 1)
    lines.push_back(r.out.substr(start, nl - start));
  ASSERT_EQ(lines.size(), 3u);
  EXPECT_EQ(start, r.out.size()) << "output must end with a newline";

  auto model = load_model(model_dir);
  ForwardOptions fo;
  auto want1 = generate_greedy(*model, {151644, 872, 198, 9707}, 5, fo, true);
  auto want2 = generate_greedy(*model, {1, 2, 3}, 3, fo, false);
  auto j1 = nlohmann::json::parse(lines[0]);
  std::vector<std::string> keys;
  for (auto& [k, v] : j1.items()) keys.push_back(k);
  EXPECT_EQ(keys, (std::vector<std::string>{"greedy", "logits"}));
  EXPECT_EQ(j1["greedy"].get<std::vector<int32_t>>(), want1.tokens);
  EXPECT_EQ(j1["logits"].get<std::vector<float>>(), want1.prompt_logits);  // exact: floats print round-trip
  EXPECT_EQ(j1["logits"].size(), 151936u);
  EXPECT_EQ(lines[1], nlohmann::json({{"greedy", want2.tokens}}).dump());
  EXPECT_EQ(lines[2], "{\"greedy\":[]}");
}

TEST(EvalCli, BadLinesGetErrorLinesAndExitOne) {
  std::string input =
      "{\"ids\": [1, 2], \"n_predict\": 1}\n"
      "{not json\n"
      "{\"ids\": [999999999], \"n_predict\": 1}\n"
      "{\"ids\": [], \"n_predict\": 1}\n"
      "{\"ids\": [5], \"n_predict\": 1}\n";
  auto r = test::run_command(test::qwen3_binary() + " eval -m " + test::synth_model("tiny-f32") + " --jsonl",
                             input);
  EXPECT_EQ(r.exit_code, 1);
  auto lines = nlohmann::json::array();
  size_t start = 0;
  for (size_t nl; (nl = r.out.find('\n', start)) != std::string::npos; start = nl + 1)
    lines.push_back(nlohmann::json::parse(r.out.substr(start, nl - start)));
  ASSERT_EQ(lines.size(), 5u);
  EXPECT_TRUE(lines[0].contains("greedy"));
  EXPECT_NE(lines[1]["error"].get<std::string>().find("malformed JSON"), std::string::npos);
  EXPECT_NE(lines[2]["error"].get<std::string>().find("token ids in [0, 151936)"), std::string::npos);
  EXPECT_NE(lines[3]["error"].get<std::string>().find("non-empty \"ids\""), std::string::npos);
  EXPECT_TRUE(lines[4].contains("greedy"));
}

TEST(EvalCli, MissingModelIsOneLine) {
  auto r = test::run_command(test::qwen3_binary() + " eval -m /nonexistent/model --jsonl", "");
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_EQ(r.err, "error: /nonexistent/model: no such model directory\n");
}

}  // namespace
}  // namespace qwen3
