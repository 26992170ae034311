// LoRA in the forward pass: sequences with different adapters (and none) in one batch give, bit for bit, the
// logits each gives alone (prompt and decode steps, f32 and q8_0 bases, 1 and 2 threads); adapters are not
// merged (the base weights are untouched); --lora values parse as documented.
#include <gtest/gtest.h>

#include <cmath>
#include <cstring>

#include "core/error.h"
#include "model/forward.h"
#include "model/lora.h"
#include "test_util.h"

namespace qwen3 {
namespace {

std::string adapter(const std::string& name) {
  return test::testdata_dir() + "/lora/" + name;
}

std::vector<int32_t> some_ids(int n, int salt) {
  std::vector<int32_t> ids;
  for (int i = 0; i < n; ++i) ids.push_back((i * 7919 + salt * 104729) % 151643);
  return ids;
}

constexpr int kSteps = 4;

// Logits after each prompt and each of kSteps greedy tokens, for every sequence: alone (one slot, one
// sequence per forward call) or all together (one forward call per step holding every sequence).
std::vector<std::vector<float>> run(const Model& m, const std::vector<std::vector<int32_t>>& prompts,
                                    const std::vector<const LoraStack*>& stacks, bool together,
                                    ThreadPool* pool) {
  const int V = m.config.vocab_size, S = static_cast<int>(prompts.size());
  std::vector<std::vector<float>> out(S);
  ForwardOptions fo;
  fo.pool = pool;
  auto step = [&](KvCache& cache, const std::vector<int>& seqs, std::vector<std::vector<int32_t>>& fed) {
    Batch b;
    for (int s : seqs) {
      const int slot = together ? s : 0;
      const auto& toks = fed[s].empty() ? prompts[s] : std::vector<int32_t>{fed[s].back()};
      const int start = fed[s].empty() ? 0 : static_cast<int>(prompts[s].size() + fed[s].size() - 1);
      for (size_t i = 0; i < toks.size(); ++i) {
        b.add(toks[i], start + static_cast<int>(i), slot, i + 1 == toks.size());
        b.lora.push_back(stacks[s]);
      }
    }
    std::vector<float> logits(seqs.size() * V);
    forward(m, cache, b, logits.data(), fo);
    for (size_t i = 0; i < seqs.size(); ++i) {
      const float* row = logits.data() + i * V;
      out[seqs[i]].insert(out[seqs[i]].end(), row, row + V);
      fed[seqs[i]].push_back(argmax_token(m, row));
    }
  };
  std::vector<std::vector<int32_t>> fed(S);
  if (together) {
    KvCache cache(m.config, S, 64, DType::kF32);
    std::vector<int> all;
    for (int s = 0; s < S; ++s) all.push_back(s);
    for (int k = 0; k <= kSteps; ++k) step(cache, all, fed);
  } else {
    for (int s = 0; s < S; ++s) {
      KvCache cache(m.config, 1, 64, DType::kF32);
      for (int k = 0; k <= kSteps; ++k) step(cache, {s}, fed);
    }
  }
  return out;
}

TEST(Lora, MixedAdaptersInOneBatchEqualEachAlone) {
  for (const char* dtype : {"f32", "q8_0"}) {
    LoadOptions lo;
    if (std::string(dtype) == "q8_0") lo.dtype = DType::kQ8_0;
    auto model = load_model(test::testdata_dir() + "/model/models/small-f32", lo);
    auto all = load_lora_adapter(adapter("small-all"), model->config);
    auto qv = load_lora_adapter(adapter("small-qv"), model->config);
    auto od = load_lora_adapter(adapter("small-od"), model->config);
    auto mlp = load_lora_adapter(adapter("small-mlp"), model->config);
    // modules_to_save: embed_tokens and lm_head replaced (per-row embedding and head in the batch)
    auto save = load_lora_adapter(adapter("small-save"), model->config);
    LoraStack s1, s2, s3, s4;
    s1.add(all, 1.0f);
    s2.add(qv, 1.0f);
    s3.add(od, 1.0f);
    s3.add(mlp, 0.7f);
    s4.add(qv, 0.5f);
    s4.add(save, 1.0f);
    // two sequences share s1 (a group of several rows), one runs the base model
    std::vector<const LoraStack*> stacks = {&s1, &s2, nullptr, &s3, &s1, &s4};
    std::vector<std::vector<int32_t>> prompts;
    for (int s = 0; s < 6; ++s) prompts.push_back(some_ids(5 + 3 * s, s + 1));
    for (int threads : {1, 2}) {
      ThreadPool pool(threads);
      auto alone = run(*model, prompts, stacks, false, &pool);
      auto together = run(*model, prompts, stacks, true, &pool);
      for (size_t s = 0; s < prompts.size(); ++s) {
        ASSERT_EQ(alone[s].size(), together[s].size());
        EXPECT_EQ(0, std::memcmp(alone[s].data(), together[s].data(), alone[s].size() * sizeof(float)))
            << dtype << ", " << threads << " threads: sequence " << s << " differs in a mixed batch";
      }
      // and the adapters matter: the same prompt under another stack gives other logits
      std::vector<const LoraStack*> base(stacks.size(), nullptr);
      auto plain = run(*model, prompts, base, true, &pool);
      EXPECT_NE(0, std::memcmp(plain[0].data(), together[0].data(), plain[0].size() * sizeof(float)));
      EXPECT_EQ(0, std::memcmp(plain[2].data(), together[2].data(), plain[2].size() * sizeof(float)));
      EXPECT_NE(0, std::memcmp(plain[5].data(), together[5].data(), plain[5].size() * sizeof(float)));
    }
  }
}

TEST(Lora, ModelDefaultStackAndPerTokenOverride) {
  auto model = load_model(test::testdata_dir() + "/model/models/small-f32");
  auto all = load_lora_adapter(adapter("small-all"), model->config);
  LoraStack s1;
  s1.add(all, 1.0f);
  ThreadPool pool(2);
  auto prompts = std::vector<std::vector<int32_t>>{some_ids(7, 3)};
  auto explicit_stack = run(*model, prompts, {&s1}, true, &pool);
  auto stack = std::make_shared<LoraStack>(s1);
  model->lora = stack;
  ForwardOptions fo;
  fo.pool = &pool;
  auto r = generate_greedy(*model, prompts[0], 1, fo, true);  // Model::lora applies to every token
  EXPECT_EQ(0, std::memcmp(r.prompt_logits.data(), explicit_stack[0].data(), r.prompt_logits.size() * 4));
}

TEST(Lora, ParseSpec) {
  LoraSpec s = parse_lora_spec("/a/b");
  EXPECT_EQ(s.path, "/a/b");
  EXPECT_EQ(s.scale, 1.0f);
  EXPECT_TRUE(s.name.empty());
  s = parse_lora_spec("/a/b:0.25");
  EXPECT_EQ(s.path, "/a/b");
  EXPECT_EQ(s.scale, 0.25f);
  s = parse_lora_spec("sql=/a/b:-2");
  EXPECT_EQ(s.name, "sql");
  EXPECT_EQ(s.path, "/a/b");
  EXPECT_EQ(s.scale, -2.0f);
  s = parse_lora_spec("/x=y/b");  // '=' inside a path is not a name
  EXPECT_TRUE(s.name.empty());
  EXPECT_EQ(s.path, "/x=y/b");
  s = parse_lora_spec("C:x");  // not a number after ':': part of the path
  EXPECT_EQ(s.path, "C:x");
  EXPECT_THROW(parse_lora_spec("=/a"), Error);
  EXPECT_THROW(parse_lora_spec(":1"), Error);
  EXPECT_THROW(parse_lora_spec("/a:inf"), Error);
}

TEST(Lora, AdapterShapesAndScales) {
  auto model = load_model(test::testdata_dir() + "/model/models/small-f32");
  auto qv = load_lora_adapter(adapter("small-qv"), model->config);
  // q/v only; v has rank 4 from rank_pattern; rsLoRA: q 32/sqrt(8), v 16/sqrt(4)
  for (int il = 0; il < model->config.num_hidden_layers; ++il) {
    ASSERT_NE(qv->find(il, kLoraQ), nullptr);
    ASSERT_NE(qv->find(il, kLoraV), nullptr);
    EXPECT_EQ(qv->find(il, kLoraK), nullptr);
    EXPECT_EQ(qv->find(il, kLoraDown), nullptr);
    EXPECT_EQ(qv->find(il, kLoraQ)->rank, 8);
    EXPECT_EQ(qv->find(il, kLoraV)->rank, 4);
    EXPECT_FLOAT_EQ(qv->find(il, kLoraQ)->scale, 32.0f / std::sqrt(8.0f));
    EXPECT_FLOAT_EQ(qv->find(il, kLoraV)->scale, 8.0f);
  }
  auto od = load_lora_adapter(adapter("small-od"), model->config);  // layers_to_transform 0, 2, 4
  EXPECT_NE(od->find(2, kLoraO), nullptr);
  EXPECT_EQ(od->find(1, kLoraO), nullptr);
  EXPECT_EQ(od->n_matrices, 6);
}

}  // namespace
}  // namespace qwen3
