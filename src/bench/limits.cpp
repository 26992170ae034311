#include "bench/limits.h"

#include <algorithm>
#include <atomic>
#include <cstring>
#include <thread>
#include <vector>

#include "core/file.h"
#include "core/thread_pool.h"
#include "core/timer.h"
#include "kernels/kernels.h"

namespace qwen3::bench {

namespace {

uint64_t read_scalar(const void* p, size_t bytes) {
  const uint64_t* v = static_cast<const uint64_t*>(p);
  uint64_t a0 = 0, a1 = 0, a2 = 0, a3 = 0;
  for (size_t i = 0; i < bytes / 8; i += 4) {
    a0 ^= v[i];
    a1 ^= v[i + 1];
    a2 ^= v[i + 2];
    a3 ^= v[i + 3];
  }
  return a0 ^ a1 ^ a2 ^ a3;
}

// Runs fn(index) on n fresh threads released together (the pool hands out work dynamically, so it cannot
// promise n concurrent threads; a probe needs exactly that). Returns the wall time from release to the end.
template <class Fn>
double on_threads(int n, Fn fn) {
  std::atomic<bool> go{false};
  std::vector<std::thread> threads;
  for (int i = 0; i < n; ++i)
    threads.emplace_back([&, i] {
      while (!go.load(std::memory_order_acquire)) std::this_thread::yield();
      fn(i);
    });
  double t0 = now_seconds();
  go.store(true, std::memory_order_release);
  for (auto& t : threads) t.join();
  return now_seconds() - t0;
}

// Best of `passes` timed reads of the whole buffer, split statically over n threads.
double read_bandwidth(int n, const uint8_t* buf, size_t bytes, int passes) {
  const bool avx2 = kernels::isa_supported(kernels::Isa::kAvx2);
  std::vector<uint64_t> sinks(n);
  double best = 0;
  for (int pass = 0; pass < passes; ++pass) {
    double dt = on_threads(n, [&](int index) {
      int64_t b, e;
      split_range(static_cast<int64_t>(bytes / 4096), index, n, &b, &e);
      const uint8_t* p = buf + b * 4096;
      size_t len = static_cast<size_t>(e - b) * 4096;
      sinks[index] ^= avx2 ? probes::read_avx2(p, len) : read_scalar(p, len);
    });
    best = std::max(best, static_cast<double>(bytes) / dt / 1e9);
  }
  volatile uint64_t sink = 0;
  for (uint64_t s : sinks) sink = sink ^ s;
  return best;
}

}  // namespace

double read_ranges_gbs(int n_threads, const std::vector<ByteRange>& ranges, int passes) {
  const int n = n_threads < 1 ? 1 : n_threads;
  const bool avx2 = kernels::isa_supported(kernels::Isa::kAvx2);
  size_t total = 0;
  for (const ByteRange& r : ranges) total += r.bytes;
  std::vector<uint64_t> sinks(n);
  double best = 0;
  for (int pass = 0; pass < passes; ++pass) {
    double dt = on_threads(n, [&](int index) {
      for (const ByteRange& r : ranges) {
        // This thread's share of the range in whole 128-byte steps from a 64-byte boundary (the probe's
        // unit); the few bytes left at the edges are not worth a second loop.
        const uintptr_t start = (reinterpret_cast<uintptr_t>(r.data) + 63) & ~uintptr_t{63};
        const uintptr_t end = reinterpret_cast<uintptr_t>(r.data) + r.bytes;
        if (end <= start + 128) continue;
        int64_t b, e;
        split_range(static_cast<int64_t>((end - start) / 128), index, n, &b, &e);
        const uint8_t* p = reinterpret_cast<const uint8_t*>(start) + b * 128;
        const size_t len = static_cast<size_t>(e - b) * 128;
        sinks[index] ^= avx2 ? probes::read_avx2(p, len) : read_scalar(p, len);
      }
    });
    best = std::max(best, static_cast<double>(total) / dt / 1e9);
  }
  volatile uint64_t sink = 0;
  for (uint64_t s : sinks) sink = sink ^ s;
  return best;
}

namespace {

// Sum over n concurrent threads of a per-thread probe's ops/s; best of 3.
double peak(int n, double (*probe)(long), long iters) {
  double best = 0;
  for (int rep = 0; rep < 3; ++rep) {
    std::vector<double> rate(n);
    on_threads(n, [&](int index) { rate[index] = probe(iters); });
    double sum = 0;
    for (double r : rate) sum += r;
    best = std::max(best, sum);
  }
  return best;
}

}  // namespace

Limits measure_limits(int n_threads, size_t buffer_mib) {
  Limits l;
  l.n_threads = n_threads < 1 ? 1 : n_threads;
  const int n = l.n_threads;
  const size_t bytes = buffer_mib << 20;
  AlignedPtr<uint8_t> buf = aligned_array<uint8_t>(bytes);
  std::memset(buf.get(), 1, bytes);  // commit every page before timing
  l.read_gbs_1t = read_bandwidth(1, buf.get(), bytes, 5);
  l.read_gbs = read_bandwidth(n, buf.get(), bytes, 5);
  buf.reset();
  using kernels::Isa;
  if (kernels::isa_supported(Isa::kAvx512)) {
    l.f32_isa = "avx512";
    l.f32_gflops = peak(n, probes::f32_fma_avx512, 20'000'000) / 1e9;
    l.bf16_gflops = peak(n, probes::bf16_dot_avx512, 20'000'000) / 1e9;
    l.int8_gops = peak(n, probes::int8_dot_avx512, 20'000'000) / 1e9;
  } else if (kernels::isa_supported(Isa::kAvx2)) {
    l.f32_isa = "avx2";
    l.f32_gflops = peak(n, probes::f32_fma_avx2, 20'000'000) / 1e9;
    l.int8_gops = peak(n, probes::int8_dot_avx2, 20'000'000) / 1e9;
  } else {
    l.f32_isa = "scalar";
  }
  return l;
}

}  // namespace qwen3::bench
