// Batching invariants of the forward pass: a prompt as one batch equals the same tokens fed one by one;
// several sequences in one batch equal each run alone; a sharded model equals the single-file one.
#include <gtest/gtest.h>

#include <cmath>
#include <cstring>

#include "model/forward.h"
#include "reference_data.h"

namespace qwen3 {
namespace {

using test::synth_model;

double max_abs(const std::vector<float>& v) {
  double m = 0;
  for (float x : v) m = std::max(m, static_cast<double>(std::abs(x)));
  return m;
}

double max_abs_diff(const float* a, const float* b, size_t n) {
  double m = 0;
  for (size_t i = 0; i < n; ++i) m = std::max(m, static_cast<double>(std::abs(a[i] - b[i])));
  return m;
}

std::vector<int32_t> some_ids(int n, int salt) {
  std::vector<int32_t> ids;
  for (int i = 0; i < n; ++i) ids.push_back((i * 7919 + salt * 104729) % 151643);
  return ids;
}

// Logits at every position, computed with the whole prompt in one batch or token by token.
TEST(Batching, PrefillAsBatchEqualsOneByOne) {
  for (const char* name : {"tiny-f32", "small-bf16"}) {
    auto model = load_model(synth_model(name));
    const int V = model->config.vocab_size, n = 37;
    auto ids = some_ids(n, 1);
    ThreadPool pool(2);
    ForwardOptions fo;
    fo.pool = &pool;
    fo.max_chunk = 16;  // also crosses chunk boundaries
    KvCache c1(model->config, 1, n), c2(model->config, 1, n);
    Batch all;
    for (int i = 0; i < n; ++i) all.add(ids[i], i, 0, true);
    std::vector<float> batched(static_cast<size_t>(n) * V), single(static_cast<size_t>(n) * V);
    forward(*model, c1, all, batched.data(), fo);
    for (int i = 0; i < n; ++i) {
      Batch one;
      one.add(ids[i], i, 0, true);
      forward(*model, c2, one, single.data() + static_cast<size_t>(i) * V, fo);
    }
    double scale = max_abs(single);
    EXPECT_LE(max_abs_diff(batched.data(), single.data(), batched.size()), 1e-5 * scale) << name;
  }
}

// Two sequences at different positions in one batch (as a continuous-batching server would run them).
TEST(Batching, InterleavedSequencesEqualSoloRuns) {
  auto model = load_model(synth_model("small-f32"));
  const int V = model->config.vocab_size;
  auto a = some_ids(20, 2), b = some_ids(9, 3);
  ThreadPool pool(2);
  ForwardOptions fo;
  fo.pool = &pool;
  auto solo = [&](const std::vector<int32_t>& ids) {
    KvCache c(model->config, 1, 32);
    Batch batch;
    for (size_t i = 0; i < ids.size(); ++i) batch.add(ids[i], static_cast<int32_t>(i), 0, true);
    std::vector<float> out(ids.size() * V);
    forward(*model, c, batch, out.data(), fo);
    return out;
  };
  auto la = solo(a), lb = solo(b);
  // Slot 1 holds a, slot 0 holds b; a's first 11 tokens go first, then the rest of a interleaved with all of
  // b.
  KvCache c(model->config, 2, 32);
  Batch first, mixed;
  for (int i = 0; i < 11; ++i) first.add(a[i], i, 1, true);
  std::vector<float> out1(11 * V);
  forward(*model, c, first, out1.data(), fo);
  std::vector<std::pair<int, int>> order;  // (which, index)
  for (int i = 11, j = 0; i < 20 || j < 9;) {
    if (j < 9) order.push_back({1, j++});
    if (i < 20) order.push_back({0, i++});
  }
  for (auto [which, i] : order) mixed.add(which == 0 ? a[i] : b[i], i, which == 0 ? 1 : 0, true);
  std::vector<float> out2(order.size() * V);
  forward(*model, c, mixed, out2.data(), fo);
  double scale = max_abs(la);
  EXPECT_LE(max_abs_diff(out1.data(), la.data(), 11 * V), 1e-5 * scale);
  for (size_t k = 0; k < order.size(); ++k) {
    auto [which, i] = order[k];
    const float* want = (which == 0 ? la.data() : lb.data()) + static_cast<size_t>(i) * V;
    EXPECT_LE(max_abs_diff(out2.data() + k * V, want, V), 1e-5 * scale) << "token " << k;
  }
}

TEST(Batching, ShardedModelEqualsSingleFile) {
  for (auto [single_name, sharded_name] :
       {std::pair{"tiny-f32", "tiny-f32-sharded"}, std::pair{"small-bf16", "small-bf16-sharded"}}) {
    auto single = load_model(synth_model(single_name));
    auto sharded = load_model(synth_model(sharded_name));
    auto ids = some_ids(12, 4);
    ForwardOptions fo;
    auto r1 = generate_greedy(*single, ids, 4, fo, true);
    auto r2 = generate_greedy(*sharded, ids, 4, fo, true);
    EXPECT_EQ(r1.prompt_logits, r2.prompt_logits) << sharded_name;
    EXPECT_EQ(r1.tokens, r2.tokens);
  }
}

// The thread count must not change a single bit of the result (static split, fixed reduction order).
TEST(Batching, ThreadCountDoesNotChangeLogits) {
  auto model = load_model(synth_model("small-f32"));
  auto ids = some_ids(25, 5);
  ForwardOptions one, three;
  ThreadPool pool(3);
  three.pool = &pool;
  EXPECT_EQ(generate_greedy(*model, ids, 3, one, true).prompt_logits,
            generate_greedy(*model, ids, 3, three, true).prompt_logits);
}

// Logits of `ids` prefilled in chunks of `chunk` tokens (0 = one batch; 1 = token by token), every position.
std::vector<float> prefill_logits(const Model& m, const std::vector<int32_t>& ids, int chunk, DType kv,
                                  ThreadPool* pool, bool traced = false) {
  const size_t V = static_cast<size_t>(m.config.vocab_size);
  KvCache cache(m.config, 1, static_cast<int>(ids.size()), kv);
  ForwardOptions fo;
  fo.pool = pool;
  if (traced) fo.trace = [](const char*, int, const float*, int64_t, int64_t) {};
  std::vector<float> out(ids.size() * V);
  const size_t step = chunk > 0 ? static_cast<size_t>(chunk) : ids.size();
  for (size_t b0 = 0; b0 < ids.size(); b0 += step) {
    Batch b;
    for (size_t i = b0; i < std::min(ids.size(), b0 + step); ++i)
      b.add(ids[i], static_cast<int32_t>(i), 0, true);
    forward(m, cache, b, out.data() + b0 * V, fo);
  }
  return out;
}

// With every cache dtype, a token's logits are the same bits whether the prompt runs as one batch, in chunks
// or token by token, and whatever the thread count (attention is batch invariant; tests/attention/ checks the
// kernel itself).
TEST(Batching, PromptChunkingAndThreadsDoNotChangeABit) {
  auto model = load_model(synth_model("small-bf16"));
  auto ids = some_ids(70, 6);  // crosses the attention tile (32) twice
  ThreadPool pool(2), pool3(3);
  for (DType kv : {DType::kF32, DType::kF16, DType::kBF16}) {
    auto whole = prefill_logits(*model, ids, 0, kv, &pool);
    EXPECT_EQ(whole, prefill_logits(*model, ids, 1, kv, &pool)) << dtype_name(kv) << " token by token";
    EXPECT_EQ(whole, prefill_logits(*model, ids, 7, kv, &pool3))
        << dtype_name(kv) << " chunks of 7, 3 threads";
    EXPECT_EQ(whole, prefill_logits(*model, ids, 0, kv, nullptr)) << dtype_name(kv) << " one thread";
  }
}

// Where the matrices read int8 activations (q8_0/q4_0 weights), the norms and attention write that form
// directly (forward.cpp); a trace turns that off (it needs the f32 rows), so a traced run quantises the f32
// rows inside each matmul instead: the same bits. The 0.6B shape (head_dim 128) takes both producers, the
// small one (head_dim 48) the norms only.
TEST(Batching, Int8InputsWrittenByTheirProducersChangeNoBit) {
  ThreadPool pool(2);
  for (const char* name : {"small-bf16", "qwen3-0.6b-bf16"})
    for (DType wt : {DType::kQ8_0, DType::kQ4_0}) {
      LoadOptions lo;
      lo.dtype = wt;
      auto model = load_model(synth_model(name), lo);
      auto ids = some_ids(40, 7);
      for (DType kv : {DType::kF32, DType::kBF16})
        EXPECT_EQ(prefill_logits(*model, ids, 0, kv, &pool, true), prefill_logits(*model, ids, 0, kv, &pool))
            << name << " " << dtype_name(wt) << " weights, " << dtype_name(kv) << " cache";
    }
}

// A server's decode step: one token from each of 16 sequences at different depths, in one batch, must give
// each sequence the same bits as decoding it alone.
TEST(Batching, DecodeBatchOf16EqualsEachAlone) {
  auto model = load_model(synth_model("small-f32"));
  const size_t V = static_cast<size_t>(model->config.vocab_size);
  ThreadPool pool(2);
  ForwardOptions fo;
  fo.pool = &pool;
  for (DType kv : {DType::kF32, DType::kF16, DType::kBF16}) {
    const int n_seq = 16;
    KvCache batched(model->config, n_seq, 80, kv);
    std::vector<std::vector<int32_t>> prompts;
    for (int s = 0; s < n_seq; ++s) prompts.push_back(some_ids(3 + 4 * s, 10 + s));
    // Prefill every sequence in its slot, then one decode step of all 16 together.
    Batch pre, step;
    for (int s = 0; s < n_seq; ++s)
      for (size_t i = 0; i < prompts[s].size(); ++i)
        pre.add(prompts[s][i], static_cast<int32_t>(i), s, false);
    forward(*model, batched, pre, nullptr, fo);
    for (int s = 0; s < n_seq; ++s) step.add(100 + s, static_cast<int32_t>(prompts[s].size()), s, true);
    std::vector<float> together(n_seq * V);
    forward(*model, batched, step, together.data(), fo);
    for (int s = 0; s < n_seq; ++s) {
      KvCache alone(model->config, 1, 80, kv);
      Batch p1, d1;
      for (size_t i = 0; i < prompts[s].size(); ++i) p1.add(prompts[s][i], static_cast<int32_t>(i), 0, false);
      forward(*model, alone, p1, nullptr, fo);
      d1.add(100 + s, static_cast<int32_t>(prompts[s].size()), 0, true);
      std::vector<float> solo(V);
      forward(*model, alone, d1, solo.data(), fo);
      EXPECT_EQ(0, std::memcmp(solo.data(), together.data() + s * V, V * sizeof(float)))
          << dtype_name(kv) << " sequence " << s;
    }
  }
}

}  // namespace
}  // namespace qwen3
