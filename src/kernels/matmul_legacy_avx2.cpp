// AVX2 Q4_1/Q5_0/Q5_1 matmul (quant_legacy.h states the tiled layout and the arithmetic). Per 32-column
// block and row: the 16 stored bytes unpacked into 32 unsigned values, the fifth bits spread from the row's
// qh word, vpmaddubsw against the token's 32 int8 activations (pair sums at most 2 x 31 x 127: no
// saturation) and vpmaddwd into 8 int32 partial sums; a hadd tree turns the 16 rows' vectors into two of 8
// row sums, and one lane per row takes the float steps. Exact integers: the scalar reference's bits
// (tests/kernels/matmul_test.cpp).
#include <immintrin.h>

#include <algorithm>
#include <cstring>

#include "kernels/quant_legacy.h"

namespace qwen3::kernels::avx2 {

namespace {

constexpr int R = kTileRows;

// Lane i of the result: the sum of a[i]'s 8 lanes, i < 8.
inline __m256i row_sums8(const __m256i* a) {
  const __m256i h0 = _mm256_hadd_epi32(_mm256_hadd_epi32(a[0], a[1]), _mm256_hadd_epi32(a[2], a[3]));
  const __m256i h1 = _mm256_hadd_epi32(_mm256_hadd_epi32(a[4], a[5]), _mm256_hadd_epi32(a[6], a[7]));
  return _mm256_add_epi32(_mm256_permute2x128_si256(h0, h1, 0x20), _mm256_permute2x128_si256(h0, h1, 0x31));
}

template <DType DT, int NT>
void tile_legacy(const uint8_t* tile, int64_t cols, const int8_t* xq, const float* xd, const int32_t* xc,
                 float* y, int64_t ldy, int last_rows) {
  constexpr bool kMin = DT != DType::kQ5_0, kFifth = DT != DType::kQ4_1;
  constexpr int kM = 2 * R, kQh = DT == DType::kQ5_0 ? 2 * R : 4 * R;
  constexpr int kQs = DT == DType::kQ4_1 ? 4 * R : DT == DType::kQ5_0 ? 6 * R : 8 * R;
  constexpr int kBytes = kQs + 16 * R;
  const int64_t nb = cols / kQuantBlock;
  const __m128i low4 = _mm_set1_epi8(0x0f);
  const __m256i ones = _mm256_set1_epi16(1), sixteen = _mm256_set1_epi8(16);
  // byte j of the row's 32 takes byte j / 8 of qh and tests bit j % 8
  const __m256i spread = _mm256_set_epi64x(0x0303030303030303, 0x0202020202020202, 0x0101010101010101, 0);
  const __m256i bit = _mm256_set1_epi64x(static_cast<int64_t>(0x8040201008040201));
  __m256 acc[NT][2];
  for (int t = 0; t < NT; ++t) acc[t][0] = acc[t][1] = _mm256_setzero_ps();
  for (int64_t b = 0; b < nb; ++b) {
    const uint8_t* blk = tile + b * kBytes;
    if constexpr (NT == 1)
      for (int line = 0; line < kBytes; line += 64) prefetch_ahead(blk + line);
    __m256i xa[NT];
    for (int t = 0; t < NT; ++t)
      xa[t] = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(xq + t * cols + b * kQuantBlock));
    __m256i p[NT][R];
    for (int r = 0; r < R; ++r) {
      const __m128i q = _mm_loadu_si128(reinterpret_cast<const __m128i*>(blk + kQs + 16 * r));
      __m256i w = _mm256_set_m128i(_mm_and_si128(_mm_srli_epi16(q, 4), low4), _mm_and_si128(q, low4));
      if constexpr (kFifth) {
        uint32_t qh;
        std::memcpy(&qh, blk + kQh + 4 * r, 4);
        const __m256i sel =
            _mm256_and_si256(_mm256_shuffle_epi8(_mm256_set1_epi32(static_cast<int>(qh)), spread), bit);
        w = _mm256_or_si256(w, _mm256_and_si256(_mm256_cmpeq_epi8(sel, bit), sixteen));
      }
      for (int t = 0; t < NT; ++t) p[t][r] = _mm256_madd_epi16(_mm256_maddubs_epi16(w, xa[t]), ones);
    }
    __m256 d[2], m[2];
    for (int h = 0; h < 2; ++h) {
      d[h] = _mm256_cvtph_ps(_mm_loadu_si128(reinterpret_cast<const __m128i*>(blk + 16 * h)));
      if constexpr (kMin)
        m[h] = _mm256_cvtph_ps(_mm_loadu_si128(reinterpret_cast<const __m128i*>(blk + kM + 16 * h)));
    }
    for (int t = 0; t < NT; ++t) {
      const int32_t c = xc[t * nb + b];
      const __m256 dx = _mm256_set1_ps(xd[t * nb + b]);
      for (int h = 0; h < 2; ++h) {
        __m256i isum = row_sums8(p[t] + 8 * h);
        if constexpr (DT == DType::kQ5_0) isum = _mm256_add_epi32(isum, _mm256_set1_epi32(c));
        acc[t][h] = _mm256_fmadd_ps(_mm256_cvtepi32_ps(isum), _mm256_mul_ps(d[h], dx), acc[t][h]);
        if constexpr (kMin)
          acc[t][h] =
              _mm256_fmadd_ps(_mm256_set1_ps(static_cast<float>(c)), _mm256_mul_ps(m[h], dx), acc[t][h]);
      }
    }
  }
  alignas(32) float out[R];
  for (int t = 0; t < NT; ++t) {
    _mm256_store_ps(out, acc[t][0]);
    _mm256_store_ps(out + 8, acc[t][1]);
    std::memcpy(y + t * ldy, out, sizeof(float) * last_rows);
  }
}

template <DType DT>
void matmul_dtype(const Tensor& w, const MatmulInput& in, int64_t tile_begin, int64_t tile_end, float* y,
                  int64_t ldy) {
  constexpr int NT = 2;
  const int64_t nb = w.cols / kQuantBlock;
  constexpr int64_t kTokBlock = 128;
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

}  // namespace qwen3::kernels::avx2
