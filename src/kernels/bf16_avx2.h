// bf16 conversions for the AVX2 kernels (AVX2 has no vcvtneps2bf16): rounding 8 floats to bf16 by the
// scalar rule and widening a run of bf16 values to f32. Included only by *_avx2.cpp files.
#pragma once

#include <immintrin.h>

#include <cstdint>
#include <cstring>

namespace qwen3::kernels::avx2 {
namespace {

// round_bf16's bits (kernels.h) of 8 floats as int32 lanes in [0, 65535]: nearest even, a NaN kept with its
// quiet bit set, denormals to signed zero (vdpbf16ps's inputs); for any other input f32_to_bf16's bits.
inline __m256i bf16_bits(__m256 x) {
  const __m256i b = _mm256_castps_si256(x);
  const __m256i high = _mm256_srli_epi32(b, 16);
  const __m256i nan =
      _mm256_cmpgt_epi32(_mm256_and_si256(b, _mm256_set1_epi32(0x7fffffff)), _mm256_set1_epi32(0x7f800000));
  const __m256i tiny =
      _mm256_cmpeq_epi32(_mm256_and_si256(b, _mm256_set1_epi32(0x7f800000)), _mm256_setzero_si256());
  const __m256i lsb = _mm256_and_si256(high, _mm256_set1_epi32(1));
  __m256i r = _mm256_srli_epi32(_mm256_add_epi32(b, _mm256_add_epi32(lsb, _mm256_set1_epi32(0x7fff))), 16);
  r = _mm256_blendv_epi8(r, _mm256_or_si256(high, _mm256_set1_epi32(0x40)), nan);
  return _mm256_blendv_epi8(r, _mm256_and_si256(high, _mm256_set1_epi32(0x8000)), tiny);
}

// dst[i] = the bf16 value src[i] as f32 for i < n, exactly (a 16-bit shift).
inline void widen_bf16(const uint16_t* src, int64_t n, float* dst) {
  int64_t i = 0;
  for (; i + 8 <= n; i += 8)
    _mm256_storeu_si256(
        reinterpret_cast<__m256i*>(dst + i),
        _mm256_slli_epi32(_mm256_cvtepu16_epi32(_mm_loadu_si128(reinterpret_cast<const __m128i*>(src + i))),
                          16));
  for (; i < n; ++i) {
    const uint32_t bits = static_cast<uint32_t>(src[i]) << 16;
    std::memcpy(dst + i, &bits, 4);
  }
}

}  // namespace
}  // namespace qwen3::kernels::avx2
