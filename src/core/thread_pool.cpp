#include "core/thread_pool.h"

#include <fstream>
#include <set>
#include <string>
#include <utility>

#if defined(__x86_64__)
#include <immintrin.h>
#define QWEN3_PAUSE() _mm_pause()
#else
#define QWEN3_PAUSE() ((void)0)
#endif

namespace qwen3 {

// Spin iterations before a worker sleeps (~tens of microseconds): long enough to bridge the gap between the
// parallel sections of one forward pass, short enough not to burn a core while the engine is idle.
static constexpr int kSpinIterations = 1 << 14;

ThreadPool::ThreadPool(int n_threads) : n_threads_(n_threads < 1 ? 1 : n_threads) {
  for (int i = 1; i < n_threads_; ++i) workers_.emplace_back([this, i] { worker_loop(i); });
}

ThreadPool::~ThreadPool() {
  stop_ = true;
  epoch_.fetch_add(1);
  epoch_.notify_all();
  for (auto& t : workers_) t.join();
}

void ThreadPool::run(const std::function<void(int, int)>& task) {
  if (n_threads_ == 1) {
    task(0, 1);
    return;
  }
  task_ = &task;
  pending_.store(n_threads_ - 1, std::memory_order_relaxed);
  epoch_.fetch_add(1, std::memory_order_release);
  epoch_.notify_all();
  task(0, n_threads_);
  // Spin first (usually every thread finishes at about the same time), then sleep: on a machine with more
  // runnable threads than cores, a spinning caller would hold the core a descheduled worker needs, and each
  // barrier would cost a scheduler time slice (measured: ~20 ms instead of microseconds; bench/core/).
  int spins = 0, left;
  while ((left = pending_.load(std::memory_order_acquire)) != 0) {
    if (++spins < kSpinIterations)
      QWEN3_PAUSE();
    else
      pending_.wait(left, std::memory_order_acquire);
  }
  task_ = nullptr;
}

void ThreadPool::worker_loop(int index) {
  // Epochs start at 0 when the pool is built; a worker that starts late must still see the first run.
  uint64_t seen = 0;
  for (;;) {
    int spins = 0;
    uint64_t now;
    while ((now = epoch_.load(std::memory_order_acquire)) == seen) {
      if (++spins < kSpinIterations) {
        QWEN3_PAUSE();
      } else {
        epoch_.wait(seen, std::memory_order_acquire);
      }
    }
    seen = now;
    if (stop_.load()) return;
    (*task_)(index, n_threads_);
    if (pending_.fetch_sub(1, std::memory_order_acq_rel) == 1)
      pending_.notify_one();  // no syscall unless asleep
  }
}

int physical_core_count() {
  std::set<std::pair<std::string, std::string>> cores;
  unsigned n_logical = std::thread::hardware_concurrency();
  for (unsigned cpu = 0; cpu < n_logical; ++cpu) {
    std::string base = "/sys/devices/system/cpu/cpu" + std::to_string(cpu) + "/topology/";
    std::ifstream pkg(base + "physical_package_id"), core(base + "core_id");
    std::string p, c;
    if (!(pkg >> p) || !(core >> c)) return n_logical > 0 ? static_cast<int>(n_logical) : 1;
    cores.emplace(p, c);
  }
  return cores.empty() ? 1 : static_cast<int>(cores.size());
}

void parallel_for(ThreadPool* pool, int64_t n, const std::function<void(int64_t, int64_t)>& body) {
  if (n <= 0) return;
  if (!pool || pool->size() == 1 || n == 1) {
    body(0, n);
    return;
  }
  pool->run([&](int index, int count) {
    int64_t begin, end;
    split_range(n, index, count, &begin, &end);
    if (begin < end) body(begin, end);
  });
}

}  // namespace qwen3
