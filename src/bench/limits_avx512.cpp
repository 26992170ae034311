// Peak-throughput probes for AVX-512: 12 independent accumulators so that FMA latency never limits. Each
// returns operations per second (f32: 2 flops per lane per FMA; bf16 dot: 2 flops per bf16 pair, 32 pairs per
// instruction; int8 dot: 2 ops per byte pair, 64 pairs per instruction).
#if defined(__GNUC__) && !defined(__clang__)
// GCC 12 warns about the _mm512_undefined_*() inside its own intrinsics headers once inlined.
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#pragma GCC diagnostic ignored "-Wuninitialized"
#endif
#include <immintrin.h>

#include "bench/limits.h"
#include "core/timer.h"

namespace qwen3::bench::probes {

namespace {
constexpr int kAcc = 12;
}

double f32_fma_avx512(long iters) {
  __m512 acc[kAcc];
  for (int i = 0; i < kAcc; ++i) acc[i] = _mm512_set1_ps(0.001f * i);
  const __m512 a = _mm512_set1_ps(0.999f), b = _mm512_set1_ps(1e-4f);
  double t0 = now_seconds();
  for (long it = 0; it < iters; ++it)
    for (int i = 0; i < kAcc; ++i) acc[i] = _mm512_fmadd_ps(acc[i], a, b);
  double dt = now_seconds() - t0;
  __m512 s = acc[0];
  for (int i = 1; i < kAcc; ++i) s = _mm512_add_ps(s, acc[i]);
  volatile float sink = _mm512_reduce_add_ps(s);
  (void)sink;
  return static_cast<double>(iters) * kAcc * 16 * 2 / dt;
}

double bf16_dot_avx512(long iters) {
  __m512 acc[kAcc];
  for (int i = 0; i < kAcc; ++i) acc[i] = _mm512_setzero_ps();
  const __m512bh a = (__m512bh)_mm512_set1_epi16(0x3f80), b = (__m512bh)_mm512_set1_epi16(0x3a80);
  double t0 = now_seconds();
  for (long it = 0; it < iters; ++it)
    for (int i = 0; i < kAcc; ++i) acc[i] = _mm512_dpbf16_ps(acc[i], a, b);
  double dt = now_seconds() - t0;
  __m512 s = acc[0];
  for (int i = 1; i < kAcc; ++i) s = _mm512_add_ps(s, acc[i]);
  volatile float sink = _mm512_reduce_add_ps(s);
  (void)sink;
  return static_cast<double>(iters) * kAcc * 32 * 2 / dt;
}

double int8_dot_avx512(long iters) {
  __m512i acc[kAcc];
  for (int i = 0; i < kAcc; ++i) acc[i] = _mm512_setzero_si512();
  const __m512i a = _mm512_set1_epi8(3), b = _mm512_set1_epi8(-2);
  double t0 = now_seconds();
  for (long it = 0; it < iters; ++it)
    for (int i = 0; i < kAcc; ++i) acc[i] = _mm512_dpbusd_epi32(acc[i], a, b);
  double dt = now_seconds() - t0;
  __m512i s = acc[0];
  for (int i = 1; i < kAcc; ++i) s = _mm512_add_epi32(s, acc[i]);
  // Keeps the work alive; an OR because the sums wrap after enough iterations (a scalar signed add of them
  // would be undefined behaviour, as UBSan reported).
  volatile int sink = _mm512_reduce_or_epi32(s);
  (void)sink;
  return static_cast<double>(iters) * kAcc * 64 * 2 / dt;
}

}  // namespace qwen3::bench::probes
