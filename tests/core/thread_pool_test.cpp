// ThreadPool: every chunk runs exactly once per run, whatever the thread count and however late workers join
// (many short runs back to back, as a decode step issues them); parallel_for covers each index once.
#include <gtest/gtest.h>

#include <atomic>
#include <vector>

#include "core/thread_pool.h"

namespace qwen3 {
namespace {

TEST(ThreadPool, EveryChunkOnceInManyShortRuns) {
  for (int threads : {1, 2, 3, 5}) {
    ThreadPool pool(threads);
    std::vector<std::atomic<int>> hits(64);
    for (int run = 0; run < 20000; ++run) {
      const int64_t n = 1 + run % 64;
      pool.run(n, [&](int64_t c) { hits[c].fetch_add(1, std::memory_order_relaxed); });
      for (int64_t c = 0; c < n; ++c) ASSERT_EQ(hits[c].exchange(0), 1) << threads << " threads, run " << run;
    }
  }
}

TEST(ThreadPool, TaskFormRunsEveryIndexOnce) {
  ThreadPool pool(3);
  std::vector<std::atomic<int>> seen(3);
  for (int run = 0; run < 1000; ++run) {
    pool.run([&](int i, int n) {
      EXPECT_EQ(n, 3);
      seen[i].fetch_add(1);
    });
  }
  for (auto& s : seen) EXPECT_EQ(s.load(), 1000);
}

TEST(ThreadPool, ParallelForCoversEachIndexOnce) {
  ThreadPool pool(2);
  for (int64_t n : {0, 1, 2, 7, 8, 9, 1000}) {
    std::vector<int> hits(static_cast<size_t>(n));
    parallel_for(&pool, n, [&](int64_t b, int64_t e) {
      for (int64_t i = b; i < e; ++i) ++hits[i];
    });
    for (int h : hits) EXPECT_EQ(h, 1) << n;
  }
}

}  // namespace
}  // namespace qwen3
