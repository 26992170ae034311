// AVX2 k-quant matmul: Q2_K, Q3_K, Q4_K, Q5_K and Q6_K blocks read as stored (pack.h), unpacked in
// registers 32 values at a time, times int8 activations (quant_k.h): vpmaddubsw (unsigned weights x signed
// activations, pair sums at most 2 x 63 x 127, no saturation), vpmaddwd by the sub-block scale, one int32 sum
// per row and token (exact), then quant_k.h's two fused multiply-adds: the decode form. Prompts
// (kPromptMinTok tokens or more) take the interleaved form below, rows side by side as in the AVX-512 kernel.
// The same bits as the scalar reference either way (tests/kernels/matmul_test.cpp).
#include <immintrin.h>

#include <algorithm>
#include <cmath>
#include <cstddef>
#include <cstring>
#include <vector>

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

// --- Many tokens (prompt): each super-block of a tile unpacked once per token block ---
//
// Interleaved: one tile's super-block with its rows side by side (the AVX-512 kernel's form, in two halves of
// 8 rows): w[h][n] holds natural columns 4n..4n+3 of rows 8h..8h+7, so one vpmaddubsw with 4 broadcast
// activations gives each row's two pair sums, and no lane is ever reduced with another. The pair sums of a
// scale unit's groups (Q4_K/Q5_K: sub-block of 32 values; else group of 16) add exactly in int16 (kSum16
// groups at a time: at most 2 x q_max x 127 each), then vpmaddwd by the unit's scale (both int16 halves of
// each row's int32) gives int32. Offsets: the rows' offset weights of groups 2p, 2p + 1 as two int16, times
// the activations' two int16 group sums (vpmaddwd). The integers are quant_k.h's isum and msum, so the float
// steps, and the bits, are the per-row code's.
template <DType DT>
constexpr int kUnits = DT == DType::kQ4_K || DT == DType::kQ5_K ? 8 : 16;
template <DType DT>
constexpr int kSum16 = DT == DType::kQ5_K   ? 4
                       : DT == DType::kQ6_K ? 2
                                            : 64 / kUnits<DT>;

struct Interleaved {
  __m256i w[2][64];
  alignas(32) int32_t sc[16][R];  // [unit][row]: the scale in both int16 halves
  alignas(32) int32_t off[8][R];  // [pair][row]: the offset weights of groups 2p and 2p + 1, int16 each
  __m256 d[2], dmin[2];
};

// An 8 x 8 block of int32 transposed in place: lane c of v[r] to lane r of v[c].
inline void transpose8(__m256i (&v)[8]) {
  __m256i t[8], u[8];
  for (int i = 0; i < 8; i += 2) {
    t[i] = _mm256_unpacklo_epi32(v[i], v[i + 1]);
    t[i + 1] = _mm256_unpackhi_epi32(v[i], v[i + 1]);
  }
  for (int i = 0; i < 8; i += 4) {
    u[i] = _mm256_unpacklo_epi64(t[i], t[i + 2]);
    u[i + 1] = _mm256_unpackhi_epi64(t[i], t[i + 2]);
    u[i + 2] = _mm256_unpacklo_epi64(t[i + 1], t[i + 3]);
    u[i + 3] = _mm256_unpackhi_epi64(t[i + 1], t[i + 3]);
  }
  for (int i = 0; i < 4; ++i) {
    v[i] = _mm256_permute2x128_si256(u[i], u[i + 4], 0x20);
    v[i + 4] = _mm256_permute2x128_si256(u[i], u[i + 4], 0x31);
  }
}

// One row's unit scales (kUnits) and per-group offset weights (16: mins, or the group scales for Q3_K/Q6_K).
template <DType DT>
inline void row_scales(const uint8_t* blk, int32_t* unit, int32_t* off) {
  if constexpr (DT == DType::kQ4_K || DT == DType::kQ5_K) {
    uint8_t sc[8], m[8];
    unpack_scales_k4(blk + 4, sc, m);
    for (int j = 0; j < 8; ++j) {
      unit[j] = sc[j];
      off[2 * j] = off[2 * j + 1] = m[j];
    }
  } else if constexpr (DT == DType::kQ6_K) {
    for (int g = 0; g < 16; ++g) unit[g] = off[g] = reinterpret_cast<const BlockQ6_K*>(blk)->scales[g];
  } else if constexpr (DT == DType::kQ3_K) {
    uint8_t sc[16];
    unpack_scales_q3_k(blk + offsetof(BlockQ3_K, scales), sc);
    for (int g = 0; g < 16; ++g) unit[g] = off[g] = sc[g] - 32;
  } else {
    for (int g = 0; g < 16; ++g) {
      unit[g] = blk[g] & 0x0f;
      off[g] = blk[g] >> 4;
    }
  }
}

inline int32_t pack16(int32_t lo, int32_t hi) {
  return static_cast<int32_t>((static_cast<uint32_t>(lo) & 0xffffu) | (static_cast<uint32_t>(hi) << 16));
}

// The 16 row blocks of super-block `sb` (R * bb bytes) into s.
template <DType DT>
void interleave(const uint8_t* sb, size_t bb, Interleaved& s) {
  alignas(32) uint8_t vals[R][8][32];
  alignas(16) uint16_t dv[R], dmv[R];
  for (int r = 0; r < R; ++r) {
    const uint8_t* blk = sb + r * bb;
    Unpacked u;
    unpack<DT>(blk, u);
    for (int k = 0; k < 8; ++k) _mm256_store_si256(reinterpret_cast<__m256i*>(vals[r][k]), u.w[k]);
    int32_t unit[16], off[16];
    row_scales<DT>(blk, unit, off);
    for (int j = 0; j < kUnits<DT>; ++j) s.sc[j][r] = pack16(unit[j], unit[j]);
    for (int p = 0; p < 8; ++p) s.off[p][r] = pack16(off[2 * p], off[2 * p + 1]);
    superblock_scales_k(DT, blk, &dv[r], &dmv[r]);
  }
  for (int h = 0; h < 2; ++h) {
    for (int k = 0; k < 8; ++k) {  // values 32k..32k+31 of rows 8h..8h+7: groups 8k..8k+7
      __m256i v[8];
      for (int r = 0; r < 8; ++r)
        v[r] = _mm256_load_si256(reinterpret_cast<const __m256i*>(vals[8 * h + r][k]));
      transpose8(v);
      for (int l = 0; l < 8; ++l) s.w[h][8 * k + l] = v[l];
    }
    s.d[h] = _mm256_cvtph_ps(_mm_load_si128(reinterpret_cast<const __m128i*>(dv + 8 * h)));
    s.dmin[h] = _mm256_cvtph_ps(_mm_load_si128(reinterpret_cast<const __m128i*>(dmv + 8 * h)));
  }
}

inline __m256i bcast4(const void* p) {
  int32_t v;
  std::memcpy(&v, p, 4);
  return _mm256_set1_epi32(v);
}

constexpr int64_t kTokBlock = 128;
constexpr int kPromptNT = 2;
constexpr int64_t kPromptMinTok = 4;

// NT tokens times one interleaved super-block: xq their 256 activations (token stride ldq), xs their 16
// int16 group sums (stride ldxs), dx their scales (stride lddx); acc[t] the 16 rows' sums so far.
template <DType DT, int NT>
inline void interleaved_tokens(const Interleaved& s, const int8_t* xq, int64_t ldq, const int16_t* xs,
                               int64_t ldxs, const float* dx, int64_t lddx, float (*acc)[R]) {
  constexpr int kGroups = 64 / kUnits<DT>;
  constexpr int kOffsetShift = DT == DType::kQ6_K ? 5 : 2;
  __m256i isum[2][NT], osum[2][NT];
  for (int h = 0; h < 2; ++h)
    for (int t = 0; t < NT; ++t) isum[h][t] = osum[h][t] = _mm256_setzero_si256();
  for (int u = 0; u < kUnits<DT>; ++u) {
    for (int i0 = 0; i0 < kGroups; i0 += kSum16<DT>) {
      __m256i p[2][NT];
      for (int i = i0; i < i0 + kSum16<DT>; ++i) {
        const int g = u * kGroups + i;
        const __m256i w0 = _mm256_load_si256(&s.w[0][g]), w1 = _mm256_load_si256(&s.w[1][g]);
        for (int t = 0; t < NT; ++t) {
          const __m256i x = bcast4(xq + t * ldq + 4 * g);
          const __m256i m0 = _mm256_maddubs_epi16(w0, x), m1 = _mm256_maddubs_epi16(w1, x);
          p[0][t] = i == i0 ? m0 : _mm256_add_epi16(p[0][t], m0);
          p[1][t] = i == i0 ? m1 : _mm256_add_epi16(p[1][t], m1);
        }
      }
      for (int h = 0; h < 2; ++h) {
        const __m256i sc = _mm256_load_si256(reinterpret_cast<const __m256i*>(&s.sc[u][8 * h]));
        for (int t = 0; t < NT; ++t)
          isum[h][t] = _mm256_add_epi32(isum[h][t], _mm256_madd_epi16(p[h][t], sc));
      }
    }
  }
  for (int p = 0; p < 8; ++p)
    for (int h = 0; h < 2; ++h) {
      const __m256i o = _mm256_load_si256(reinterpret_cast<const __m256i*>(&s.off[p][8 * h]));
      for (int t = 0; t < NT; ++t)
        osum[h][t] = _mm256_add_epi32(osum[h][t], _mm256_madd_epi16(o, bcast4(xs + t * ldxs + 2 * p)));
    }
  for (int t = 0; t < NT; ++t) {
    const __m256 x = _mm256_set1_ps(dx[t * lddx]);
    for (int h = 0; h < 2; ++h) {
      __m256 a = _mm256_load_ps(acc[t] + 8 * h);
      if constexpr (k_quant_has_min(DT)) {
        a = _mm256_fmadd_ps(_mm256_cvtepi32_ps(isum[h][t]), _mm256_mul_ps(s.d[h], x), a);
        a = _mm256_fmadd_ps(_mm256_cvtepi32_ps(_mm256_sub_epi32(_mm256_setzero_si256(), osum[h][t])),
                            _mm256_mul_ps(s.dmin[h], x), a);
      } else {  // Q6_K, Q3_K: sum_g sc_g (dot_g - 32 xs_g) or sum_g sc_g (dot_g - 4 xs_g)
        const __m256i is = _mm256_sub_epi32(isum[h][t], _mm256_slli_epi32(osum[h][t], kOffsetShift));
        a = _mm256_fmadd_ps(_mm256_cvtepi32_ps(is), _mm256_mul_ps(s.d[h], x), a);
      }
      _mm256_store_ps(acc[t] + 8 * h, a);
    }
  }
}

template <DType DT, int NT>
void interleaved_upto(int nt, const Interleaved& s, const int8_t* xq, int64_t ldq, const int16_t* xs,
                      int64_t ldxs, const float* dx, int64_t lddx, float (*acc)[R]) {
  if constexpr (NT > 1) {
    if (nt < NT) return interleaved_upto<DT, NT - 1>(nt, s, xq, ldq, xs, ldxs, dx, lddx, acc);
  }
  interleaved_tokens<DT, NT>(s, xq, ldq, xs, ldxs, dx, lddx, acc);
}

// n <= kTokBlock tokens (xq, xd as MatmulInput; xs [n, cols / 16] int16 group sums) times one tile of n_rows
// valid rows.
template <DType DT>
void tile_k_prompt(const uint8_t* tile, int64_t cols, int64_t n, const int8_t* xq, const float* xd,
                   const int16_t* xs, float* y, int64_t ldy, int n_rows) {
  const size_t bb = dtype_row_bytes(DT, kSuperBlock);
  const int64_t nb = cols / kSuperBlock, ng = cols / kKGroup;
  alignas(32) float acc[kTokBlock][R];
  for (int64_t t = 0; t < n; ++t)
    for (int h = 0; h < 2; ++h) _mm256_store_ps(acc[t] + 8 * h, _mm256_setzero_ps());
  Interleaved s;
  for (int64_t b = 0; b < nb; ++b) {
    interleave<DT>(tile + b * R * bb, bb, s);
    for (int64_t t0 = 0; t0 < n; t0 += kPromptNT) {
      const int nt = static_cast<int>(std::min<int64_t>(kPromptNT, n - t0));
      interleaved_upto<DT, kPromptNT>(nt, s, xq + t0 * cols + b * kSuperBlock, cols,
                                      xs + t0 * ng + b * (kSuperBlock / kKGroup), ng, xd + t0 * nb + b, nb,
                                      acc + t0);
    }
  }
  for (int64_t t = 0; t < n; ++t)
    std::memcpy(y + t * ldy, acc[t], sizeof(float) * static_cast<size_t>(n_rows));
}

template <DType DT>
void matmul_k_dtype(const Tensor& w, const MatmulInput& in, int64_t tile_begin, int64_t tile_end, float* y,
                    int64_t ldy) {
  constexpr int NT = 4;
  const size_t bb = dtype_row_bytes(DT, kSuperBlock);
  const int64_t nb = w.cols / kSuperBlock, ng = w.cols / kKGroup;
  if (in.n_tok >= kPromptMinTok) {
    // the group sums as int16 for vpmaddwd (|xs| <= 16 x 127)
    for (int64_t tb = 0; tb < in.n_tok; tb += kTokBlock) {
      const int64_t te = std::min(in.n_tok, tb + kTokBlock);
      thread_local std::vector<int16_t> xs;
      xs.resize(static_cast<size_t>((te - tb) * ng));
      const int32_t* xc = in.xc + tb * ng;
      for (size_t i = 0; i < xs.size(); ++i) xs[i] = static_cast<int16_t>(xc[i]);
      for (int64_t ti = tile_begin; ti < tile_end; ++ti) {
        const int n_rows = static_cast<int>(std::min<int64_t>(R, w.rows - ti * R));
        tile_k_prompt<DT>(w.tile(ti), w.cols, te - tb, in.xq + tb * w.cols, in.xd + tb * nb, xs.data(),
                          y + tb * ldy + ti * R, ldy, n_rows);
      }
    }
    return;
  }
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
