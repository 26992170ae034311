// This machine's limits, measured: sustained memory read bandwidth (1 and N threads, a buffer much larger
// than the last-level cache) and peak arithmetic (f32 FMA, bf16 dot vdpbf16ps, int8 dot vpdpbusd, where the
// CPU has them; AVX2's int8 dot is the vpmaddubsw + vpmaddwd + vpaddd its kernels use). `qwen3 bench
// --limits` prints them; `qwen3 bench` puts its figures beside them.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

namespace qwen3::bench {

struct Limits {
  int n_threads = 1;
  double read_gbs_1t = 0;  // GB/s (1e9 bytes/s), one thread
  double read_gbs = 0;     // GB/s, n_threads
  double f32_gflops = 0;   // f32 FMA, n_threads (2 flops per lane per FMA)
  double bf16_gflops = 0;  // vdpbf16ps, n_threads; 0 when the CPU lacks it
  double int8_gops = 0;    // vpdpbusd (AVX2: vpmaddubsw + vpmaddwd + vpaddd), n_threads; 0 for scalar
  std::string f32_isa;     // "avx512", "avx2" or "scalar"
};

// Takes a few seconds. n_threads: the threads of the "N threads" figures (the benchmark's -t); buffer_mib:
// size of the bandwidth probe's buffer.
Limits measure_limits(int n_threads, size_t buffer_mib = 512);

// Read bandwidth of n_threads streaming `ranges` (each split evenly over the threads, as the matmuls of a
// decode step split their tiles), best of `passes`, in GB/s. qwen3 bench runs it over the model's own
// weights right before and after each decode repetition: bandwidth swings by 2x from second to second on
// these machines, so a decode figure is compared with a probe of the same moments and the same bytes.
struct ByteRange {
  const void* data;
  size_t bytes;
};
double read_ranges_gbs(int n_threads, const std::vector<ByteRange>& ranges, int passes);

// Per-ISA probes (limits_avx2.cpp, limits_avx512.cpp): operations per second of one thread running `iters`
// iterations of an unrolled, dependency-free loop.
namespace probes {
double f32_fma_avx2(long iters);
double int8_dot_avx2(long iters);
uint64_t read_avx2(const void* p, size_t bytes);  // bytes a multiple of 128, p 64-byte aligned
double f32_fma_avx512(long iters);
double bf16_dot_avx512(long iters);
double int8_dot_avx512(long iters);
}  // namespace probes

}  // namespace qwen3::bench
