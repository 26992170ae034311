// The backward kernels (backward_impl.h) with 8-float lanes, and the transposes of bf16 and q8_0 tiles in
// AVX2 (weight_backward's bands: on a CPU without AVX-512 the scalar q8_0 transpose took 13 % of a q8_0
// base's training step).
#include <immintrin.h>

#include "kernels/backward_impl.h"
#include "kernels/bf16_avx2.h"

namespace qwen3::kernels::avx2 {
namespace {

// transpose_tile_bf16_scalar's blocks as 8 x 8 64-bit words (word (kp, rp) holds rows 2rp, 2rp+1 of columns
// 2kp, 2kp+1): B's word (rp, kp) is A's word (kp, rp) with its two middle values swapped. Four 4 x 4
// transposes of words, each in registers (unpack, then swap 128-bit halves).
void transpose_tile_bf16(const uint16_t* tile, int64_t cols, uint16_t* out, int64_t out_stride) {
  // bytes 0 1 4 5 2 3 6 7 of every 8 (the shuffle works within 16-byte lanes)
  const __m256i swap =
      _mm256_broadcastsi128_si256(_mm_setr_epi8(0, 1, 4, 5, 2, 3, 6, 7, 8, 9, 12, 13, 10, 11, 14, 15));
  for (int64_t kt = 0; kt < cols / 16; ++kt) {
    const uint16_t* a = tile + kt * 256;
    uint16_t* b = out + kt * out_stride;
    for (int i = 0; i < 2; ++i)      // words kp = 4i .. 4i + 3 of A's rows
      for (int j = 0; j < 2; ++j) {  // words rp = 4j .. 4j + 3
        __m256i r[4], t[4];
        for (int q = 0; q < 4; ++q)
          r[q] = _mm256_shuffle_epi8(
              _mm256_loadu_si256(reinterpret_cast<const __m256i*>(a + (4 * i + q) * 32 + 16 * j)), swap);
        t[0] = _mm256_unpacklo_epi64(r[0], r[1]);  // words 0, 2 of kp 4i, 4i + 1
        t[1] = _mm256_unpackhi_epi64(r[0], r[1]);  // words 1, 3
        t[2] = _mm256_unpacklo_epi64(r[2], r[3]);
        t[3] = _mm256_unpackhi_epi64(r[2], r[3]);
        __m256i* o = reinterpret_cast<__m256i*>(b + 4 * j * 32 + 16 * i);
        _mm256_storeu_si256(o, _mm256_permute2x128_si256(t[0], t[2], 0x20));
        _mm256_storeu_si256(o + 2, _mm256_permute2x128_si256(t[1], t[3], 0x20));
        _mm256_storeu_si256(o + 4, _mm256_permute2x128_si256(t[0], t[2], 0x31));
        _mm256_storeu_si256(o + 6, _mm256_permute2x128_si256(t[1], t[3], 0x31));
      }
  }
}

// Per 32 columns and 4-column group g, each 16 bytes of the group ([4 rows][4 columns] of q + 128) are
// shuffled into two row pairs' 8 values in the output's order (column by column, the pair's two rows side
// by side), widened to d * (q - 128) (each row's scale d) and rounded (bf16_bits: f32_to_bf16's bits, as
// |d (q - 128)| is 0 or at least an f16's 2^-24, never denormal): two rows of 8 values of the transposed
// tile, stores only.
void transpose_tile_q8_0(const uint8_t* tile, int64_t cols, uint16_t* out, int64_t out_stride) {
  const __m128i pairs = _mm_setr_epi8(0, 4, 1, 5, 2, 6, 3, 7, 8, 12, 9, 13, 10, 14, 11, 15);
  const __m256i offset = _mm256_set1_epi32(128);
  for (int64_t kb = 0; kb < cols / kQuantBlock; ++kb) {
    const uint8_t* blk = tile + kb * 16 * sizeof(BlockQ8_0);
    const __m256 d[2] = {_mm256_cvtph_ps(_mm_loadu_si128(reinterpret_cast<const __m128i*>(blk))),
                         _mm256_cvtph_ps(_mm_loadu_si128(reinterpret_cast<const __m128i*>(blk + 16)))};
    __m256 scale[8];  // row pair rp: rows 2rp, 2rp + 1 alternating
    for (int rp = 0; rp < 8; ++rp) {
      const int r = 2 * (rp % 4);
      scale[rp] =
          _mm256_permutevar8x32_ps(d[rp / 4], _mm256_setr_epi32(r, r + 1, r, r + 1, r, r + 1, r, r + 1));
    }
    for (int g = 0; g < 8; ++g) {
      uint16_t* o = out + (2 * kb + g / 4) * out_stride + 8 * (g % 4);
      for (int i = 0; i < 4; ++i) {  // rows 4i .. 4i + 3: row pairs 2i, 2i + 1
        const __m128i q = _mm_shuffle_epi8(
            _mm_loadu_si128(reinterpret_cast<const __m128i*>(blk + 32 + g * 64 + 16 * i)), pairs);
        __m256i v[2];
        for (int p = 0; p < 2; ++p) {
          const __m256i w = _mm256_sub_epi32(_mm256_cvtepu8_epi32(p ? _mm_srli_si128(q, 8) : q), offset);
          v[p] = bf16_bits(_mm256_mul_ps(scale[2 * i + p], _mm256_cvtepi32_ps(w)));
        }
        // packus interleaves the 128-bit lanes: the permute puts row pair 2i's 8 values low, 2i + 1's high
        const __m256i h = _mm256_permute4x64_epi64(_mm256_packus_epi32(v[0], v[1]), 0xd8);
        _mm_storeu_si128(reinterpret_cast<__m128i*>(o + (2 * i) * 32), _mm256_castsi256_si128(h));
        _mm_storeu_si128(reinterpret_cast<__m128i*>(o + (2 * i + 1) * 32), _mm256_extracti128_si256(h, 1));
      }
    }
  }
}

constexpr BackwardTable table() {
  BackwardTable t = backward_table<8>();
  t.transpose_tile_bf16 = transpose_tile_bf16;
  t.transpose_tile_q8_0 = transpose_tile_q8_0;
  return t;
}

}  // namespace

const BackwardTable kBackward = table();
}  // namespace qwen3::kernels::avx2
