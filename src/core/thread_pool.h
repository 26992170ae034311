// A fixed pool of worker threads created once. run() hands the same task to every thread and returns when all
// have finished; workers spin briefly before sleeping so that the many short parallel sections of a decode
// step (a few microseconds each) do not pay a futex round trip each.
#pragma once

#include <atomic>
#include <cstdint>
#include <functional>
#include <thread>
#include <vector>

namespace qwen3 {

class ThreadPool {
 public:
  explicit ThreadPool(int n_threads);
  ~ThreadPool();
  ThreadPool(const ThreadPool&) = delete;
  ThreadPool& operator=(const ThreadPool&) = delete;

  int size() const { return n_threads_; }

  // Calls task(thread_index, n_threads) on every thread, the caller being thread 0. Not re-entrant.
  void run(const std::function<void(int, int)>& task);

 private:
  void worker_loop(int index);

  int n_threads_;
  std::vector<std::thread> workers_;
  const std::function<void(int, int)>* task_ = nullptr;
  std::atomic<uint64_t> epoch_{0};
  std::atomic<int> pending_{0};
  std::atomic<bool> stop_{false};
};

// The number of physical cores (logical CPUs sharing a core count once), at least 1.
int physical_core_count();

// Static split of [0, n) among threads: thread `index` of `count` gets [begin, end). Static so that which
// thread computes what never changes the arithmetic.
inline void split_range(int64_t n, int index, int count, int64_t* begin, int64_t* end) {
  int64_t chunk = n / count, extra = n % count;
  *begin = index * chunk + (index < extra ? index : extra);
  *end = *begin + chunk + (index < extra ? 1 : 0);
}

// Runs body(begin, end) over [0, n) split statically across the pool (serially when pool is null or n small).
void parallel_for(ThreadPool* pool, int64_t n, const std::function<void(int64_t, int64_t)>& body);

}  // namespace qwen3
