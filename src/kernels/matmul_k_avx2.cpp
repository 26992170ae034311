// AVX2 k-quant matmul: Q2_K, Q3_K, Q4_K, Q5_K and Q6_K blocks read as stored (pack.h), unpacked in
// registers 32 values at a time, times int8 activations (quant_k.h): vpmaddubsw (unsigned weights x signed
// activations, pair sums at most 2 x 63 x 127, no saturation), vpmaddwd by the sub-block scale, one int32 sum
// per row and token (exact), then quant_k.h's two fused multiply-adds. The same bits as the scalar reference
// (tests/kernels/matmul_test.cpp).
#include <immintrin.h>

#include <algorithm>
#include <cmath>
#include <cstddef>
#include <cstring>

#include "core/half.h"
#include "kernels/matmul_k.h"
#include "kernels/quant_k.h"

namespace qwen3::kernels::avx2 {

namespace {

constexpr int R = kTileRows;

inline int32_t hsum(__m256i v) {
  __m128i s = _mm_add_epi32(_mm256_castsi256_si128(v), _mm256_extracti128_si256(v, 1));
  s = _mm_add_epi32(s, _mm_shuffle_epi32(s, 0x4e));
  s = _mm_add_epi32(s, _mm_shuffle_epi32(s, 0xb1));
  return _mm_cvtsi128_si32(s);
}

// One row's super-block: the 256 values in natural order, 32 per vector, and the int16 scale of each
// vector's two halves (16 values each).
struct Unpacked {
  __m256i w[8], sc[8];
  int32_t mins[8];   // Q4_K/Q5_K
  int32_t gmin[16];  // Q2_K: group mins
  int8_t gsc[16];    // Q3_K/Q6_K: group scales
};

template <DType DT>
inline void unpack(const uint8_t* blk, Unpacked& u) {
  const __m256i low4 = _mm256_set1_epi8(0x0f);
  if constexpr (DT == DType::kQ2_K || DT == DType::kQ3_K) {
    // vector k = 4h + s: the 2-bit fields s of qs[32h..32h+31] (quant_k_low.cpp), Q3_K's hmask bit k at 4
    const bool q3 = DT == DType::kQ3_K;
    const uint8_t* qs = blk + (q3 ? offsetof(BlockQ3_K, qs) : offsetof(BlockQ2_K, qs));
    const __m256i three = _mm256_set1_epi8(3);
    __m256i hm;
    if constexpr (DT == DType::kQ3_K) hm = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(blk));
    uint8_t sc[16];
    if constexpr (DT == DType::kQ3_K) {
      unpack_scales_q3_k(blk + offsetof(BlockQ3_K, scales), sc);
      for (int g = 0; g < 16; ++g) u.gsc[g] = static_cast<int8_t>(sc[g] - 32);
    } else {
      for (int g = 0; g < 16; ++g) {
        sc[g] = blk[g] & 0x0f;
        u.gmin[g] = blk[g] >> 4;
      }
    }
    for (int k = 0; k < 8; ++k) {
      const __m256i q = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(qs + 32 * (k / 4)));
      u.w[k] = _mm256_and_si256(_mm256_srl_epi16(q, _mm_cvtsi32_si128(2 * (k % 4))), three);
      if constexpr (DT == DType::kQ3_K) {
        const __m256i bit = _mm256_set1_epi8(static_cast<char>(1 << k));
        const __m256i set = _mm256_cmpeq_epi8(_mm256_and_si256(hm, bit), bit);
        u.w[k] = _mm256_or_si256(u.w[k], _mm256_and_si256(set, _mm256_set1_epi8(4)));
        u.sc[k] = _mm256_set_m128i(_mm_set1_epi16(u.gsc[2 * k + 1]), _mm_set1_epi16(u.gsc[2 * k]));
      } else {
        u.sc[k] = _mm256_set_m128i(_mm_set1_epi16(sc[2 * k + 1]), _mm_set1_epi16(sc[2 * k]));
      }
    }
  } else if constexpr (DT == DType::kQ6_K) {
    const BlockQ6_K* b = reinterpret_cast<const BlockQ6_K*>(blk);
    const __m256i three = _mm256_set1_epi8(3);
    for (int k = 0; k < 8; ++k) {  // values 32k..32k+31: half h, quarter s
      const int h = k / 4, s = k % 4;
      const __m256i l = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(b->ql + 64 * h + 32 * (s & 1)));
      const __m256i qh = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(b->qh + 32 * h));
      const __m256i lo = s < 2 ? _mm256_and_si256(l, low4) : _mm256_and_si256(_mm256_srli_epi16(l, 4), low4);
      const __m256i hi = _mm256_and_si256(_mm256_srl_epi16(qh, _mm_cvtsi32_si128(2 * s)), three);
      u.w[k] = _mm256_or_si256(lo, _mm256_slli_epi16(hi, 4));
      u.sc[k] = _mm256_set_m128i(_mm_set1_epi16(b->scales[2 * k + 1]), _mm_set1_epi16(b->scales[2 * k]));
    }
    std::memcpy(u.gsc, b->scales, 16);
  } else {
    uint8_t sc[8], m[8];
    unpack_scales_k4(blk + 4, sc, m);
    const uint8_t* qs = blk + (DT == DType::kQ5_K ? 48 : 16);
    __m256i qh;
    if constexpr (DT == DType::kQ5_K) qh = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(blk + 16));
    for (int j = 0; j < 8; ++j) {
      const __m256i q = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(qs + 32 * (j / 2)));
      u.w[j] = j % 2 ? _mm256_and_si256(_mm256_srli_epi16(q, 4), low4) : _mm256_and_si256(q, low4);
      if constexpr (DT == DType::kQ5_K) {
        const __m256i bit = _mm256_set1_epi8(static_cast<char>(1 << j));
        const __m256i set = _mm256_cmpeq_epi8(_mm256_and_si256(qh, bit), bit);
        u.w[j] = _mm256_or_si256(u.w[j], _mm256_and_si256(set, _mm256_set1_epi8(16)));
      }
      u.sc[j] = _mm256_set1_epi16(sc[j]);
      u.mins[j] = m[j];
    }
  }
}

template <DType DT>
void matmul_k_dtype(const Tensor& w, const MatmulInput& in, int64_t tile_begin, int64_t tile_end, float* y,
                    int64_t ldy) {
  constexpr int NT = 4;
  const size_t bb = dtype_row_bytes(DT, kSuperBlock);
  const int64_t nb = w.cols / kSuperBlock, ng = w.cols / kKGroup;
  for (int64_t ti = tile_begin; ti < tile_end; ++ti) {
    const uint8_t* tile = w.tile(ti);
    const int n_rows = static_cast<int>(std::min<int64_t>(R, w.rows - ti * R));
    for (int64_t t0 = 0; t0 < in.n_tok; t0 += NT) {
      const int nt = static_cast<int>(std::min<int64_t>(NT, in.n_tok - t0));
      float acc[NT][R] = {};
      for (int64_t b = 0; b < nb; ++b) {
        for (int r = 0; r < n_rows; ++r) {
          const uint8_t* blk = tile + (b * R + r) * bb;
          if (in.n_tok == 1)
            for (size_t line = 0; line < bb; line += 64) prefetch_ahead(blk + line);
          Unpacked u;
          unpack<DT>(blk, u);
          uint16_t d16, dmin16;
          superblock_scales_k(DT, blk, &d16, &dmin16);
          const float d = f16_to_f32(d16), dmin = f16_to_f32(dmin16);
          for (int t = 0; t < nt; ++t) {
            const int8_t* xq = in.xq + (t0 + t) * w.cols + b * kSuperBlock;
            const int32_t* xs = in.xc + (t0 + t) * ng + b * (kSuperBlock / kKGroup);
            __m256i s = _mm256_setzero_si256();
            for (int k = 0; k < 8; ++k) {
              const __m256i x = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(xq + 32 * k));
              s = _mm256_add_epi32(s, _mm256_madd_epi16(_mm256_maddubs_epi16(u.w[k], x), u.sc[k]));
            }
            int32_t isum = hsum(s), msum = 0;
            if constexpr (DT == DType::kQ6_K || DT == DType::kQ3_K) {  // the offset 32 or 4 of the values
              constexpr int off = DT == DType::kQ6_K ? 32 : 4;
              for (int g = 0; g < 16; ++g) isum -= off * u.gsc[g] * xs[g];
            } else if constexpr (DT == DType::kQ2_K) {
              for (int g = 0; g < 16; ++g) msum += u.gmin[g] * xs[g];
            } else {
              for (int j = 0; j < 8; ++j) msum += u.mins[j] * (xs[2 * j] + xs[2 * j + 1]);
            }
            const float dx = in.xd[(t0 + t) * nb + b];
            float a = std::fma(static_cast<float>(isum), d * dx, acc[t][r]);
            if constexpr (k_quant_has_min(DT)) a = std::fma(static_cast<float>(-msum), dmin * dx, a);
            acc[t][r] = a;
          }
        }
      }
      for (int t = 0; t < nt; ++t)
        for (int r = 0; r < n_rows; ++r) y[(t0 + t) * ldy + ti * R + r] = acc[t][r];
    }
  }
}

}  // namespace

void matmul_k_tiles(const Tensor& w, const MatmulInput& in, int64_t tile_begin, int64_t tile_end, float* y,
                    int64_t ldy) {
  switch (w.dtype) {
    case DType::kQ2_K:
      return matmul_k_dtype<DType::kQ2_K>(w, in, tile_begin, tile_end, y, ldy);
    case DType::kQ3_K:
      return matmul_k_dtype<DType::kQ3_K>(w, in, tile_begin, tile_end, y, ldy);
    case DType::kQ4_K:
      return matmul_k_dtype<DType::kQ4_K>(w, in, tile_begin, tile_end, y, ldy);
    case DType::kQ5_K:
      return matmul_k_dtype<DType::kQ5_K>(w, in, tile_begin, tile_end, y, ldy);
    default:
      return matmul_k_dtype<DType::kQ6_K>(w, in, tile_begin, tile_end, y, ldy);
  }
}

}  // namespace qwen3::kernels::avx2
