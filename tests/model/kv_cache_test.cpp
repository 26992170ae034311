// The KV cache's dtypes end to end: logits with an f16, bf16 or q8_0 cache against the exact f32 cache
// (prompt logits at every position and greedy continuations), the cache's memory committed only as positions
// fill, and bad cache types rejected with a clear error. The measured closeness is printed (and recorded in
// docs/BENCHMARKS.md).
#include <gtest/gtest.h>

#include <sys/resource.h>

#include <cmath>
#include <cstdio>
#include <fstream>
#include <string>

#include "core/error.h"
#include "model/forward.h"
#include "reference_data.h"

namespace qwen3 {
namespace {

using test::synth_model;

std::vector<int32_t> ids_for(int n, int salt) {
  std::vector<int32_t> ids;
  for (int i = 0; i < n; ++i) ids.push_back((i * 7919 + salt * 104729) % 151643);
  return ids;
}

struct Closeness {
  double max_rel = 0;  // max |logit diff| / max |logit| over all positions
  double top1 = 0;     // share of positions whose argmax agrees
};

Closeness compare(const Model& m, const std::vector<int32_t>& ids, DType kv, ThreadPool* pool) {
  const size_t V = static_cast<size_t>(m.config.vocab_size), n = ids.size();
  auto run = [&](DType t) {
    KvCache cache(m.config, 1, static_cast<int>(n), t);
    Batch b;
    for (size_t i = 0; i < n; ++i) b.add(ids[i], static_cast<int32_t>(i), 0, true);
    std::vector<float> out(n * V);
    ForwardOptions fo;
    fo.pool = pool;
    forward(m, cache, b, out.data(), fo);
    return out;
  };
  auto exact = run(DType::kF32), got = run(kv);
  Closeness c;
  double max_logit = 0, max_diff = 0;
  int agree = 0;
  for (size_t t = 0; t < n; ++t) {
    const float* e = exact.data() + t * V;
    const float* g = got.data() + t * V;
    for (size_t i = 0; i < V; ++i) {
      max_logit = std::max(max_logit, static_cast<double>(std::abs(e[i])));
      max_diff = std::max(max_diff, static_cast<double>(std::abs(e[i] - g[i])));
    }
    agree += argmax_token(m, e) == argmax_token(m, g);
  }
  c.max_rel = max_diff / max_logit;
  c.top1 = static_cast<double>(agree) / static_cast<double>(n);
  return c;
}

// Bounds: a few times what was measured (docs/BENCHMARKS.md), far below what a broken cache gives (~1).
TEST(KvCacheTypes, LogitsStayCloseToTheF32Cache) {
  auto model = load_model(synth_model("small-f32"));
  ThreadPool pool(2);
  auto ids = ids_for(96, 3);
  for (auto [kv, bound] : {std::pair{DType::kF16, 2e-3}, std::pair{DType::kBF16, 2e-2}}) {
    Closeness c = compare(*model, ids, kv, &pool);
    std::printf(
        "small-f32, %s cache, 96 positions: max |dlogit| / max |logit| = %.2e, top-1 agreement %.3f\n",
        dtype_name(kv), c.max_rel, c.top1);
    EXPECT_LE(c.max_rel, bound) << dtype_name(kv);
    EXPECT_GE(c.top1, 0.9) << dtype_name(kv);
  }
}

TEST(KvCacheTypes, Qwen3_0_6bLogitsStayCloseToTheF32Cache) {
  LoadOptions exact;  // f32 activations: bf16 rounding flips would blur the cache's own error
  exact.bf16_dot = false;
  auto model = load_model(synth_model("qwen3-0.6b-bf16"), exact);
  ThreadPool pool(2);
  auto ids = ids_for(40, 4);
  for (auto [kv, bound] :
       {std::pair{DType::kF16, 5e-3}, std::pair{DType::kBF16, 3e-2}, std::pair{DType::kQ8_0, 3e-2}}) {
    Closeness c = compare(*model, ids, kv, &pool);
    std::printf("qwen3-0.6b-bf16, %s cache, 40 positions: max |dlogit| / max |logit| = %.2e, top-1 %.3f\n",
                dtype_name(kv), c.max_rel, c.top1);
    EXPECT_LE(c.max_rel, bound) << dtype_name(kv);
    EXPECT_GE(c.top1, 0.9) << dtype_name(kv);
  }
  // q8_0 is batch invariant too: the prompt in one batch and in chunks of 9 give the same bits.
  const size_t V = static_cast<size_t>(model->config.vocab_size);
  auto run = [&](size_t step) {
    KvCache cache(model->config, 1, 40, DType::kQ8_0);
    ForwardOptions fo;
    fo.pool = &pool;
    std::vector<float> out(ids.size() * V);
    for (size_t b0 = 0; b0 < ids.size(); b0 += step) {
      Batch b;
      for (size_t i = b0; i < std::min(ids.size(), b0 + step); ++i)
        b.add(ids[i], static_cast<int32_t>(i), 0, true);
      forward(*model, cache, b, out.data() + b0 * V, fo);
    }
    return out;
  };
  EXPECT_EQ(run(ids.size()), run(9));
}

long rss_kib() {
  std::ifstream in("/proc/self/status");
  std::string line;
  while (std::getline(in, line))
    if (line.rfind("VmRSS:", 0) == 0) return std::stol(line.substr(6));
  return -1;
}

// A cache for 32k positions commits (nearly) nothing until positions are written.
TEST(KvCacheTypes, MemoryIsCommittedAsPositionsFill) {
  ModelConfig c = load_model(synth_model("small-f32"))->config;
  c.num_hidden_layers = 28;
  c.num_key_value_heads = 8;
  c.head_dim = 128;
  const long before = rss_kib();
  KvCache cache(c, 1, 32768, DType::kQ8_0);
  EXPECT_GT(cache.bytes(), size_t{1} << 30);  // ~2 GB reserved
  const long reserved = rss_kib();
  EXPECT_LT(reserved - before, 1024) << "reserving the cache committed memory";
  std::vector<float> row(128, 0.5f);
  for (int pos = 0; pos < 256; ++pos)
    for (int il = 0; il < 28; ++il)
      for (int h = 0; h < 8; ++h) cache.store(il, 0, h, pos, row.data(), row.data());
  const long used = rss_kib() - before;
  const double expected_kib = 256.0 * static_cast<double>(cache.bytes_per_position()) / 1024;
  EXPECT_GE(used, expected_kib * 0.9);
  EXPECT_LE(used, expected_kib * 1.1 + 28 * 8 * 2 * 4 + 1024);  // + at most a page per head history
}

TEST(KvCacheTypes, RejectsTypesThatCannotHoldTheHeads) {
  auto model = load_model(synth_model("small-f32"));  // head_dim 48: not a multiple of q8_0's 32
  EXPECT_THROW(KvCache(model->config, 1, 8, DType::kQ8_0), Error);
  EXPECT_THROW(parse_kv_type("q4_0"), Error);
  EXPECT_THROW(parse_kv_type("f8"), Error);
  EXPECT_EQ(parse_kv_type("q8_0"), DType::kQ8_0);
}

}  // namespace
}  // namespace qwen3
