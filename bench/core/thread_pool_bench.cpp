// The cost of one ThreadPool::run (a fork and a join: what each parallel section of a decode step pays), with
// empty work, and of parallel_for over a tiny range. A 0.6B decode step runs ~10 of these
// per layer, ~300 per token.
#include <benchmark/benchmark.h>

#include "core/thread_pool.h"

namespace {

void BM_PoolRunEmpty(benchmark::State& state) {
  qwen3::ThreadPool pool(static_cast<int>(state.range(0)));
  for (auto _ : state) pool.run(2, [](int64_t) {});
  state.SetLabel("per barrier");
}
BENCHMARK(BM_PoolRunEmpty)->Arg(1)->Arg(2)->UseRealTime();

void BM_ParallelForTiny(benchmark::State& state) {
  qwen3::ThreadPool pool(static_cast<int>(state.range(0)));
  std::vector<int64_t> sink(64);
  for (auto _ : state)
    qwen3::parallel_for(&pool, 64, [&](int64_t b, int64_t e) {
      for (int64_t i = b; i < e; ++i) sink[i] += i;
    });
  benchmark::DoNotOptimize(sink.data());
}
BENCHMARK(BM_ParallelForTiny)->Arg(1)->Arg(2)->UseRealTime();

}  // namespace
