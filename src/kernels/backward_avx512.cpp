// The backward kernels (backward_impl.h) with 16-float lanes, and the transpose of bf16 tiles in AVX-512.
#include <immintrin.h>

// GCC 12 reports the intrinsics' deliberately undefined pass-through operands as uninitialised.
#pragma GCC diagnostic ignored "-Wuninitialized"
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"

#include "kernels/backward_impl.h"

namespace qwen3::kernels::avx512 {
namespace {

// transpose_tile_bf16_scalar's blocks as 8 x 8 64-bit words (word (kp, rp) holds rows 2rp, 2rp+1 of
// columns 2kp, 2kp+1): B's word (rp, kp) is A's word (kp, rp) with its two middle values swapped. The 8 x 8
// transpose of the words in registers (unpack, then two rounds of two-source permutes): gathers, one per
// output vector, took several times as long on AMD's cores.
void transpose_tile_bf16(const uint16_t* tile, int64_t cols, uint16_t* out, int64_t out_stride) {
  // bytes 0 1 4 5 2 3 6 7 of every 8 (the shuffle works within 16-byte lanes)
  const long long lo = 0x0706030205040100LL, hi = 0x0F0E0B0A0D0C0908LL;
  const __m512i swap = _mm512_set_epi64(hi, lo, hi, lo, hi, lo, hi, lo);
  // round 2: words 0, 4 (even pairs) / 2, 6 of two unpacked vectors; round 3: the low / high halves
  const __m512i even = _mm512_setr_epi64(0, 1, 8, 9, 4, 5, 12, 13),
                odd = _mm512_setr_epi64(2, 3, 10, 11, 6, 7, 14, 15);
  const __m512i low = _mm512_setr_epi64(0, 1, 2, 3, 8, 9, 10, 11),
                high = _mm512_setr_epi64(4, 5, 6, 7, 12, 13, 14, 15);
  for (int64_t kt = 0; kt < cols / 16; ++kt) {
    const uint16_t* a = tile + kt * 256;
    uint16_t* b = out + kt * out_stride;
    __m512i r[8], t[8], u[8];
    for (int kp = 0; kp < 8; ++kp) r[kp] = _mm512_shuffle_epi8(_mm512_loadu_si512(a + kp * 32), swap);
    // t[2i] = words (A_2i, A_2i+1) of rp 0, 2, 4, 6; t[2i+1] of rp 1, 3, 5, 7
    for (int i = 0; i < 4; ++i) {
      t[2 * i] = _mm512_unpacklo_epi64(r[2 * i], r[2 * i + 1]);
      t[2 * i + 1] = _mm512_unpackhi_epi64(r[2 * i], r[2 * i + 1]);
    }
    // u[4h + 2o + p]: A_4h..A_4h+3 of rp {0, 4} (o = 0, p = 0), {2, 6} (0, 1), {1, 5} (1, 0), {3, 7} (1, 1)
    for (int h = 0; h < 2; ++h)
      for (int o = 0; o < 2; ++o) {
        u[4 * h + 2 * o] = _mm512_permutex2var_epi64(t[4 * h + o], even, t[4 * h + 2 + o]);
        u[4 * h + 2 * o + 1] = _mm512_permutex2var_epi64(t[4 * h + o], odd, t[4 * h + 2 + o]);
      }
    // rp = 0, 4 from u[0], u[4]; 2, 6 from u[1], u[5]; 1, 5 from u[2], u[6]; 3, 7 from u[3], u[7]
    constexpr int kRp[4] = {0, 2, 1, 3};
    for (int j = 0; j < 4; ++j) {
      _mm512_storeu_si512(b + kRp[j] * 32, _mm512_permutex2var_epi64(u[j], low, u[4 + j]));
      _mm512_storeu_si512(b + (kRp[j] + 4) * 32, _mm512_permutex2var_epi64(u[j], high, u[4 + j]));
    }
  }
}

// Per 16 columns: each column's 16 values (one per row) computed in a vector, d * (q - 128) rounded to bf16
// as f32_to_bf16 does (nearest even, NaN kept with its quiet bit), stored as 8 words of a row pair each;
// then each row pair's words of the 16 columns gathered into its 64 bytes of the output.
void transpose_tile_q8_0(const uint8_t* tile, int64_t cols, uint16_t* out, int64_t out_stride) {
  alignas(64) uint32_t cols16[16 * 8];
  const __m512i idx = _mm512_setr_epi32(0, 8, 16, 24, 32, 40, 48, 56, 64, 72, 80, 88, 96, 104, 112, 120);
  const __m512i byte = _mm512_set1_epi32(0xff), offset = _mm512_set1_epi32(128), one = _mm512_set1_epi32(1);
  const __m512i half = _mm512_set1_epi32(0x7fff), abs_mask = _mm512_set1_epi32(0x7fffffff);
  const __m512i inf = _mm512_set1_epi32(0x7f800000), quiet = _mm512_set1_epi32(0x40);
  for (int64_t kb = 0; kb < cols / kQuantBlock; ++kb) {
    const uint8_t* blk = tile + kb * 16 * sizeof(BlockQ8_0);
    const __m512 d = _mm512_cvtph_ps(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(blk)));
    for (int h = 0; h < 2; ++h) {
      for (int g = 0; g < 4; ++g) {
        const __m512i q = _mm512_loadu_si512(blk + 32 + (h * 4 + g) * 64);
        for (int e = 0; e < 4; ++e) {
          const __m512i b = _mm512_sub_epi32(_mm512_and_si512(_mm512_srli_epi32(q, 8 * e), byte), offset);
          const __m512i bits = _mm512_castps_si512(_mm512_mul_ps(d, _mm512_cvtepi32_ps(b)));
          __m512i r = _mm512_srli_epi32(
              _mm512_add_epi32(bits,
                               _mm512_add_epi32(half, _mm512_and_si512(_mm512_srli_epi32(bits, 16), one))),
              16);
          const __mmask16 nan = _mm512_cmpgt_epu32_mask(_mm512_and_si512(bits, abs_mask), inf);
          r = _mm512_mask_or_epi32(r, nan, _mm512_srli_epi32(bits, 16), quiet);
          _mm256_store_si256(reinterpret_cast<__m256i*>(cols16 + (g * 4 + e) * 8), _mm512_cvtepi32_epi16(r));
        }
      }
      uint16_t* o = out + (2 * kb + h) * out_stride;
      for (int rp = 0; rp < 8; ++rp)
        _mm512_storeu_si512(o + rp * 32,
                            _mm512_mask_i32gather_epi32(_mm512_setzero_si512(), 0xffff, idx, cols16 + rp, 4));
    }
  }
}

constexpr BackwardTable table() {
  BackwardTable t = backward_table<16>();
  t.transpose_tile_bf16 = transpose_tile_bf16;
  t.transpose_tile_q8_0 = transpose_tile_q8_0;
  return t;
}

}  // namespace

const BackwardTable kBackward = table();
}  // namespace qwen3::kernels::avx512
