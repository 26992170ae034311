// Matmul micro-benchmarks at the Qwen3-0.6B shapes, per weight dtype and ISA: decode (n_tok = 1: every weight
// byte read once, reported as GB/s of weights) and prefill (n_tok = 512: reported as GFLOP/s, 2 per
// multiply-add). Threads: the "threads" argument (1 or 2). Run: build/bench/bench_matmul
// [--benchmark_filter=...]
#include <benchmark/benchmark.h>

#include <memory>
#include <random>
#include <vector>

#include "core/file.h"
#include "kernels/kernels.h"
#include "kernels/pack.h"

namespace qwen3::kernels {
namespace {

struct Matrix {
  Tensor w;
  AlignedPtr<uint8_t> buf;
};

Matrix make(DType t, int64_t rows, int64_t cols) {
  std::mt19937 rng(1);
  std::uniform_real_distribution<float> u(-1.0f, 1.0f);
  Matrix m;
  m.w = Tensor{t, rows, cols, nullptr, true};
  m.buf = aligned_array<uint8_t>(m.w.bytes());
  m.w.data = m.buf.get();
  const size_t row_bytes = dtype_row_bytes(t, cols);
  std::vector<uint8_t> rows16(row_bytes * kTileRows);
  std::vector<float> f(cols);
  for (int64_t i = 0; i < m.w.n_tiles(); ++i) {
    const uint8_t* ptrs[kTileRows];
    for (int r = 0; r < kTileRows; ++r) {
      for (auto& v : f) v = u(rng);
      row_from_f32(f.data(), cols, t, rows16.data() + r * row_bytes);
      ptrs[r] = rows16.data() + r * row_bytes;
    }
    pack_tile(t, ptrs, kTileRows, cols, m.buf.get() + i * dtype_tile_bytes(t, cols));
  }
  return m;
}

// args: dtype, isa, rows, cols, n_tok, threads, bf16_dot (bf16 weights: bf16 activations, vdpbf16ps)
void BM_Matmul(benchmark::State& state) {
  const DType t = static_cast<DType>(state.range(0));
  const Isa isa = static_cast<Isa>(state.range(1));
  if (!isa_supported(isa)) {
    state.SkipWithError("ISA not supported");
    return;
  }
  const int64_t rows = state.range(2), cols = state.range(3), n_tok = state.range(4);
  const int threads = static_cast<int>(state.range(5));
  const bool bf16_dot = state.range(6) != 0;
  // Decode: copies of the matrix filling 160 MB, so that it reads from memory, not from the 32 MB L3.
  std::vector<Matrix> ms;
  ms.push_back(make(t, rows, cols));
  const int copies = n_tok == 1 ? static_cast<int>(160e6 / static_cast<double>(ms[0].w.bytes())) + 1 : 1;
  for (int i = 1; i < copies; ++i) ms.push_back(make(t, rows, cols));
  for (Matrix& m : ms) m.w.bf16_dot = bf16_dot;
  std::vector<float> x(n_tok * cols, 0.5f), y(n_tok * rows);
  std::mt19937 rng(2);
  std::normal_distribution<float> g;
  for (auto& v : x) v = g(rng);
  ThreadPool pool(threads);
  const KernelTable& k = table_for(isa);
  int i = 0;
  for (auto _ : state) {
    matmul_with(k, ms[i++ % copies].w, x.data(), n_tok, y.data(), rows, &pool);
    benchmark::DoNotOptimize(y.data());
  }
  const double iters = static_cast<double>(state.iterations());
  state.counters["GB/s"] =
      benchmark::Counter(iters * static_cast<double>(ms[0].w.bytes()) * 1e-9, benchmark::Counter::kIsRate);
  state.counters["GFLOP/s"] =
      benchmark::Counter(iters * 2.0 * rows * cols * n_tok * 1e-9, benchmark::Counter::kIsRate);
  state.SetLabel(std::string(dtype_name(t)) + (bf16_dot ? " (bf16 activations) " : " ") + isa_name(isa));
}

void args(benchmark::internal::Benchmark* b) {
  b->ArgNames({"dtype", "isa", "rows", "cols", "n_tok", "threads", "bf16_dot"});
  for (DType t : {DType::kBF16, DType::kF16, DType::kF32, DType::kQ8_0, DType::kQ4_0, DType::kQ4_K,
                  DType::kQ5_K, DType::kQ6_K, DType::kF8E4M3})
    for (Isa isa : {Isa::kAvx512, Isa::kAvx2})
      for (auto [rows, cols] : {std::pair{3072, 1024}, std::pair{1024, 3072}})
        for (int n_tok : {1, 16, 512})
          for (int threads : {1, 2})
            for (int bf16_dot : {0, 1})
              if (!bf16_dot || t == DType::kBF16)
                b->Args({static_cast<int64_t>(t), static_cast<int64_t>(isa), rows, cols, n_tok, threads,
                         bf16_dot});
  b->UseRealTime();
}

BENCHMARK(BM_Matmul)->Apply(args);

// Decode of one 1024 x 1024 matrix that stays in L2: the kernel's arithmetic rate without memory, one
// thread. A decode kernel that is not several times faster here than the read bandwidth cannot reach it.
void BM_MatvecInCache(benchmark::State& state) {
  const DType t = static_cast<DType>(state.range(0));
  const Isa isa = static_cast<Isa>(state.range(1));
  if (!isa_supported(isa)) {
    state.SkipWithError("ISA not supported");
    return;
  }
  Matrix m = make(t, 1024, 1024);
  m.w.bf16_dot = t == DType::kBF16;
  std::vector<float> x(1024, 0.5f), y(1024);
  const KernelTable& k = table_for(isa);
  for (auto _ : state) {
    matmul_with(k, m.w, x.data(), 1, y.data(), 1024, nullptr);
    benchmark::DoNotOptimize(y.data());
  }
  state.counters["GB/s"] =
      benchmark::Counter(static_cast<double>(state.iterations()) * static_cast<double>(m.w.bytes()) * 1e-9,
                         benchmark::Counter::kIsRate);
  state.SetLabel(std::string(dtype_name(t)) + " " + isa_name(isa));
}

BENCHMARK(BM_MatvecInCache)
    ->ArgNames({"dtype", "isa"})
    ->ArgsProduct({{static_cast<int64_t>(DType::kBF16), static_cast<int64_t>(DType::kQ8_0),
                    static_cast<int64_t>(DType::kQ4_0)},
                   {static_cast<int64_t>(Isa::kAvx512), static_cast<int64_t>(Isa::kAvx2)}});

}  // namespace
}  // namespace qwen3::kernels

BENCHMARK_MAIN();
