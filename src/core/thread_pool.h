// A fixed pool of worker threads created once. run() splits a job into chunks that the caller and the
// workers claim from a shared counter; the caller returns when every chunk is done. Workers spin briefly
// before sleeping so that the many short parallel sections of a decode step (a few microseconds each) do not
// pay a futex round trip each.
//
// A worker that is not running when the job starts (descheduled on a busy machine) simply misses it: the
// caller does its chunks, closes the job and waits only for workers that actually joined. So a barrier never
// waits for a scheduler time slice, and an oversubscribed machine degrades to fewer threads instead of
// stalling (measured with bench/core/thread_pool_bench.cpp). Which thread computes a chunk never changes the
// arithmetic: callers give each chunk its own outputs.
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

  // Calls chunk(c) once for every c in [0, n_chunks), on the caller and whichever workers join; returns when
  // all are done. Not re-entrant.
  void run(int64_t n_chunks, const std::function<void(int64_t)>& chunk);
  // Calls task(i, size()) once for every i in [0, size()) (on any threads: not necessarily concurrently).
  void run(const std::function<void(int, int)>& task);

 private:
  void worker_loop();
  void claim_chunks();

  int n_threads_;
  std::vector<std::thread> workers_;
  // The current job, published by closed_ = false (seq_cst) and valid while a worker is counted in active_.
  const std::function<void(int64_t)>* job_ = nullptr;
  int64_t n_chunks_ = 0;
  std::atomic<int64_t> next_{0};    // next chunk to claim
  std::atomic<bool> closed_{true};  // the caller has finished claiming: late workers must not join
  std::atomic<int> active_{0};      // workers inside the current job
  std::atomic<uint64_t> epoch_{0};  // bumped to wake the workers for a job
  std::atomic<bool> stop_{false};
};

// One spin-wait step: a pause instruction where the CPU has one (a waiting loop gives its core's resources to
// the sibling thread and leaves the loop without a memory-order mis-speculation).
inline void spin_pause() {
#if defined(__x86_64__)
  __builtin_ia32_pause();
#endif
}

// The number of physical cores (logical CPUs sharing a core count once), at least 1.
int physical_core_count();

// Static split of [0, n) among threads: thread `index` of `count` gets [begin, end). Static so that which
// thread computes what never changes the arithmetic.
inline void split_range(int64_t n, int index, int count, int64_t* begin, int64_t* end) {
  int64_t chunk = n / count, extra = n % count;
  *begin = index * chunk + (index < extra ? index : extra);
  *end = *begin + chunk + (index < extra ? 1 : 0);
}

// Runs body(begin, end) over [0, n) in contiguous chunks, chunks_per_thread per thread, across the pool
// (serially when pool is null or n is 1); each index is in exactly one chunk. A few chunks per thread keep
// a thread that joins late or runs slowly from holding up the rest; one each suits work that streams
// memory, where every chunk boundary restarts the stream.
void parallel_for(ThreadPool* pool, int64_t n, const std::function<void(int64_t, int64_t)>& body,
                  int chunks_per_thread = 4);

}  // namespace qwen3
