// AVX2 FP8 E4M3 matmul (matmul_fp8.h): the AVX-512 kernel's exact e4m3 -> bf16 conversion with 32-byte
// vectors (each half of a 64-byte group is 8 rows), widened to f32 and multiplied by the bf16-rounded
// activations with vdpbf16ps's two fused steps per pair (odd column first). Each tile block is converted once
// into a buffer that every token reads. Tests: tests/kernels/fp8_test.cpp (bitwise equal to the scalar
// reference).
#include <immintrin.h>

#include <algorithm>
#include <cstring>

#include "core/half.h"
#include "kernels/matmul_fp8.h"

namespace qwen3::kernels::avx2 {

namespace {

constexpr int R = kTileRows;

inline __m256i table16(const uint8_t (&t)[16]) {
  return _mm256_broadcastsi128_si256(_mm_loadu_si128(reinterpret_cast<const __m128i*>(t)));
}

// 32 e4m3 bytes (8 rows of a group) -> 8 bf16 pairs for p = 0 and p = 1 (see matmul_fp8_avx512.cpp).
inline void convert(__m256i v, __m256i& p0, __m256i& p1) {
  static constexpr uint8_t kHi[16] = {60, 61, 62, 63, 64, 65, 66, 67, 60, 61, 62, 63, 64, 65, 66, 67};
  static constexpr uint8_t kSubHi[16] = {0, 59, 59, 59, 60, 60, 60, 60, 0, 0, 0, 0, 0, 0, 0, 0x7f};
  static constexpr uint8_t kSubLo[16] = {0, 0x00, 0x80, 0xc0, 0x00, 0x20, 0x40, 0x60,
                                         0, 0,    0,    0,    0,    0,    0,    0xc0};
  const __m256i low4 = _mm256_set1_epi8(0x0f), x7f = _mm256_set1_epi8(0x7f);
  const __m256i lonib = _mm256_and_si256(v, low4);
  const __m256i hinib = _mm256_and_si256(_mm256_srli_epi16(v, 4), low4);
  __m256i hi = _mm256_shuffle_epi8(table16(kHi), hinib);
  __m256i lo = _mm256_slli_epi16(lonib, 4);
  const __m256i special =
      _mm256_or_si256(_mm256_cmpeq_epi8(_mm256_and_si256(v, _mm256_set1_epi8(0x78)), _mm256_setzero_si256()),
                      _mm256_cmpeq_epi8(_mm256_and_si256(v, x7f), x7f));
  hi = _mm256_blendv_epi8(hi, _mm256_shuffle_epi8(table16(kSubHi), lonib), special);
  lo = _mm256_blendv_epi8(lo, _mm256_shuffle_epi8(table16(kSubLo), lonib), special);
  hi = _mm256_or_si256(hi, _mm256_and_si256(v, _mm256_set1_epi8(static_cast<char>(0x80))));
  p0 = _mm256_unpacklo_epi8(lo, hi);
  p1 = _mm256_unpackhi_epi8(lo, hi);
}

// s = fma(odd, x[k+1], s); s = fma(even, x[k], s) for the pairs of w (8 rows).
inline __m256 pair_step(__m256 s, __m256i w, const float* x) {
  const __m256 odd =
      _mm256_castsi256_ps(_mm256_and_si256(w, _mm256_set1_epi32(static_cast<int>(0xffff0000u))));
  const __m256 even = _mm256_castsi256_ps(_mm256_slli_epi32(w, 16));
  s = _mm256_fmadd_ps(odd, _mm256_broadcast_ss(x + 1), s);
  return _mm256_fmadd_ps(even, _mm256_broadcast_ss(x), s);
}

constexpr int64_t kTokBlock = 64;

}  // namespace

void matmul_fp8_tiles(const Tensor& w, const MatmulInput& in, int64_t tile_begin, int64_t tile_end, float* y,
                      int64_t ldy) {
  const int64_t nb = (w.cols + kFp8Block - 1) / kFp8Block;
  // wbuf[2 (2g + p) + half]: group g's pairs for p, rows 8 half .. 8 half + 7
  alignas(32) __m256i wbuf[4 * kFp8Groups];
  alignas(32) float ybuf[kTokBlock * R];
  alignas(32) float xf[kTokBlock * kFp8Block];  // the block's activations as f32
  for (int64_t ti = tile_begin; ti < tile_end; ++ti) {
    const uint8_t* tile = w.tile(ti);
    const int last_rows = static_cast<int>(std::min<int64_t>(R, w.rows - ti * R));
    for (int64_t t0 = 0; t0 < in.n_tok; t0 += kTokBlock) {
      const int64_t nt = std::min(kTokBlock, in.n_tok - t0);
      std::fill(ybuf, ybuf + nt * R, 0.0f);
      for (int64_t b = 0; b < nb; ++b) {
        const uint8_t* blk = tile + b * kFp8TileBlock;
        for (int g = 0; g < kFp8Groups; ++g)
          for (int half = 0; half < 2; ++half) {
            const uint8_t* p = blk + R * 4 + g * 64 + 32 * half;
            if (nt == 1) __builtin_prefetch(p + kDecodePrefetch);
            convert(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(p)), wbuf[2 * (2 * g) + half],
                    wbuf[2 * (2 * g + 1) + half]);
          }
        for (int64_t t = 0; t < nt; ++t) {
          const uint16_t* xb = in.xb + (t0 + t) * in.ldxb + b * kFp8Block;
          for (int j = 0; j < kFp8Block; ++j) xf[t * kFp8Block + j] = bf16_to_f32(xb[j]);
        }
        for (int half = 0; half < 2; ++half) {
          const __m256 scale = _mm256_loadu_ps(reinterpret_cast<const float*>(blk) + 8 * half);
          for (int64_t t = 0; t < nt; ++t) {
            const float* x = xf + t * kFp8Block;
            __m256 s[4] = {_mm256_setzero_ps(), _mm256_setzero_ps(), _mm256_setzero_ps(),
                           _mm256_setzero_ps()};
            for (int g = 0; g < kFp8Groups; ++g)
              for (int p = 0; p < 2; ++p)
                s[2 * (g % 2) + p] =
                    pair_step(s[2 * (g % 2) + p], wbuf[2 * (2 * g + p) + half], x + 4 * g + 2 * p);
            const __m256 sum = _mm256_add_ps(_mm256_add_ps(s[0], s[1]), _mm256_add_ps(s[2], s[3]));
            float* ys = ybuf + t * R + 8 * half;
            _mm256_store_ps(ys, _mm256_fmadd_ps(sum, scale, _mm256_load_ps(ys)));
          }
        }
      }
      for (int64_t t = 0; t < nt; ++t)
        std::memcpy(y + (t0 + t) * ldy + ti * R, ybuf + t * R, static_cast<size_t>(last_rows) * 4);
    }
  }
}

}  // namespace qwen3::kernels::avx2
