#include "core/thread_pool.h"

#include <algorithm>
#include <fstream>
#include <set>
#include <string>
#include <utility>

namespace qwen3 {

// Spin iterations before a worker sleeps (~tens of microseconds): long enough to bridge the gap between the
// parallel sections of one forward pass, short enough not to burn a core while the engine is idle.
static constexpr int kSpinIterations = 1 << 14;

ThreadPool::ThreadPool(int n_threads) : n_threads_(n_threads < 1 ? 1 : n_threads) {
  for (int i = 1; i < n_threads_; ++i) workers_.emplace_back([this] { worker_loop(); });
}

ThreadPool::~ThreadPool() {
  stop_ = true;
  epoch_.fetch_add(1);
  epoch_.notify_all();
  for (auto& t : workers_) t.join();
}

void ThreadPool::claim_chunks() {
  for (int64_t c; (c = next_.fetch_add(1, std::memory_order_relaxed)) < n_chunks_;) (*job_)(c);
}

void ThreadPool::run(int64_t n_chunks, const std::function<void(int64_t)>& chunk) {
  if (n_chunks <= 0) return;
  if (n_threads_ == 1 || n_chunks == 1) {
    for (int64_t c = 0; c < n_chunks; ++c) chunk(c);
    return;
  }
  // No worker is active here (the previous run waited for them), so the job can be written plainly.
  job_ = &chunk;
  n_chunks_ = n_chunks;
  next_.store(0, std::memory_order_relaxed);
  closed_.store(false, std::memory_order_seq_cst);  // publishes the job
  epoch_.fetch_add(1, std::memory_order_release);
  epoch_.notify_all();
  claim_chunks();
  // Close the job, then wait for the workers that joined it. Spin first (they usually finish together),
  // then sleep, so that a descheduled worker can have this core.
  closed_.store(true, std::memory_order_seq_cst);
  int spins = 0, left;
  while ((left = active_.load(std::memory_order_seq_cst)) != 0) {
    if (++spins < kSpinIterations)
      spin_pause();
    else
      active_.wait(left, std::memory_order_seq_cst);
  }
}

void ThreadPool::run(const std::function<void(int, int)>& task) {
  const int n = n_threads_;
  run(n, [&](int64_t i) { task(static_cast<int>(i), n); });
}

void ThreadPool::worker_loop() {
  // Epochs start at 0 when the pool is built; a worker that starts late must still see the first run.
  uint64_t seen = 0;
  for (;;) {
    int spins = 0;
    uint64_t now;
    while ((now = epoch_.load(std::memory_order_acquire)) == seen) {
      if (++spins < kSpinIterations) {
        spin_pause();
      } else {
        epoch_.wait(seen, std::memory_order_acquire);
      }
    }
    seen = now;
    if (stop_.load()) return;
    // Join the job only if it is still open. Counting ourselves in active_ before looking at closed_ (both
    // seq_cst) means the caller either sees us and waits, or we see the job closed and keep out of it.
    active_.fetch_add(1, std::memory_order_seq_cst);
    if (!closed_.load(std::memory_order_seq_cst)) claim_chunks();
    if (active_.fetch_sub(1, std::memory_order_seq_cst) == 1)
      active_.notify_one();  // no syscall unless asleep
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

void parallel_for(ThreadPool* pool, int64_t n, const std::function<void(int64_t, int64_t)>& body,
                  int chunks_per_thread) {
  if (n <= 0) return;
  if (!pool || pool->size() == 1 || n == 1) {
    body(0, n);
    return;
  }
  const int64_t per = std::max(1, chunks_per_thread);
  const int64_t n_chunks = std::min<int64_t>(n, per * pool->size());
  pool->run(n_chunks, [&](int64_t c) {
    int64_t begin, end;
    split_range(n, static_cast<int>(c), static_cast<int>(n_chunks), &begin, &end);
    if (begin < end) body(begin, end);
  });
}

}  // namespace qwen3
