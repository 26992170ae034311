// AVX-512 (VNNI) Q4_1/Q5_0/Q5_1 matmul (quant_legacy.h states the tiled layout and the arithmetic). Per
// 32-column block, two rows at a time: their 32 stored bytes of nibbles are unpacked into one vector of 64
// unsigned values (row 2k's 32 in the low half, row 2k+1's in the high), the fifth bits added from the two
// rows' qh words as one 64-bit mask, and vpdpbusd against the token's 32 activations (in both halves) gives 8
// int32 partial sums per row; the last three levels of reduce16 turn the 8 vectors into one of 16 row sums,
// and one lane per row takes the float steps. Exact integers: the scalar reference's bits
// (tests/kernels/matmul_test.cpp).
#pragma GCC diagnostic ignored "-Wuninitialized"
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#include <immintrin.h>

#include <algorithm>
#include <cstring>

#include "kernels/quant_legacy.h"
#include "kernels/reduce16_avx512.h"

namespace qwen3::kernels::avx512 {

namespace {

constexpr int R = kTileRows;

// reduce16's levels 1-3: vector k holds row 2k's partial sums in lanes 0-7 and row 2k+1's in lanes 8-15 (what
// level 0 would have made of 16 vectors); lane r of the result is row r's total.
inline __m512i reduce_row_pairs(__m512i (&v)[8]) {
  for (int level = 1, n = 8; level < 4; ++level, n /= 2) {
    const __m512i lo = _mm512_load_si512(kHalves[level][0]), hi = _mm512_load_si512(kHalves[level][1]);
    for (int k = 0; k < n / 2; ++k)
      v[k] = _mm512_add_epi32(_mm512_permutex2var_epi32(v[2 * k], lo, v[2 * k + 1]),
                              _mm512_permutex2var_epi32(v[2 * k], hi, v[2 * k + 1]));
  }
  return v[0];
}

// NT tokens times one tile of `last_rows` valid rows into y.
template <DType DT, int NT>
void tile_legacy(const uint8_t* tile, int64_t cols, const int8_t* xq, const float* xd, const int32_t* xc,
                 float* y, int64_t ldy, int last_rows) {
  constexpr bool kMin = DT != DType::kQ5_0, kFifth = DT != DType::kQ4_1;
  constexpr int kM = 2 * R, kQh = DT == DType::kQ5_0 ? 2 * R : 4 * R;
  constexpr int kQs = DT == DType::kQ4_1 ? 4 * R : DT == DType::kQ5_0 ? 6 * R : 8 * R;
  constexpr int kBytes = kQs + 16 * R;
  const int64_t nb = cols / kQuantBlock;
  const __m512i low4 = _mm512_set1_epi8(0x0f), sixteen = _mm512_set1_epi8(16);
  __m512 acc[NT];
  for (int t = 0; t < NT; ++t) acc[t] = _mm512_setzero_ps();
  for (int64_t b = 0; b < nb; ++b) {
    const uint8_t* blk = tile + b * kBytes;
    if constexpr (NT == 1)
      for (int line = 0; line < kBytes; line += 64) prefetch_ahead(blk + line);
    __m512i xa[NT];
    for (int t = 0; t < NT; ++t)
      xa[t] = _mm512_broadcast_i64x4(
          _mm256_loadu_si256(reinterpret_cast<const __m256i*>(xq + t * cols + b * kQuantBlock)));
    __m512i p[NT][8];
    for (int k = 0; k < 8; ++k) {
      const __m256i q = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(blk + kQs + 32 * k));
      const __m256i lo = _mm256_and_si256(q, _mm512_castsi512_si256(low4));
      const __m256i hi = _mm256_and_si256(_mm256_srli_epi16(q, 4), _mm512_castsi512_si256(low4));
      // [lo 2k, lo 2k+1, hi 2k, hi 2k+1] -> [lo 2k, hi 2k, lo 2k+1, hi 2k+1]: each row's values 0..31
      __m512i w = _mm512_inserti64x4(_mm512_castsi256_si512(lo), hi, 1);
      w = _mm512_shuffle_i64x2(w, w, _MM_SHUFFLE(3, 1, 2, 0));
      if constexpr (kFifth) {
        uint64_t bits;  // qh of rows 2k and 2k+1: bit j of the pair is the fifth bit of byte j of w
        std::memcpy(&bits, blk + kQh + 8 * k, 8);
        w = _mm512_mask_add_epi8(w, static_cast<__mmask64>(bits), w, sixteen);
      }
      for (int t = 0; t < NT; ++t) p[t][k] = _mm512_dpbusd_epi32(_mm512_setzero_si512(), w, xa[t]);
    }
    const __m512 d = _mm512_cvtph_ps(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(blk)));
    __m512 m = _mm512_setzero_ps();
    if constexpr (kMin) m = _mm512_cvtph_ps(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(blk + kM)));
    for (int t = 0; t < NT; ++t) {
      __m512i isum = reduce_row_pairs(p[t]);
      const int32_t c = xc[t * nb + b];
      if constexpr (DT == DType::kQ5_0) isum = _mm512_add_epi32(isum, _mm512_set1_epi32(c));
      const __m512 dx = _mm512_set1_ps(xd[t * nb + b]);
      acc[t] = _mm512_fmadd_ps(_mm512_cvtepi32_ps(isum), _mm512_mul_ps(d, dx), acc[t]);
      if constexpr (kMin)
        acc[t] = _mm512_fmadd_ps(_mm512_set1_ps(static_cast<float>(c)), _mm512_mul_ps(m, dx), acc[t]);
    }
  }
  const __mmask16 rows = static_cast<__mmask16>((1u << last_rows) - 1);
  for (int t = 0; t < NT; ++t) _mm512_mask_storeu_ps(y + t * ldy, rows, acc[t]);
}

template <DType DT>
void matmul_dtype(const Tensor& w, const MatmulInput& in, int64_t tile_begin, int64_t tile_end, float* y,
                  int64_t ldy) {
  constexpr int NT = 2;
  const int64_t nb = w.cols / kQuantBlock;
  constexpr int64_t kTokBlock = 128;  // activations that stay in L2 while the tiles stream past them
  for (int64_t tb = 0; tb < in.n_tok; tb += kTokBlock) {
    const int64_t te = std::min(in.n_tok, tb + kTokBlock);
    for (int64_t ti = tile_begin; ti < tile_end; ++ti) {
      const int last_rows = static_cast<int>(std::min<int64_t>(R, w.rows - ti * R));
      int64_t t0 = tb;
      for (; t0 + NT <= te; t0 += NT)
        tile_legacy<DT, NT>(w.tile(ti), w.cols, in.xq + t0 * w.cols, in.xd + t0 * nb, in.xc + t0 * nb,
                            y + t0 * ldy + ti * R, ldy, last_rows);
      if (t0 < te)
        tile_legacy<DT, 1>(w.tile(ti), w.cols, in.xq + t0 * w.cols, in.xd + t0 * nb, in.xc + t0 * nb,
                           y + t0 * ldy + ti * R, ldy, last_rows);
    }
  }
}

}  // namespace

void matmul_legacy_tiles(const Tensor& w, const MatmulInput& in, int64_t tile_begin, int64_t tile_end,
                         float* y, int64_t ldy) {
  switch (w.dtype) {
    case DType::kQ4_1:
      return matmul_dtype<DType::kQ4_1>(w, in, tile_begin, tile_end, y, ldy);
    case DType::kQ5_0:
      return matmul_dtype<DType::kQ5_0>(w, in, tile_begin, tile_end, y, ldy);
    default:
      return matmul_dtype<DType::kQ5_1>(w, in, tile_begin, tile_end, y, ldy);
  }
}

}  // namespace qwen3::kernels::avx512
