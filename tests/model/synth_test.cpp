// qwen3 synth: the contract (files, config fields, determinism) and the health of the random models.
#include <gtest/gtest.h>

#include <cmath>
#include <filesystem>
#include <fstream>

#include "model/forward.h"
#include "model/synth.h"
#include "reference_data.h"

namespace qwen3 {
namespace {

namespace fs = std::filesystem;

std::string slurp(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(in), {});
}

TEST(Synth, SameSeedSameBytesOtherSeedOtherBytes) {
  std::string a = test::scratch_dir("synth_a"), b = test::scratch_dir("synth_b"),
              c = test::scratch_dir("synth_c");
  for (auto [dir, seed] : {std::pair{a, 5}, std::pair{b, 5}, std::pair{c, 6}}) {
    auto r = test::run_command(test::qwen3_binary() + " synth --preset small --dtype f16 --seed " +
                               std::to_string(seed) + " --out " + dir);
    ASSERT_EQ(r.exit_code, 0) << r.err;
  }
  for (const char* f : {"model.safetensors", "config.json", "generation_config.json", "tokenizer.json",
                        "tokenizer_config.json"}) {
    EXPECT_EQ(slurp(a + "/" + f), slurp(b + "/" + f)) << f;
  }
  EXPECT_NE(slurp(a + "/model.safetensors"), slurp(c + "/model.safetensors"));
}

TEST(Synth, ConfigHasEveryFieldOfTheRealQwen3Config) {
  auto cfg = nlohmann::json::parse(slurp(test::synth_model("qwen3-0.6b-bf16") + "/config.json"));
  for (const char* key : {"architectures",
                          "attention_bias",
                          "attention_dropout",
                          "bos_token_id",
                          "eos_token_id",
                          "head_dim",
                          "hidden_act",
                          "hidden_size",
                          "initializer_range",
                          "intermediate_size",
                          "max_position_embeddings",
                          "max_window_layers",
                          "model_type",
                          "num_attention_heads",
                          "num_hidden_layers",
                          "num_key_value_heads",
                          "rms_norm_eps",
                          "rope_scaling",
                          "rope_theta",
                          "sliding_window",
                          "tie_word_embeddings",
                          "torch_dtype",
                          "transformers_version",
                          "use_cache",
                          "use_sliding_window",
                          "vocab_size"})
    EXPECT_TRUE(cfg.contains(key)) << key;
  EXPECT_EQ(cfg["num_hidden_layers"], 28);
  EXPECT_EQ(cfg["hidden_size"], 1024);
  EXPECT_EQ(cfg["intermediate_size"], 3072);
  EXPECT_EQ(cfg["num_attention_heads"], 16);
  EXPECT_EQ(cfg["num_key_value_heads"], 8);
  EXPECT_EQ(cfg["head_dim"], 128);
  EXPECT_EQ(cfg["tie_word_embeddings"], true);
  EXPECT_EQ(cfg["vocab_size"], 151936);
  auto gen = nlohmann::json::parse(slurp(test::synth_model("qwen3-0.6b-bf16") + "/generation_config.json"));
  EXPECT_EQ(gen["eos_token_id"], nlohmann::json::array({151645, 151643}));
}

TEST(Synth, PresetShapes) {
  auto tiny = load_model(test::synth_model("tiny-bf16"));
  EXPECT_EQ(tiny->config.num_hidden_layers, 2);
  EXPECT_EQ(tiny->config.hidden_size, 64);
  EXPECT_EQ(tiny->config.head_dim, 16);
  EXPECT_TRUE(tiny->config.tie_word_embeddings);
  EXPECT_EQ(tiny->weights.lm_head.data, tiny->weights.embed_tokens.data);
  EXPECT_EQ(tiny->n_vocab_tokens, 151669);  // from the real tokenizer.json
  auto small = load_model(test::synth_model("small-bf16"));
  EXPECT_FALSE(small->config.tie_word_embeddings);
  EXPECT_NE(small->weights.lm_head.data, small->weights.embed_tokens.data);
  EXPECT_NE(small->config.head_dim * small->config.num_attention_heads, small->config.hidden_size);
  EXPECT_GE(small->config.num_hidden_layers, 4);
  EXPECT_LE(small->config.num_hidden_layers, 6);
  EXPECT_EQ(small->matrix_dtype(), DType::kBF16);
}

// Logits of a random model must be peaked but finite: a standard deviation between 0.5 and 10, a top logit a
// few deviations above the mean.
TEST(Synth, LogitsAreHealthy) {
  for (const char* name : {"tiny-bf16", "small-bf16", "qwen3-0.6b-bf16"}) {
    auto model = load_model(test::synth_model(name));
    std::vector<int32_t> ids = {151644, 872, 198, 9707, 11, 1879, 0};
    ThreadPool pool(2);
    ForwardOptions fo;
    fo.pool = &pool;
    auto r = generate_greedy(*model, ids, 1, fo, true);
    double sum = 0, sq = 0, mx = -1e30;
    for (float v : r.prompt_logits) {
      ASSERT_TRUE(std::isfinite(v));
      sum += v;
      sq += double{v} * v;
      mx = std::max(mx, double{v});
    }
    double n = static_cast<double>(r.prompt_logits.size()), mean = sum / n,
           sd = std::sqrt(sq / n - mean * mean);
    EXPECT_GT(sd, 0.5) << name;
    EXPECT_LT(sd, 10.0) << name;
    EXPECT_GT((mx - mean) / sd, 3.0) << name;
  }
}

TEST(Synth, BadArgumentsAreOneLineErrors) {
  std::string dir = test::scratch_dir("synth_bad");
  auto r = test::run_command(test::qwen3_binary() + " synth --preset huge --out " + dir);
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_EQ(r.err, "error: unknown preset 'huge' (choose tiny, tiny-k, small or qwen3-0.6b)\n");
  r = test::run_command(test::qwen3_binary() + " synth --preset tiny --dtype q3 --out " + dir);
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_NE(r.err.find("--dtype q3"), std::string::npos);
}

}  // namespace
}  // namespace qwen3
