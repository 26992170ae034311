// AVX2/FMA/F16C kernels: matmul over tiled weights (layouts in pack.h), for CPUs without AVX-512. A 16-row
// tile is two ymm halves; one accumulator lane per (row, token), never reduced across lanes, so every output
// element follows the scalar reference's sequence of fused multiply-adds (kernels.h). q8_0/q4_0 use the
// maddubs/madd pair on int8 activations; for q8_0 the unsigned stored weight is turned back into its signed
// value and its sign moved onto the activation (|w| * sign(x, w)), so the 16-bit pair sums cannot saturate.
// Tests: tests/kernels/matmul_test.cpp (bitwise equal to the scalar reference).
// GCC 12 reports its own intrinsics' deliberately undefined registers (_mm512_undefined_ps) as uninitialised
// once inlined; the warning is about the headers, not this code.
#pragma GCC diagnostic ignored "-Wuninitialized"
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#include <immintrin.h>

#include <algorithm>
#include <cstring>

#include "core/file.h"
#include "kernels/bf16_avx2.h"
#include "kernels/elementwise_impl.h"
#include "kernels/kernels.h"
#include "kernels/matmul_fp8.h"
#include "kernels/matmul_k.h"
#include "kernels/quant_k.h"
#include "kernels/quant_legacy.h"

namespace qwen3::kernels::avx2 {

namespace {

constexpr int R = kTileRows;

struct Block {
  const uint8_t* tile;
  int64_t cols;
  const float* x;
  int64_t ldx;
  const uint16_t* xb;  // bf16 activations (bf16 weights)
  int64_t ldxb;
  const int8_t* xq;
  const float* xd;
  const int32_t* xc;  // the weight offset's share of each block's sum (MatmulInput)
  float* y;
  int64_t ldy;
  int n_rows;  // valid rows of the tile
};

template <int NT>
inline void store(const Block& b, const __m256 (&acc)[2][NT]) {
  for (int t = 0; t < NT; ++t) {
    float* out = b.y + t * b.ldy;
    if (b.n_rows == R) {
      _mm256_storeu_ps(out, acc[0][t]);
      _mm256_storeu_ps(out + 8, acc[1][t]);
    } else {
      alignas(32) float tmp[R];
      _mm256_store_ps(tmp, acc[0][t]);
      _mm256_store_ps(tmp + 8, acc[1][t]);
      std::memcpy(out, tmp, static_cast<size_t>(b.n_rows) * 4);
    }
  }
}

inline __m256 load_f16x8(const uint8_t* p) {
  return _mm256_cvtph_ps(_mm_loadu_si128(reinterpret_cast<const __m128i*>(p)));
}

// One column pair of a bf16 tile (16 rows x 2 columns, 64 bytes) widened to f32: w0 the even column, w1 the
// odd one, each as two ymm halves of 8 rows. Widening bf16 is a 16-bit shift (or a mask).
inline void widen_bf16_pairs(const uint8_t* p, __m256 (&w0)[2], __m256 (&w1)[2]) {
  const __m256i hi_mask = _mm256_set1_epi32(static_cast<int>(0xffff0000u));
  for (int h = 0; h < 2; ++h) {
    __m256i v = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(p + h * 32));
    w0[h] = _mm256_castsi256_ps(_mm256_slli_epi32(v, 16));
    w1[h] = _mm256_castsi256_ps(_mm256_and_si256(v, hi_mask));
  }
}

template <DType DT, int NT>
void float_block(const Block& b) {
  __m256 acc[2][NT];
  for (int h = 0; h < 2; ++h)
    for (int t = 0; t < NT; ++t) acc[h][t] = _mm256_setzero_ps();
  const int64_t K = b.cols;
  if constexpr (DT == DType::kBF16) {
    for (int64_t k = 0; k < K; k += 2) {
      __m256 w0[2], w1[2];
      if constexpr (NT == 1) prefetch_ahead(b.tile + k * R * 2);
      widen_bf16_pairs(b.tile + k * R * 2, w0, w1);
      const bool pair = k + 1 < K;  // odd cols: the last pair has only its even column
      for (int t = 0; t < NT; ++t) {
        const __m256 x0 = _mm256_set1_ps(b.x[t * b.ldx + k]);
        for (int h = 0; h < 2; ++h) acc[h][t] = _mm256_fmadd_ps(w0[h], x0, acc[h][t]);
        if (pair) {
          const __m256 x1 = _mm256_set1_ps(b.x[t * b.ldx + k + 1]);
          for (int h = 0; h < 2; ++h) acc[h][t] = _mm256_fmadd_ps(w1[h], x1, acc[h][t]);
        }
      }
    }
  } else {
    for (int64_t k = 0; k < K; ++k) {
      __m256 w[2];
      constexpr int64_t kColBytes = DT == DType::kF32 ? 4 * R : 2 * R;  // f16: a line per two columns
      if (NT == 1 && (DT == DType::kF32 || (k & 1) == 0)) prefetch_ahead(b.tile + k * kColBytes);
      for (int h = 0; h < 2; ++h) {
        if constexpr (DT == DType::kF32)
          w[h] = _mm256_loadu_ps(reinterpret_cast<const float*>(b.tile + k * R * 4 + h * 32));
        else
          w[h] = load_f16x8(b.tile + k * R * 2 + h * 16);
      }
      for (int t = 0; t < NT; ++t) {
        const __m256 xv = _mm256_set1_ps(b.x[t * b.ldx + k]);
        for (int h = 0; h < 2; ++h) acc[h][t] = _mm256_fmadd_ps(w[h], xv, acc[h][t]);
      }
    }
  }
  store<NT>(b, acc);
}

// bf16 weights times bf16 activations: AVX-512 BF16's vdpbf16ps emulated step for step (kernels.h), per pair
// the odd product first (odd cols: both operands' pad halves are zero). b.x holds the bf16 activations
// widened to f32 (exact; matmul_dtype widens a block of tokens once per thread), so each step broadcasts
// from memory: the two dependent fused multiply-adds per pair and accumulator make 5 tokens (10
// accumulators) the least that keeps both FMA pipes busy (4 tokens, widening in the loop: 52 % of the FMA
// peak on a Zen 3 prompt).
template <int NT>
void bf16_dot_block(const Block& b) {
  __m256 acc[2][NT];
  for (int h = 0; h < 2; ++h)
    for (int t = 0; t < NT; ++t) acc[h][t] = _mm256_setzero_ps();
  for (int64_t k = 0; k < b.cols; k += 2) {
    __m256 w0[2], w1[2];
    if constexpr (NT == 1) prefetch_ahead(b.tile + k * R * 2);
    widen_bf16_pairs(b.tile + k * R * 2, w0, w1);
    for (int t = 0; t < NT; ++t) {
      const float* x = b.x + t * b.ldx + k;
      const __m256 x1 = _mm256_broadcast_ss(x + 1);
      for (int h = 0; h < 2; ++h) acc[h][t] = _mm256_fmadd_ps(w1[h], x1, acc[h][t]);
      const __m256 x0 = _mm256_broadcast_ss(x);
      for (int h = 0; h < 2; ++h) acc[h][t] = _mm256_fmadd_ps(w0[h], x0, acc[h][t]);
    }
  }
  store<NT>(b, acc);
}

inline __m256i bcast4(const int8_t* p) {
  int32_t v;
  std::memcpy(&v, p, 4);
  return _mm256_set1_epi32(v);
}

template <DType DT, int NT>
void quant_block(const Block& b) {
  constexpr size_t kBlockBytes = DT == DType::kQ8_0 ? R * sizeof(BlockQ8_0) : R * sizeof(BlockQ4_0);
  const int64_t nb = b.cols / kQuantBlock;
  const __m256i ones = _mm256_set1_epi16(1), low4 = _mm256_set1_epi8(0x0f), flip = _mm256_set1_epi8(-128);
  __m256 acc[2][NT];
  for (int h = 0; h < 2; ++h)
    for (int t = 0; t < NT; ++t) acc[h][t] = _mm256_setzero_ps();
  for (int64_t blk = 0; blk < nb; ++blk) {
    __m256i dot[2][NT];
    const uint8_t* q = b.tile + blk * kBlockBytes + 2 * R;
    const int8_t* xq = b.xq + blk * kQuantBlock;
    if constexpr (DT == DType::kQ8_0) {
      for (int h = 0; h < 2; ++h)
        for (int t = 0; t < NT; ++t) dot[h][t] = _mm256_setzero_si256();
      for (int g = 0; g < 8; ++g) {
        __m256i ws[2], wabs[2];
        if constexpr (NT == 1) prefetch_ahead(q + g * 64);
        for (int h = 0; h < 2; ++h) {
          ws[h] = _mm256_xor_si256(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(q + g * 64 + h * 32)),
                                   flip);
          wabs[h] = _mm256_abs_epi8(ws[h]);
        }
        for (int t = 0; t < NT; ++t) {
          const __m256i xv = bcast4(xq + t * b.cols + 4 * g);
          for (int h = 0; h < 2; ++h) {
            const __m256i p16 = _mm256_maddubs_epi16(wabs[h], _mm256_sign_epi8(xv, ws[h]));
            dot[h][t] = _mm256_add_epi32(dot[h][t], _mm256_madd_epi16(p16, ones));
          }
        }
      }
    } else {
      for (int t = 0; t < NT; ++t) {
        const __m256i init = _mm256_set1_epi32(b.xc[t * nb + blk]);
        for (int h = 0; h < 2; ++h) dot[h][t] = init;
      }
      for (int g = 0; g < 4; ++g) {
        __m256i lo[2], hi[2];
        if constexpr (NT == 1) prefetch_ahead(q + g * 64);
        for (int h = 0; h < 2; ++h) {
          const __m256i v = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(q + g * 64 + h * 32));
          lo[h] = _mm256_and_si256(v, low4);
          hi[h] = _mm256_and_si256(_mm256_srli_epi16(v, 4), low4);
        }
        for (int t = 0; t < NT; ++t) {
          const __m256i x0 = bcast4(xq + t * b.cols + 8 * g), x1 = bcast4(xq + t * b.cols + 8 * g + 4);
          for (int h = 0; h < 2; ++h) {
            // nibbles are at most 15, so the pair sums stay far from 16-bit saturation
            const __m256i p16 =
                _mm256_add_epi16(_mm256_maddubs_epi16(lo[h], x0), _mm256_maddubs_epi16(hi[h], x1));
            dot[h][t] = _mm256_add_epi32(dot[h][t], _mm256_madd_epi16(p16, ones));
          }
        }
      }
    }
    for (int h = 0; h < 2; ++h) {
      const __m256 dw = load_f16x8(b.tile + blk * kBlockBytes + h * 16);
      for (int t = 0; t < NT; ++t) {
        const __m256 scale = _mm256_mul_ps(dw, _mm256_set1_ps(b.xd[t * nb + blk]));
        acc[h][t] = _mm256_fmadd_ps(_mm256_cvtepi32_ps(dot[h][t]), scale, acc[h][t]);
      }
    }
  }
  store<NT>(b, acc);
}

template <DType DT, int NT>
void run_block(int nt, const Block& b) {
  if constexpr (NT > 1) {
    if (nt < NT) return run_block<DT, NT - 1>(nt, b);
  }
  if constexpr (DT == DType::kQ8_0 || DT == DType::kQ4_0)
    quant_block<DT, NT>(b);
  else if (DT == DType::kBF16 && b.xb)
    bf16_dot_block<NT>(b);
  else
    float_block<DT, NT>(b);
}

// The first k values of n rows of bf16 activations (row stride ld) widened to f32 into rows of k.
void widen_bf16_rows(const uint16_t* xb, int64_t n, int64_t ld, int64_t k, float* out) {
  for (int64_t t = 0; t < n; ++t) widen_bf16(xb + t * ld, k, out + t * k);
}

template <DType DT>
void matmul_dtype(const Tensor& w, const MatmulInput& in, int64_t tile_begin, int64_t tile_end, float* y,
                  int64_t ldy) {
  // 16 ymm registers: 2 halves x NT accumulators (+ NT int32 sums for the quantised types) and the operands.
  constexpr bool kQuant = DT == DType::kQ8_0 || DT == DType::kQ4_0;
  const bool bf16_dot = DT == DType::kBF16 && in.xb;
  constexpr int NT = kQuant ? 2 : DT == DType::kBF16 ? 5 : 4;
  Block b;
  b.cols = w.cols;
  const int64_t kw = w.cols + (w.cols & 1);  // bf16_dot: the widened values of a row, the pad included
  b.ldx = bf16_dot ? kw : in.ldx;
  b.ldxb = in.ldxb;
  b.ldy = ldy;
  const int64_t nb = w.cols / kQuantBlock;
  // activations of a token block stay in L2 (see kernels_avx512.cpp); whole groups of NT tokens
  constexpr int64_t kTokBlock = NT == 5 ? 40 : 48;
  thread_local HugeVector<float> widened;  // bf16_dot: the token block's activations as f32
  for (int64_t tb = 0; tb < in.n_tok; tb += kTokBlock) {
    const int64_t te = std::min(in.n_tok, tb + kTokBlock);
    if (bf16_dot) {
      if (widened.size() < static_cast<size_t>((te - tb) * kw)) widened.resize((te - tb) * kw);
      widen_bf16_rows(in.xb + tb * in.ldxb, te - tb, in.ldxb, kw, widened.data());
    }
    for (int64_t ti = tile_begin; ti < tile_end; ++ti) {
      b.tile = w.tile(ti);
      b.n_rows = static_cast<int>(std::min<int64_t>(R, w.rows - ti * R));
      for (int64_t t0 = tb; t0 < te; t0 += NT) {
        const int nt = static_cast<int>(std::min<int64_t>(NT, te - t0));
        b.x = bf16_dot ? widened.data() + (t0 - tb) * kw : in.x + t0 * in.ldx;
        b.xb = in.xb ? in.xb + t0 * in.ldxb : nullptr;
        b.xq = in.xq ? in.xq + t0 * w.cols : nullptr;
        b.xd = in.xd ? in.xd + t0 * nb : nullptr;
        b.xc = in.xc ? in.xc + t0 * nb : nullptr;
        b.y = y + t0 * ldy + ti * R;
        run_block<DT, NT>(nt, b);
      }
    }
  }
}

void matmul_tiles(const Tensor& w, const MatmulInput& in, int64_t tile_begin, int64_t tile_end, float* y,
                  int64_t ldy) {
  switch (w.dtype) {
    case DType::kF8E4M3:
      return matmul_fp8_tiles(w, in, tile_begin, tile_end, y, ldy);
    case DType::kF32:
      return matmul_dtype<DType::kF32>(w, in, tile_begin, tile_end, y, ldy);
    case DType::kF16:
      return matmul_dtype<DType::kF16>(w, in, tile_begin, tile_end, y, ldy);
    case DType::kBF16:
      return matmul_dtype<DType::kBF16>(w, in, tile_begin, tile_end, y, ldy);
    case DType::kQ8_0:
      return matmul_dtype<DType::kQ8_0>(w, in, tile_begin, tile_end, y, ldy);
    case DType::kQ4_0:
      return matmul_dtype<DType::kQ4_0>(w, in, tile_begin, tile_end, y, ldy);
    case DType::kQ2_K:
    case DType::kQ3_K:
    case DType::kQ4_K:
    case DType::kQ5_K:
    case DType::kQ6_K:
      return matmul_k_tiles(w, in, tile_begin, tile_end, y, ldy);
    case DType::kQ4_1:
    case DType::kQ5_0:
    case DType::kQ5_1:
      return matmul_legacy_tiles(w, in, tile_begin, tile_end, y, ldy);
  }
}

void to_f16(const float* x, int64_t n, uint16_t* out) {
  int64_t i = 0;
  for (; i + 8 <= n; i += 8)
    _mm_storeu_si128(reinterpret_cast<__m128i*>(out + i),
                     _mm256_cvtps_ph(_mm256_loadu_ps(x + i), _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC));
  if (i < n) scalar::to_f16(x + i, n - i, out + i);
}

void round_bf16(const float* x, int64_t n, uint16_t* out) {
  int64_t i = 0;
  for (; i + 16 <= n; i += 16) {
    const __m256i lo = bf16_bits(_mm256_loadu_ps(x + i)), hi = bf16_bits(_mm256_loadu_ps(x + i + 8));
    // packus interleaves the 128-bit lanes; the permute restores the order
    _mm256_storeu_si256(reinterpret_cast<__m256i*>(out + i),
                        _mm256_permute4x64_epi64(_mm256_packus_epi32(lo, hi), 0xd8));
  }
  if (i < n) scalar::round_bf16(x + i, n - i, out + i);
}

// 32 int32 values (q[0] the first 8) as 32 bytes, saturated to [-128, 127] (values in range only narrow);
// the packs interleave the 128-bit lanes, the permute undoes it.
inline void store_i8x32(const __m256i (&q)[4], int8_t* out) {
  const __m256i p = _mm256_packs_epi16(_mm256_packs_epi32(q[0], q[1]), _mm256_packs_epi32(q[2], q[3]));
  _mm256_storeu_si256(reinterpret_cast<__m256i*>(out),
                      _mm256_permutevar8x32_epi32(p, _mm256_setr_epi32(0, 4, 1, 5, 2, 6, 3, 7)));
}

// quantize_activations per 32-block, 8 lanes at a time: the same max (a NaN never wins, as std::max keeps
// the maximum so far), division, product and round-to-nearest-even conversion, so the same bytes and sums.
// |v * id| <= 127 but for a NaN, whose conversion gives INT_MIN: its low byte (0) is kept, as the scalar
// code's cast gives it on x86 and the AVX-512 form's truncating vpmovdb does.
void quantize_act(const float* x, int64_t n, int8_t* xq, float* xd, int32_t* xs) {
  const __m256 abs_mask = _mm256_castsi256_ps(_mm256_set1_epi32(0x7fffffff));
  for (int64_t b = 0; b < n / kQuantBlock; ++b) {
    const float* v = x + b * kQuantBlock;
    __m256 xs8[4];
    __m256 m = _mm256_setzero_ps();
    for (int i = 0; i < 4; ++i) {
      xs8[i] = _mm256_loadu_ps(v + 8 * i);
      m = _mm256_max_ps(_mm256_and_ps(xs8[i], abs_mask), m);  // a NaN operand yields m (the second)
    }
    __m128 m4 = _mm_max_ps(_mm256_castps256_ps128(m), _mm256_extractf128_ps(m, 1));
    m4 = _mm_max_ps(m4, _mm_movehl_ps(m4, m4));
    m4 = _mm_max_ss(m4, _mm_movehdup_ps(m4));
    const float d = _mm_cvtss_f32(m4) / 127.0f;
    const float id = d != 0.0f ? 1.0f / d : 0.0f;
    const __m256 vid = _mm256_set1_ps(id);
    __m256i q[4], sum = _mm256_setzero_si256();
    for (int i = 0; i < 4; ++i) {
      q[i] = _mm256_cvtps_epi32(_mm256_mul_ps(xs8[i], vid));      // nearest even (MXCSR's default)
      q[i] = _mm256_srai_epi32(_mm256_slli_epi32(q[i], 24), 24);  // the int8 cast: the low byte
      sum = _mm256_add_epi32(sum, q[i]);
    }
    store_i8x32(q, xq + b * kQuantBlock);
    __m128i s4 = _mm_add_epi32(_mm256_castsi256_si128(sum), _mm256_extracti128_si256(sum, 1));
    s4 = _mm_add_epi32(s4, _mm_shuffle_epi32(s4, 0x4e));
    s4 = _mm_add_epi32(s4, _mm_shuffle_epi32(s4, 0xb1));
    xd[b] = d;
    xs[b] = _mm_cvtsi128_si32(s4);
  }
}

// pack.h's quantize_row_q8_0, 8 lanes at a time, bit for bit: amax as the integer max of |x|'s bits (NaN
// counts as 0), round half away from zero as trunc(y + copysign(0.49999997, y)), the scale through F16C
// (round to nearest even, like f32_to_f16). -std=c++20 keeps y = x * id and the add unfused.
void quantize_row_q8_0(const float* x, int64_t n, BlockQ8_0* out) {
  const __m256i abs_mask = _mm256_set1_epi32(0x7fffffff), inf = _mm256_set1_epi32(0x7f800000);
  const __m256 sign = _mm256_castsi256_ps(_mm256_set1_epi32(INT32_MIN)), half = _mm256_set1_ps(0.49999997f);
  for (int64_t b = 0; b < n / kQuantBlock; ++b) {
    const float* v = x + b * kQuantBlock;
    __m256 xs[4];
    __m256i m = _mm256_setzero_si256();
    for (int i = 0; i < 4; ++i) {
      xs[i] = _mm256_loadu_ps(v + 8 * i);
      __m256i a = _mm256_and_si256(_mm256_castps_si256(xs[i]), abs_mask);
      m = _mm256_max_epi32(m, _mm256_andnot_si256(_mm256_cmpgt_epi32(a, inf), a));
    }
    __m128i m4 = _mm_max_epi32(_mm256_castsi256_si128(m), _mm256_extracti128_si256(m, 1));
    m4 = _mm_max_epi32(m4, _mm_shuffle_epi32(m4, 0x4e));
    m4 = _mm_max_epi32(m4, _mm_shuffle_epi32(m4, 0xb1));
    const float amax = _mm_cvtss_f32(_mm_castsi128_ps(m4));
    const float d = amax / 127.0f;
    const float id = d != 0.0f ? 1.0f / d : 0.0f;
    out[b].scale = static_cast<uint16_t>(_cvtss_sh(d, _MM_FROUND_TO_NEAREST_INT));
    const __m256 vid = _mm256_set1_ps(id);
    __m256i q[4];
    for (int i = 0; i < 4; ++i) {
      const __m256 y = _mm256_mul_ps(xs[i], vid);
      q[i] = _mm256_cvttps_epi32(_mm256_add_ps(y, _mm256_or_ps(_mm256_and_ps(y, sign), half)));
    }
    store_i8x32(q, out[b].q);
  }
}
}  // namespace

const KernelTable kTable = {matmul_tiles,
                            nullptr,
                            round_bf16,
                            to_f16,
                            quantize_row_q8_0,
                            quantize_act,
                            quantize_activations_k,
                            silu_mul_lanes<8>,
                            rmsnorm_lanes<8>,
                            rope_neox_lanes<8>,
                            add_lanes<8>,
                            add_scaled_lanes<8>};

}  // namespace qwen3::kernels::avx2
