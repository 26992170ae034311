// Peak f32 FMA probe for AVX2 (12 independent accumulators; 2 flops per lane per FMA) and its int8 dot.
#include <immintrin.h>

#include "bench/limits.h"
#include "core/timer.h"

namespace qwen3::bench::probes {

double f32_fma_avx2(long iters) {
  constexpr int kAcc = 12;
  __m256 acc[kAcc];
  for (int i = 0; i < kAcc; ++i) acc[i] = _mm256_set1_ps(0.001f * i);
  const __m256 a = _mm256_set1_ps(0.999f), b = _mm256_set1_ps(1e-4f);
  double t0 = now_seconds();
  for (long it = 0; it < iters; ++it)
    for (int i = 0; i < kAcc; ++i) acc[i] = _mm256_fmadd_ps(acc[i], a, b);
  double dt = now_seconds() - t0;
  __m256 s = acc[0];
  for (int i = 1; i < kAcc; ++i) s = _mm256_add_ps(s, acc[i]);
  float out[8];
  _mm256_storeu_ps(out, s);
  volatile float sink = out[0];
  (void)sink;
  return static_cast<double>(iters) * kAcc * 8 * 2 / dt;
}

// Peak int8 dot for AVX2, which has no vpdpbusd: the q8_0/q4_0 kernels' steps per 32 products, vpmaddubsw
// (u8 x s8 pairs to int16), vpmaddwd by ones (pairs to int32) and vpaddd into the accumulator; 2 ops per
// product. Each of 4 accumulators has its own operand, hidden from the compiler every iteration (an empty
// asm) so that the products are not hoisted out of the loop; 4 keep all in registers (6 did not).
double int8_dot_avx2(long iters) {
  __m256i c0 = _mm256_setzero_si256(), c1 = c0, c2 = c0, c3 = c0;
  __m256i a0 = _mm256_set1_epi8(3), a1 = _mm256_set1_epi8(4), a2 = _mm256_set1_epi8(5),
          a3 = _mm256_set1_epi8(6);
  const __m256i b = _mm256_set1_epi8(-2), ones = _mm256_set1_epi16(1);
  const auto step = [&](__m256i c, __m256i a) {
    return _mm256_add_epi32(c, _mm256_madd_epi16(_mm256_maddubs_epi16(a, b), ones));
  };
  double t0 = now_seconds();
  for (long it = 0; it < iters; ++it) {
    __asm__ volatile("" : "+x"(a0), "+x"(a1), "+x"(a2), "+x"(a3));
    c0 = step(c0, a0);
    c1 = step(c1, a1);
    c2 = step(c2, a2);
    c3 = step(c3, a3);
  }
  double dt = now_seconds() - t0;
  // an OR: the sums wrap after enough iterations (as the AVX-512 probe)
  const __m256i s = _mm256_or_si256(_mm256_or_si256(c0, c1), _mm256_or_si256(c2, c3));
  volatile int sink = _mm256_extract_epi32(s, 0);
  (void)sink;
  return static_cast<double>(iters) * 4 * 32 * 2 / dt;
}

}  // namespace qwen3::bench::probes

namespace qwen3::bench::probes {

// Reads [p, p + bytes) once with 256-bit loads (bytes a multiple of 128); returns a value depending on
// every byte so that the loads cannot be dropped.
uint64_t read_avx2(const void* p, size_t bytes) {
  const __m256i* v = static_cast<const __m256i*>(p);
  __m256i a0 = _mm256_setzero_si256(), a1 = a0, a2 = a0, a3 = a0;
  for (size_t i = 0; i < bytes / 32; i += 4) {
    a0 = _mm256_xor_si256(a0, _mm256_load_si256(v + i));
    a1 = _mm256_xor_si256(a1, _mm256_load_si256(v + i + 1));
    a2 = _mm256_xor_si256(a2, _mm256_load_si256(v + i + 2));
    a3 = _mm256_xor_si256(a3, _mm256_load_si256(v + i + 3));
  }
  __m256i s = _mm256_xor_si256(_mm256_xor_si256(a0, a1), _mm256_xor_si256(a2, a3));
  return static_cast<uint64_t>(_mm256_extract_epi64(s, 0) ^ _mm256_extract_epi64(s, 3));
}

}  // namespace qwen3::bench::probes
