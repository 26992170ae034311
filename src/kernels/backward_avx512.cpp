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

// Each 64-byte group of a block ([16 rows][4 columns] of q + 128) holds, per row pair, 8 contiguous bytes:
// a byte shuffle puts them in the output's order (column by column, the pair's two rows side by side), and
// every 16 bytes (two row pairs' 4 columns) become 16 values d * (q - 128) (each row's scale d), whose two
// halves are those row pairs' 8 values at the group's 4 columns in the transposed tile: stores only, no
// gathers. vcvtneps2bf16 rounds as f32_to_bf16 does here: nearest even, a NaN kept with its quiet bit set,
// and no denormal to flush (|d (q - 128)| is 0 or at least an f16's 2^-24).
void transpose_tile_q8_0(const uint8_t* tile, int64_t cols, uint16_t* out, int64_t out_stride) {
  const __m512i pairs =
      _mm512_broadcast_i32x4(_mm_setr_epi8(0, 4, 1, 5, 2, 6, 3, 7, 8, 12, 9, 13, 10, 14, 11, 15));
  const __m512i offset = _mm512_set1_epi32(128);
  // lane l of the 16 values of row pairs 2i, 2i + 1: row 4i + 2 (l / 8) + l % 2
  alignas(64) static constexpr int32_t kRowOf[4][16] = {
      {0, 1, 0, 1, 0, 1, 0, 1, 2, 3, 2, 3, 2, 3, 2, 3},
      {4, 5, 4, 5, 4, 5, 4, 5, 6, 7, 6, 7, 6, 7, 6, 7},
      {8, 9, 8, 9, 8, 9, 8, 9, 10, 11, 10, 11, 10, 11, 10, 11},
      {12, 13, 12, 13, 12, 13, 12, 13, 14, 15, 14, 15, 14, 15, 14, 15}};
  for (int64_t kb = 0; kb < cols / kQuantBlock; ++kb) {
    const uint8_t* blk = tile + kb * 16 * sizeof(BlockQ8_0);
    const __m512 d = _mm512_cvtph_ps(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(blk)));
    __m512 scale[4];
    for (int i = 0; i < 4; ++i) scale[i] = _mm512_permutexvar_ps(_mm512_load_si512(kRowOf[i]), d);
    for (int g = 0; g < 8; ++g) {
      const __m512i q = _mm512_shuffle_epi8(_mm512_loadu_si512(blk + 32 + g * 64), pairs);
      uint16_t* o = out + (2 * kb + g / 4) * out_stride + 8 * (g % 4);
      for (int i = 0; i < 4; ++i) {
        const __m512i b = _mm512_sub_epi32(_mm512_cvtepu8_epi32(_mm512_extracti32x4_epi32(q, i)), offset);
        const __m256i v =
            reinterpret_cast<__m256i>(_mm512_cvtneps_pbh(_mm512_mul_ps(scale[i], _mm512_cvtepi32_ps(b))));
        _mm_storeu_si128(reinterpret_cast<__m128i*>(o + (2 * i) * 32), _mm256_castsi256_si128(v));
        _mm_storeu_si128(reinterpret_cast<__m128i*>(o + (2 * i + 1) * 32), _mm256_extracti128_si256(v, 1));
      }
    }
  }
}

// matmul_bf16_acc with vdpbf16ps: R rows of c times 2 vectors of 16 columns in registers (masked at the
// last columns), each step a pair's word of bp against the row's pair broadcast.
template <int R>
void bf16_acc_block(const uint16_t* a, int64_t lda, int64_t k, const uint16_t* bp, int64_t ldb, int64_t j,
                    __mmask16 m0, __mmask16 m1, float* c, int64_t ldc) {
  __m512 acc0[R], acc1[R];
#pragma GCC unroll 8
  for (int r = 0; r < R; ++r) {
    acc0[r] = _mm512_maskz_loadu_ps(m0, c + r * ldc + j);
    acc1[r] = _mm512_maskz_loadu_ps(m1, c + r * ldc + j + 16);
  }
  for (int64_t p = 0; p < k / 2; ++p) {
    const uint16_t* row = bp + p * ldb + 2 * j;
    const __m512bh w0 = reinterpret_cast<__m512bh>(_mm512_maskz_loadu_epi32(m0, row)),
                   w1 = reinterpret_cast<__m512bh>(_mm512_maskz_loadu_epi32(m1, row + 32));
#pragma GCC unroll 8
    for (int r = 0; r < R; ++r) {
      uint32_t pair;
      std::memcpy(&pair, a + r * lda + 2 * p, 4);
      const __m512bh av = reinterpret_cast<__m512bh>(_mm512_set1_epi32(static_cast<int>(pair)));
      acc0[r] = _mm512_dpbf16_ps(acc0[r], w0, av);
      acc1[r] = _mm512_dpbf16_ps(acc1[r], w1, av);
    }
  }
#pragma GCC unroll 8
  for (int r = 0; r < R; ++r) {
    _mm512_mask_storeu_ps(c + r * ldc + j, m0, acc0[r]);
    _mm512_mask_storeu_ps(c + r * ldc + j + 16, m1, acc1[r]);
  }
}

void matmul_bf16_acc(const uint16_t* a, int64_t lda, int64_t n, int64_t k, const uint16_t* bp, int64_t ldb,
                     int64_t m, float* c, int64_t ldc) {
  for (int64_t j = 0; j < m; j += 32) {
    const int64_t left = m - j;
    const __mmask16 m0 = left >= 16 ? 0xffff : static_cast<__mmask16>((1u << left) - 1),
                    m1 = left >= 32   ? 0xffff
                         : left <= 16 ? 0
                                      : static_cast<__mmask16>((1u << (left - 16)) - 1);
    int64_t t = 0;
    for (; t + 8 <= n; t += 8) bf16_acc_block<8>(a + t * lda, lda, k, bp, ldb, j, m0, m1, c + t * ldc, ldc);
    for (; t + 4 <= n; t += 4) bf16_acc_block<4>(a + t * lda, lda, k, bp, ldb, j, m0, m1, c + t * ldc, ldc);
    for (; t < n; ++t) bf16_acc_block<1>(a + t * lda, lda, k, bp, ldb, j, m0, m1, c + t * ldc, ldc);
  }
}

constexpr BackwardTable table() {
  BackwardTable t = backward_table<16>();
  t.transpose_tile_bf16 = transpose_tile_bf16;
  t.transpose_tile_q8_0 = transpose_tile_q8_0;
  t.matmul_bf16_acc = matmul_bf16_acc;
  return t;
}

}  // namespace

const BackwardTable kBackward = table();
}  // namespace qwen3::kernels::avx512
