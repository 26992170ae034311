// Decode attention of one token over a history of `len` positions for one KV head (GQA group 2, head_dim 128:
// Qwen3-0.6B's shape), per ISA and cache dtype, the history cold as in a decode step. Reports the bytes of K
// and V read per second: decode attention should run at memory bandwidth.
#include <benchmark/benchmark.h>

#include <random>
#include <vector>

#include "kernels/attention.h"

namespace {

using namespace qwen3;
using namespace qwen3::kernels;

void BM_DecodeAttention(benchmark::State& state, Isa isa, DType t) {
  if (!isa_supported(isa)) {
    state.SkipWithError("ISA not available");
    return;
  }
  const int d = 128, group = 2, len = static_cast<int>(state.range(0));
  const size_t rb = kv_row_bytes(t, d);
  // As in a decode step, the history comes from memory, not from a cache the previous call warmed: copies
  // of it filling 64 MB (twice the L3), one per call in turn.
  const int copies = static_cast<int>(64e6 / (2.0 * static_cast<double>(rb) * len)) + 1;
  std::vector<std::vector<uint8_t>> k(copies, std::vector<uint8_t>(rb * kv_history_rows(len))), v = k;
  std::mt19937 rng(1);
  std::normal_distribution<float> nd;
  std::vector<float> row(d), q(group * d), out(group * d);
  for (int c = 0; c < copies; ++c)
    for (int j = 0; j < len; ++j) {
      for (auto& x : row) x = nd(rng);
      kv_store_key(t, row.data(), d, k[c].data(), j);
      kv_store_value(t, row.data(), d, v[c].data(), j);
    }
  for (auto& x : q) x = nd(rng);
  std::vector<float> scratch(attention_scratch_floats(1, group, d));
  int32_t pos = len - 1;
  AttentionArgs a;
  a.kv_type = t;
  a.head_dim = d;
  a.scale = 0.088f;
  a.n_tok = 1;
  a.group = group;
  a.q = q.data();
  a.ldq = group * d;
  a.pos = &pos;
  a.out = out.data();
  a.ldo = group * d;
  a.scratch = scratch.data();
  const auto& table = attention_table_for(isa);
  int c = 0;
  for (auto _ : state) {
    a.keys = k[c].data();
    a.values = v[c].data();
    c = c + 1 == copies ? 0 : c + 1;
    table.attend(a);
    benchmark::DoNotOptimize(out.data());
  }
  state.SetBytesProcessed(static_cast<int64_t>(state.iterations()) * 2 * static_cast<int64_t>(rb) * len);
}

// Prompt attention: a block of 32 tokens (positions len-32 .. len-1) with their GQA group of 2, the unit of
// work the forward pass hands out (kAttnBlock in forward.cpp). Counter: GFLOP/s of q.k and p.v (4 flops per
// query, position, lane).
void BM_PromptAttention(benchmark::State& state, Isa isa, DType t) {
  if (!isa_supported(isa)) {
    state.SkipWithError("ISA not available");
    return;
  }
  const int d = 128, group = 2, n_tok = 32, len = static_cast<int>(state.range(0));
  const size_t rb = kv_row_bytes(t, d);
  std::vector<uint8_t> k(rb * kv_history_rows(len)), v(rb * kv_history_rows(len));
  std::mt19937 rng(2);
  std::normal_distribution<float> nd;
  std::vector<float> row(d), q(static_cast<size_t>(n_tok) * group * d), out(q.size());
  for (int j = 0; j < len; ++j) {
    for (auto& x : row) x = nd(rng);
    kv_store_key(t, row.data(), d, k.data(), j);
    kv_store_value(t, row.data(), d, v.data(), j);
  }
  for (auto& x : q) x = nd(rng);
  std::vector<float> scratch(attention_scratch_floats(n_tok, group, d));
  std::vector<int32_t> pos(n_tok);
  double flops = 0;
  for (int i = 0; i < n_tok; ++i) {
    pos[i] = len - n_tok + i;
    flops += 4.0 * group * d * (pos[i] + 1);
  }
  AttentionArgs a;
  a.kv_type = t;
  a.head_dim = d;
  a.scale = 0.088f;
  a.keys = k.data();
  a.values = v.data();
  a.n_tok = n_tok;
  a.group = group;
  a.q = q.data();
  a.ldq = group * d;
  a.pos = pos.data();
  a.out = out.data();
  a.ldo = group * d;
  a.scratch = scratch.data();
  const auto& table = attention_table_for(isa);
  for (auto _ : state) {
    table.attend(a);
    benchmark::DoNotOptimize(out.data());
  }
  state.counters["GFLOPS"] = benchmark::Counter(flops * 1e-9, benchmark::Counter::kIsIterationInvariantRate);
}
BENCHMARK_CAPTURE(BM_PromptAttention, avx512_f16, Isa::kAvx512, DType::kF16)->Arg(256)->Arg(4096);
BENCHMARK_CAPTURE(BM_PromptAttention, avx512_bf16, Isa::kAvx512, DType::kBF16)->Arg(256)->Arg(4096);
BENCHMARK_CAPTURE(BM_PromptAttention, avx512_q8_0, Isa::kAvx512, DType::kQ8_0)->Arg(4096);
BENCHMARK_CAPTURE(BM_PromptAttention, avx2_f16, Isa::kAvx2, DType::kF16)->Arg(4096);
BENCHMARK_CAPTURE(BM_PromptAttention, avx2_bf16, Isa::kAvx2, DType::kBF16)->Arg(4096);

#define QWEN3_ATTN_BENCH(isa, t, name) \
  BENCHMARK_CAPTURE(BM_DecodeAttention, name, Isa::isa, DType::t)->Arg(64)->Arg(512)->Arg(4096);

QWEN3_ATTN_BENCH(kScalar, kF16, scalar_f16)
QWEN3_ATTN_BENCH(kAvx2, kF16, avx2_f16)
QWEN3_ATTN_BENCH(kAvx2, kBF16, avx2_bf16)
QWEN3_ATTN_BENCH(kAvx512, kF32, avx512_f32)
QWEN3_ATTN_BENCH(kAvx512, kF16, avx512_f16)
QWEN3_ATTN_BENCH(kAvx512, kBF16, avx512_bf16)
QWEN3_ATTN_BENCH(kAvx512, kQ8_0, avx512_q8_0)
QWEN3_ATTN_BENCH(kAvx2, kQ8_0, avx2_q8_0)

}  // namespace
