// AVX-512 kernels (F/BW/VL/DQ + VNNI): matmul over tiled weights (layouts in pack.h). One zmm lane per output
// row, one accumulator per (16-row tile, token): a register block of NR tiles x NT tokens shares each weight
// load among NT tokens and each activation broadcast among NR tiles, and no lane is ever reduced with
// another, so every output element follows exactly the scalar reference's sequence of fused multiply-adds
// (kernels.h) whatever the batch. q8_0/q4_0 take int8 activations through vpdpbusd (unsigned weights x signed
// activations, exact int32 sums; the weight offset, 128 or 8, is removed with the activation block sums).
// Tests: tests/kernels/matmul_test.cpp (bitwise equal to the scalar reference).
// GCC 12 reports its own intrinsics' deliberately undefined registers (_mm512_undefined_ps) as uninitialised
// once inlined; the warning is about the headers, not this code.
#pragma GCC diagnostic ignored "-Wuninitialized"
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#include <immintrin.h>

#include <algorithm>
#include <cstring>

#include "kernels/elementwise_impl.h"
#include "kernels/kernels.h"
#include "kernels/matmul_fp8.h"
#include "kernels/matmul_k.h"
#include "kernels/quant_k.h"
#include "kernels/quant_legacy.h"
#include "kernels/reduce16_avx512.h"

namespace qwen3::kernels::avx512 {

namespace {

constexpr int R = kTileRows;

// One register block: NR tiles (`tile`, then `tile2`: the next tile of the matrix, or the up projection's
// tile of the same rows for the fused SiLU below), NT consecutive tokens starting at x / xq.
struct Block {
  const uint8_t* tile;
  const uint8_t* tile2;
  int64_t cols;
  const float* x;
  int64_t ldx;
  const uint16_t* xb;  // [NT, ldxb] bf16 activations (bf16 weights)
  int64_t ldxb;
  const int8_t* xq;   // [NT, cols]
  const float* xd;    // [NT, cols / 32]
  const int32_t* xc;  // [NT, cols / 32] the weight offset's share of each block's sum (MatmulInput)
  float* y;           // y[t * ldy + 16 * r + lane]
  int64_t ldy;
  int last_rows;  // valid rows of the block's last tile (16 unless it is the matrix's last, partial tile)
  bool silu;      // tile2 is up's: store silu(gate) * up (elementwise_impl.h) of the two, at the gate's rows
};

inline const uint8_t* tile_at(const Block& b, int r) {
  return r ? b.tile2 : b.tile;
}

template <int NR, int NT>
inline void store(const Block& b, const __m512 (&acc)[NR][NT]) {
  if constexpr (NR == 2) {
    if (b.silu) {
      const __mmask16 rows = static_cast<__mmask16>((1u << b.last_rows) - 1);
      for (int t = 0; t < NT; ++t) {
        Lanes<16>::F g, u;
        std::memcpy(&g, &acc[0][t], sizeof g);
        std::memcpy(&u, &acc[1][t], sizeof u);
        const Lanes<16>::F h = Lanes<16>::silu_mul(g, u);
        __m512 hv;
        std::memcpy(&hv, &h, sizeof hv);
        _mm512_mask_storeu_ps(b.y + t * b.ldy, rows, hv);
      }
      return;
    }
  }
  for (int t = 0; t < NT; ++t)
    for (int r = 0; r < NR; ++r) {
      float* out = b.y + t * b.ldy + r * R;
      if (r + 1 < NR || b.last_rows == R)
        _mm512_storeu_ps(out, acc[r][t]);
      else
        _mm512_mask_storeu_ps(out, static_cast<__mmask16>((1u << b.last_rows) - 1), acc[r][t]);
    }
}

template <DType DT, int NR, int NT>
void float_block(const Block& b) {
  __m512 acc[NR][NT];
  for (int r = 0; r < NR; ++r)
    for (int t = 0; t < NT; ++t) acc[r][t] = _mm512_setzero_ps();
  const int64_t K = b.cols;
  if constexpr (DT == DType::kBF16) {
    // A 64-byte step holds columns k, k+1 of 16 rows; widening bf16 to f32 is a 16-bit shift (or a mask).
    const __m512i hi_mask = _mm512_set1_epi32(static_cast<int>(0xffff0000u));
    int64_t k = 0;
    for (; k + 2 <= K; k += 2) {
      __m512 w0[NR], w1[NR];
      for (int r = 0; r < NR; ++r) {
        if constexpr (NT == 1) prefetch_ahead(tile_at(b, r) + k * R * 2);
        __m512i v = _mm512_loadu_si512(tile_at(b, r) + k * R * 2);
        w0[r] = _mm512_castsi512_ps(_mm512_slli_epi32(v, 16));
        w1[r] = _mm512_castsi512_ps(_mm512_and_si512(v, hi_mask));
      }
      for (int t = 0; t < NT; ++t) {
        const __m512 x0 = _mm512_set1_ps(b.x[t * b.ldx + k]);
        for (int r = 0; r < NR; ++r) acc[r][t] = _mm512_fmadd_ps(w0[r], x0, acc[r][t]);
        const __m512 x1 = _mm512_set1_ps(b.x[t * b.ldx + k + 1]);
        for (int r = 0; r < NR; ++r) acc[r][t] = _mm512_fmadd_ps(w1[r], x1, acc[r][t]);
      }
    }
    if (k < K) {  // odd cols: the last pair has only its even column
      __m512 w0[NR];
      for (int r = 0; r < NR; ++r)
        w0[r] = _mm512_castsi512_ps(_mm512_slli_epi32(_mm512_loadu_si512(tile_at(b, r) + k * R * 2), 16));
      for (int t = 0; t < NT; ++t) {
        const __m512 x0 = _mm512_set1_ps(b.x[t * b.ldx + k]);
        for (int r = 0; r < NR; ++r) acc[r][t] = _mm512_fmadd_ps(w0[r], x0, acc[r][t]);
      }
    }
  } else {
    for (int64_t k = 0; k < K; ++k) {
      __m512 w[NR];
      for (int r = 0; r < NR; ++r) {
        const uint8_t* p = tile_at(b, r);
        constexpr int64_t kColBytes = DT == DType::kF32 ? 4 * R : 2 * R;  // f16: a line per two columns
        if (NT == 1 && (DT == DType::kF32 || (k & 1) == 0)) prefetch_ahead(p + k * kColBytes);
        if constexpr (DT == DType::kF32)
          w[r] = _mm512_loadu_ps(p + k * R * 4);
        else
          w[r] = _mm512_cvtph_ps(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(p + k * R * 2)));
      }
      for (int t = 0; t < NT; ++t) {
        const __m512 xv = _mm512_set1_ps(b.x[t * b.ldx + k]);
        for (int r = 0; r < NR; ++r) acc[r][t] = _mm512_fmadd_ps(w[r], xv, acc[r][t]);
      }
    }
  }
  store<NR, NT>(b, acc);
}

// bf16 weights times bf16 activations (kernels.h): one vdpbf16ps per (tile, token) and column pair, with the
// token's activation pair broadcast (odd cols: both operands' pad halves are zero). Twice the multiply-adds
// per instruction of the f32 path, and no widening of the weights.
template <int NR, int NT>
void bf16_dot_block(const Block& b) {
  __m512 acc[NR][NT];
  for (int r = 0; r < NR; ++r)
    for (int t = 0; t < NT; ++t) acc[r][t] = _mm512_setzero_ps();
  for (int64_t k = 0; k < b.cols; k += 2) {
    __m512bh w[NR];
    for (int r = 0; r < NR; ++r) {
      if constexpr (NT == 1) prefetch_ahead(tile_at(b, r) + k * R * 2);
      w[r] = reinterpret_cast<__m512bh>(_mm512_loadu_si512(tile_at(b, r) + k * R * 2));
    }
    for (int t = 0; t < NT; ++t) {
      uint32_t pair;
      std::memcpy(&pair, b.xb + t * b.ldxb + k, 4);
      const __m512bh xv = reinterpret_cast<__m512bh>(_mm512_set1_epi32(static_cast<int>(pair)));
      for (int r = 0; r < NR; ++r) acc[r][t] = _mm512_dpbf16_ps(acc[r][t], w[r], xv);
    }
  }
  store<NR, NT>(b, acc);
}

inline __m512i bcast4(const int8_t* p) {
  int32_t v;
  std::memcpy(&v, p, 4);
  return _mm512_set1_epi32(v);
}

template <DType DT, int NR, int NT>
void quant_block(const Block& b) {
  constexpr size_t kBlockBytes = DT == DType::kQ8_0 ? R * sizeof(BlockQ8_0) : R * sizeof(BlockQ4_0);
  const int64_t nb = b.cols / kQuantBlock;
  const __m512i low4 = _mm512_set1_epi8(0x0f);
  __m512 acc[NR][NT];
  for (int r = 0; r < NR; ++r)
    for (int t = 0; t < NT; ++t) acc[r][t] = _mm512_setzero_ps();
  for (int64_t blk = 0; blk < nb; ++blk) {
    __m512i dot[NR][NT];
    for (int t = 0; t < NT; ++t) {
      const __m512i init = _mm512_set1_epi32(b.xc[t * nb + blk]);
      for (int r = 0; r < NR; ++r) dot[r][t] = init;
    }
    const size_t q = blk * kBlockBytes + 2 * R;  // this block's quants in each tile
    const int8_t* xq = b.xq + blk * kQuantBlock;
    if constexpr (DT == DType::kQ8_0) {
      // Two chains of four per (tile, token), the odd groups' from zero, added at the end: half the
      // dependent vpdpbusd latency per block, and the same int32 sum (integer addition has no order).
      __m512i odd[NR][NT];
      for (int r = 0; r < NR; ++r)
        for (int t = 0; t < NT; ++t) odd[r][t] = _mm512_setzero_si512();
      auto group = [&](int g, __m512i(&d)[NR][NT]) {
        __m512i w[NR];
        for (int r = 0; r < NR; ++r) {
          if constexpr (NT == 1) prefetch_ahead(tile_at(b, r) + q + g * 64);
          w[r] = _mm512_loadu_si512(tile_at(b, r) + q + g * 64);
        }
        for (int t = 0; t < NT; ++t) {
          const __m512i xv = bcast4(xq + t * b.cols + 4 * g);
          for (int r = 0; r < NR; ++r) d[r][t] = _mm512_dpbusd_epi32(d[r][t], w[r], xv);
        }
      };
      for (int g = 0; g < 8; g += 2) {
        group(g, dot);
        group(g + 1, odd);
      }
      for (int r = 0; r < NR; ++r)
        for (int t = 0; t < NT; ++t) dot[r][t] = _mm512_add_epi32(dot[r][t], odd[r][t]);
    } else {
      __m512i odd[NR][NT];  // the high nibbles' chain, as q8_0's odd groups
      for (int r = 0; r < NR; ++r)
        for (int t = 0; t < NT; ++t) odd[r][t] = _mm512_setzero_si512();
      for (int g = 0; g < 4; ++g) {
        __m512i lo[NR], hi[NR];
        for (int r = 0; r < NR; ++r) {
          if constexpr (NT == 1) prefetch_ahead(tile_at(b, r) + q + g * 64);
          const __m512i v = _mm512_loadu_si512(tile_at(b, r) + q + g * 64);
          lo[r] = _mm512_and_si512(v, low4);
          hi[r] = _mm512_and_si512(_mm512_srli_epi16(v, 4), low4);
        }
        for (int t = 0; t < NT; ++t) {
          const __m512i x0 = bcast4(xq + t * b.cols + 8 * g), x1 = bcast4(xq + t * b.cols + 8 * g + 4);
          for (int r = 0; r < NR; ++r) {
            dot[r][t] = _mm512_dpbusd_epi32(dot[r][t], lo[r], x0);
            odd[r][t] = _mm512_dpbusd_epi32(odd[r][t], hi[r], x1);
          }
        }
      }
      for (int r = 0; r < NR; ++r)
        for (int t = 0; t < NT; ++t) dot[r][t] = _mm512_add_epi32(dot[r][t], odd[r][t]);
    }
    for (int r = 0; r < NR; ++r) {
      const __m512 dw = _mm512_cvtph_ps(
          _mm256_loadu_si256(reinterpret_cast<const __m256i*>(tile_at(b, r) + blk * kBlockBytes)));
      for (int t = 0; t < NT; ++t) {
        const __m512 scale = _mm512_mul_ps(dw, _mm512_set1_ps(b.xd[t * nb + blk]));
        acc[r][t] = _mm512_fmadd_ps(_mm512_cvtepi32_ps(dot[r][t]), scale, acc[r][t]);
      }
    }
  }
  store<NR, NT>(b, acc);
}

template <DType DT, int NR, int NT>
void run_block(int nt, const Block& b) {
  if constexpr (NT > 1) {
    if (nt < NT) return run_block<DT, NR, NT - 1>(nt, b);
  }
  if constexpr (DT == DType::kQ8_0 || DT == DType::kQ4_0)
    quant_block<DT, NR, NT>(b);
  else if (DT == DType::kBF16 && b.xb)
    bf16_dot_block<NR, NT>(b);
  else
    float_block<DT, NR, NT>(b);
}

// Tokens per register block: enough independent accumulators to cover the FMA latency, few enough to stay
// in the 32 zmm registers (quantised blocks also hold the int32 sums). bf16 takes 8: with bf16 activations
// each column pair is then 2 weight loads and 8 broadcasts for 16 vdpbf16ps (bench_matmul, 3072 x 1024,
// 512 tokens, one thread, Zen 5, alternating: 327-352 GFLOP/s at 6 tokens, 339-425 at 8; 12 or more spill).
// The quantised kernels are fastest at 4 (5: -6 %, 6: -15 %).
template <DType DT>
constexpr int kMaxTok = DT == DType::kQ8_0 || DT == DType::kQ4_0 ? 4
                        : DT == DType::kBF16                     ? 8
                                                                 : 6;

// With `up`, tile ti of w (gate) and of up form each register block and y gets silu(gate) * up.
template <DType DT>
void matmul_dtype(const Tensor& w, const Tensor* up, const MatmulInput& in, int64_t tile_begin,
                  int64_t tile_end, float* y, int64_t ldy) {
  constexpr int NT = kMaxTok<DT>;
  Block b;
  b.silu = up != nullptr;
  const size_t tile_bytes = dtype_tile_bytes(w.dtype, w.cols);
  b.cols = w.cols;
  b.ldx = in.ldx;
  b.ldxb = in.ldxb;
  b.ldy = ldy;
  const int64_t nb = w.cols / kQuantBlock;
  // Tokens in blocks of kTokBlock so that a block's activations stay in L2 while every tile pair of the range
  // streams past them (weights are re-read once per token block, activations once per tile pair). 128 int8
  // rows of 3072 are 384 KiB; pp512 q8_0 +2-3 % over 48 (a 512-token prompt read its weights 11 times).
  constexpr int64_t kTokBlock = 128;
  for (int64_t tb = 0; tb < in.n_tok; tb += kTokBlock) {
    const int64_t te = std::min(in.n_tok, tb + kTokBlock);
    // A single token (decode): one tile at a time, so that each thread reads one sequential stream
    // (prefetch_ahead in kernels.h; four tiles side by side, four streams 9-17 KiB apart, read 30 % slower
    // for q4_0 and 10 % for q8_0, compute or not). The grouping of tiles changes no lane's operations.
    const int max_nr = te - tb == 1 || up ? 1 : 2;  // tiles of w per register block
    for (int64_t ti = tile_begin; ti < tile_end; ti += max_nr) {
      const int nr = up ? 2 : static_cast<int>(std::min<int64_t>(max_nr, tile_end - ti));
      b.tile = w.tile(ti);
      b.tile2 = up ? up->tile(ti) : b.tile + tile_bytes;  // (not read when nr is 1)
      b.last_rows = static_cast<int>(std::min<int64_t>(R, w.rows - (ti + (up ? 0 : nr - 1)) * R));
      for (int64_t t0 = tb; t0 < te; t0 += NT) {
        const int nt = static_cast<int>(std::min<int64_t>(NT, te - t0));
        b.x = in.x + t0 * in.ldx;
        b.xb = in.xb ? in.xb + t0 * in.ldxb : nullptr;
        b.xq = in.xq ? in.xq + t0 * w.cols : nullptr;
        b.xd = in.xd ? in.xd + t0 * nb : nullptr;
        b.xc = in.xc ? in.xc + t0 * nb : nullptr;
        b.y = y + t0 * ldy + ti * R;
        switch (nr) {
          case 2:
            run_block<DT, 2, NT>(nt, b);
            break;
          default:
            run_block<DT, 1, NT>(nt, b);
        }
      }
    }
  }
}

void matmul_pair(const Tensor& w, const Tensor* up, const MatmulInput& in, int64_t tile_begin,
                 int64_t tile_end, float* y, int64_t ldy) {
  switch (w.dtype) {
    case DType::kF8E4M3:  // (never with `up`: kernels.cpp runs fp8 gate/up as two matmuls)
      return matmul_fp8_tiles(w, in, tile_begin, tile_end, y, ldy);
    case DType::kF32:
      return matmul_dtype<DType::kF32>(w, up, in, tile_begin, tile_end, y, ldy);
    case DType::kF16:
      return matmul_dtype<DType::kF16>(w, up, in, tile_begin, tile_end, y, ldy);
    case DType::kBF16:
      return matmul_dtype<DType::kBF16>(w, up, in, tile_begin, tile_end, y, ldy);
    case DType::kQ8_0:
      return matmul_dtype<DType::kQ8_0>(w, up, in, tile_begin, tile_end, y, ldy);
    case DType::kQ4_0:
      return matmul_dtype<DType::kQ4_0>(w, up, in, tile_begin, tile_end, y, ldy);
    case DType::kQ2_K:
    case DType::kQ3_K:
    case DType::kQ4_K:
    case DType::kQ5_K:
    case DType::kQ6_K:  // (never with `up`: kernels.cpp runs k-quant gate/up as two matmuls)
      return matmul_k_tiles(w, in, tile_begin, tile_end, y, ldy);
    case DType::kQ4_1:  // (nor these)
    case DType::kQ5_0:
    case DType::kQ5_1:
      return matmul_legacy_tiles(w, in, tile_begin, tile_end, y, ldy);
  }
}

void matmul_tiles(const Tensor& w, const MatmulInput& in, int64_t tile_begin, int64_t tile_end, float* y,
                  int64_t ldy) {
  matmul_pair(w, nullptr, in, tile_begin, tile_end, y, ldy);
}

void matmul_silu_tiles(const Tensor& gate, const Tensor& up, const MatmulInput& in, int64_t tile_begin,
                       int64_t tile_end, float* h, int64_t ldh) {
  matmul_pair(gate, &up, in, tile_begin, tile_end, h, ldh);
}

// vcvtneps2bf16 rounds to nearest even, reads denormals as signed zeros and keeps NaN quiet: the scalar
// rule (kernels.h) exactly.
void round_bf16(const float* x, int64_t n, uint16_t* out) {
  int64_t i = 0;
  for (; i + 16 <= n; i += 16)
    _mm256_storeu_si256(reinterpret_cast<__m256i*>(out + i),
                        reinterpret_cast<__m256i>(_mm512_cvtneps_pbh(_mm512_loadu_ps(x + i))));
  if (i < n) {
    const __mmask16 m = static_cast<__mmask16>((1u << (n - i)) - 1);
    _mm256_mask_storeu_epi16(out + i, m,
                             reinterpret_cast<__m256i>(_mm512_cvtneps_pbh(_mm512_maskz_loadu_ps(m, x + i))));
  }
}

void to_f16(const float* x, int64_t n, uint16_t* out) {
  int64_t i = 0;
  for (; i + 16 <= n; i += 16)
    _mm256_storeu_si256(
        reinterpret_cast<__m256i*>(out + i),
        _mm512_cvtps_ph(_mm512_loadu_ps(x + i), _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC));
  if (i < n) scalar::to_f16(x + i, n - i, out + i);
}

// pack.h's quantize_row_q8_0, 16 lanes at a time, bit for bit (see the AVX2 form in kernels_avx2.cpp).
void quantize_row_q8_0(const float* x, int64_t n, BlockQ8_0* out) {
  const __m512i abs_mask = _mm512_set1_epi32(0x7fffffff), inf = _mm512_set1_epi32(0x7f800000);
  const __m512i sign = _mm512_set1_epi32(INT32_MIN);
  const __m512 half = _mm512_set1_ps(0.49999997f);
  for (int64_t b = 0; b < n / kQuantBlock; ++b) {
    const float* v = x + b * kQuantBlock;
    const __m512 x0 = _mm512_loadu_ps(v), x1 = _mm512_loadu_ps(v + 16);
    const __m512i a0 = _mm512_and_si512(_mm512_castps_si512(x0), abs_mask);
    const __m512i a1 = _mm512_and_si512(_mm512_castps_si512(x1), abs_mask);
    const __m512i m = _mm512_max_epi32(_mm512_maskz_mov_epi32(_mm512_cmple_epi32_mask(a0, inf), a0),
                                       _mm512_maskz_mov_epi32(_mm512_cmple_epi32_mask(a1, inf), a1));
    const int32_t amax_bits = _mm512_reduce_max_epi32(m);
    float amax;
    std::memcpy(&amax, &amax_bits, 4);
    const float d = amax / 127.0f;
    const float id = d != 0.0f ? 1.0f / d : 0.0f;
    out[b].scale = static_cast<uint16_t>(_cvtss_sh(d, _MM_FROUND_TO_NEAREST_INT));
    const __m512 vid = _mm512_set1_ps(id);
    const __m512 y0 = _mm512_mul_ps(x0, vid), y1 = _mm512_mul_ps(x1, vid);
    auto round = [&](__m512 y) {  // trunc(y + copysign(0.49999997, y))
      const __m512i s = _mm512_and_si512(_mm512_castps_si512(y), sign);
      return _mm512_cvttps_epi32(
          _mm512_add_ps(y, _mm512_castsi512_ps(_mm512_or_si512(s, _mm512_castps_si512(half)))));
    };
    _mm_storeu_si128(reinterpret_cast<__m128i*>(out[b].q), _mm512_cvtepi32_epi8(round(y0)));
    _mm_storeu_si128(reinterpret_cast<__m128i*>(out[b].q + 16), _mm512_cvtepi32_epi8(round(y1)));
  }
}
// quantize_activations per 32-block, 16 lanes at a time: the same max, division, product and
// round-to-nearest-even conversion as the scalar code, so the same bytes. Sixteen blocks at a time share
// their reductions (reduce16) and one division each for the scales; the rest one block at a time.
void quantize_act(const float* x, int64_t n, int8_t* xq, float* xd, int32_t* xs) {
  const int64_t nb = n / kQuantBlock;
  int64_t b = 0;
  for (; b + 16 <= nb; b += 16) {
    const float* v = x + b * kQuantBlock;
    __m512 m[16];
    for (int k = 0; k < 16; ++k)
      m[k] = _mm512_max_ps(_mm512_abs_ps(_mm512_loadu_ps(v + k * kQuantBlock)),
                           _mm512_abs_ps(_mm512_loadu_ps(v + k * kQuantBlock + 16)));
    const __m512 amax = reduce16(
        m, [](__m512 a, __m512i i, __m512 c) { return _mm512_permutex2var_ps(a, i, c); },
        [](__m512 a, __m512 c) { return _mm512_max_ps(a, c); });
    const __m512 d = _mm512_div_ps(amax, _mm512_set1_ps(127.0f));
    const __mmask16 nonzero = _mm512_cmp_ps_mask(d, _mm512_setzero_ps(), _CMP_NEQ_OQ);
    alignas(64) float id[16];
    _mm512_store_ps(id, _mm512_maskz_div_ps(nonzero, _mm512_set1_ps(1.0f), d));
    _mm512_storeu_ps(xd + b, d);
    __m512i sums[16];
    for (int k = 0; k < 16; ++k) {
      const __m512 vid = _mm512_set1_ps(id[k]);
      const __m512i q0 = _mm512_cvt_roundps_epi32(_mm512_mul_ps(_mm512_loadu_ps(v + k * kQuantBlock), vid),
                                                  _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
      const __m512i q1 =
          _mm512_cvt_roundps_epi32(_mm512_mul_ps(_mm512_loadu_ps(v + k * kQuantBlock + 16), vid),
                                   _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
      int8_t* q = xq + (b + k) * kQuantBlock;
      _mm_storeu_si128(reinterpret_cast<__m128i*>(q), _mm512_cvtepi32_epi8(q0));
      _mm_storeu_si128(reinterpret_cast<__m128i*>(q + 16), _mm512_cvtepi32_epi8(q1));
      sums[k] = _mm512_add_epi32(q0, q1);
    }
    _mm512_storeu_si512(
        xs + b, reduce16(
                    sums, [](__m512i a, __m512i i, __m512i c) { return _mm512_permutex2var_epi32(a, i, c); },
                    [](__m512i a, __m512i c) { return _mm512_add_epi32(a, c); }));
  }
  for (; b < nb; ++b) {
    const float* v = x + b * kQuantBlock;
    const __m512 v0 = _mm512_loadu_ps(v), v1 = _mm512_loadu_ps(v + 16);
    const float amax = _mm512_reduce_max_ps(_mm512_max_ps(_mm512_abs_ps(v0), _mm512_abs_ps(v1)));
    const float d = amax / 127.0f;
    const float id = d != 0.0f ? 1.0f / d : 0.0f;
    const __m512 vid = _mm512_set1_ps(id);
    const __m512i q0 =
        _mm512_cvt_roundps_epi32(_mm512_mul_ps(v0, vid), _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
    const __m512i q1 =
        _mm512_cvt_roundps_epi32(_mm512_mul_ps(v1, vid), _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
    _mm_storeu_si128(reinterpret_cast<__m128i*>(xq + b * kQuantBlock), _mm512_cvtepi32_epi8(q0));
    _mm_storeu_si128(reinterpret_cast<__m128i*>(xq + b * kQuantBlock + 16), _mm512_cvtepi32_epi8(q1));
    xd[b] = d;
    xs[b] = _mm512_reduce_add_epi32(_mm512_add_epi32(q0, q1));
  }
}

// quantize_activations_k per 256-value super-block: the same max, division, product and round-to-nearest-even
// (the scalar code's f32 mantissa trick gives the nearest even integer, as the conversion does), so the same
// bytes; the 16 group sums of each super-block by one reduce16.
void quantize_act_k(const float* x, int64_t n, int8_t* xq, float* xd, int32_t* xs) {
  for (int64_t b = 0; b < n / kSuperBlock; ++b) {
    const float* v = x + b * kSuperBlock;
    __m512 m = _mm512_setzero_ps();
    for (int k = 0; k < 16; ++k) m = _mm512_max_ps(m, _mm512_abs_ps(_mm512_loadu_ps(v + 16 * k)));
    const float d = _mm512_reduce_max_ps(m) / 127.0f;
    const __m512 id = _mm512_set1_ps(d != 0.0f ? 1.0f / d : 0.0f);
    __m512i q[16];
    for (int k = 0; k < 16; ++k) {
      q[k] = _mm512_cvt_roundps_epi32(_mm512_mul_ps(_mm512_loadu_ps(v + 16 * k), id),
                                      _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
      _mm_storeu_si128(reinterpret_cast<__m128i*>(xq + b * kSuperBlock + 16 * k), _mm512_cvtepi32_epi8(q[k]));
    }
    xd[b] = d;
    _mm512_storeu_si512(
        xs + 16 * b,
        reduce16(
            q, [](__m512i a, __m512i i, __m512i c) { return _mm512_permutex2var_epi32(a, i, c); },
            [](__m512i a, __m512i c) { return _mm512_add_epi32(a, c); }));
  }
}

}  // namespace

const KernelTable kTable = {matmul_tiles,      matmul_silu_tiles,   round_bf16,     to_f16,
                            quantize_row_q8_0, quantize_act,        quantize_act_k, silu_mul_lanes<16>,
                            rmsnorm_lanes<16>, rope_neox_lanes<16>, add_lanes<16>,  add_scaled_lanes<16>};

}  // namespace qwen3::kernels::avx512
