// AVX-512 (VNNI) k-quant matmul: Q2_K, Q3_K, Q4_K, Q5_K and Q6_K blocks read as stored (pack.h: a tile is
// each super-block's 16 row blocks in a row), unpacked in registers, times int8 activations (quant_k.h). Per
// row and super-block the 256 products go through vpdpbusd (unsigned 4-6 bit weights x signed int8
// activations) into 16 int32 lanes, which are scaled by the sub-block scales lane by lane (vpmulld) and
// summed; reduce16 then turns the 16 rows' vectors into one vector of 16 row sums, and one lane per row takes
// the float steps of quant_k.h. That is the decode form (fewer than kPromptMinTok tokens). Prompts take the
// interleaved form below: each tile's super-block unpacked once per token block into q4_0's row-interleaved
// layout (lanes = rows), so a vpdpbusd gives 16 row sums directly, with no per-row reduction. Integer sums
// are exact and both forms compute the same integers, so the bits are the scalar reference's whatever the
// batch. Tests: tests/kernels/matmul_test.cpp.
#pragma GCC diagnostic ignored "-Wuninitialized"
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#include <immintrin.h>

#include <algorithm>
#include <cstddef>
#include <cstring>
#include <vector>

#include "kernels/matmul_k.h"
#include "kernels/quant_k.h"
#include "kernels/reduce16_avx512.h"

namespace qwen3::kernels::avx512 {

namespace {

constexpr int R = kTileRows;

template <DType DT>
constexpr size_t kBlockBytes = DT == DType::kQ2_K   ? sizeof(BlockQ2_K)
                               : DT == DType::kQ3_K ? sizeof(BlockQ3_K)
                               : DT == DType::kQ4_K ? sizeof(BlockQ4_K)
                               : DT == DType::kQ5_K ? sizeof(BlockQ5_K)
                                                    : sizeof(BlockQ6_K);

inline __m512i idx(int a, int b) {  // lanes 0-7 a, lanes 8-15 b
  return _mm512_inserti64x4(_mm512_set1_epi32(a), _mm256_set1_epi32(b), 1);
}

// One row's super-block unpacked: four vectors of 64 unsigned values (the order of the activations the
// kernel pairs them with, act_order below), four vectors of the scale of each int32 lane's four values, and
// (Q2_K/Q4_K/Q5_K) the min of each group of 16 values, lane g, or (Q3_K/Q6_K) the group scales.
struct Unpacked {
  __m512i w[4], sc[4], mins;
};

// The 256 values of one row's super-block as four vectors of 64 unsigned values, in act_order's order.
// Q4_K/Q5_K: qs[0..63] holds sub-blocks 0 (low nibbles of bytes 0-31), 1 (high), 2 (low of 32-63), 3
// (high); qs[64..127] sub-blocks 4-7 alike. So w[0] = [sub 0 | sub 2], w[1] = [1 | 3], w[2] = [4 | 6],
// w[3] = [5 | 7], each half 32 values; the activations are rearranged to match (act_order).
template <DType DT>
inline void unpack_values(const uint8_t* blk, __m512i (&w)[4]) {
  const __m512i low4 = _mm512_set1_epi8(0x0f);
  if constexpr (DT == DType::kQ2_K || DT == DType::kQ3_K) {
    // w[k]: values 64k..64k+63 = the 2-bit fields 2(k % 2) (first 32) and 2(k % 2) + 1 of qs[32(k / 2)..+31]
    // (quant_k_low.cpp); Q3_K's third bit from hmask bits 2k and 2k + 1
    constexpr bool q3 = DT == DType::kQ3_K;
    const uint8_t* qs = blk + (q3 ? offsetof(BlockQ3_K, qs) : offsetof(BlockQ2_K, qs));
    const __m512i three = _mm512_set1_epi8(3);
    for (int k = 0; k < 4; ++k) {
      const __m512i q =
          _mm512_broadcast_i64x4(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(qs + 32 * (k / 2))));
      const int s0 = 2 * (k % 2);
      const __m512i shift = _mm512_inserti64x4(_mm512_set1_epi16(static_cast<int16_t>(2 * s0)),
                                               _mm256_set1_epi16(static_cast<int16_t>(2 * s0 + 2)), 1);
      w[k] = _mm512_and_si512(_mm512_srlv_epi16(q, shift), three);
    }
    if constexpr (q3) {
      const __m512i hm = _mm512_broadcast_i64x4(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(blk)));
      const __m512i four = _mm512_set1_epi8(4);
      for (int k = 0; k < 4; ++k) {
        const __m512i bits = _mm512_inserti64x4(_mm512_set1_epi8(static_cast<char>(1 << (2 * k))),
                                                _mm256_set1_epi8(static_cast<char>(1 << (2 * k + 1))), 1);
        w[k] = _mm512_or_si512(w[k], _mm512_maskz_mov_epi8(_mm512_test_epi8_mask(hm, bits), four));
      }
    }
  } else if constexpr (DT == DType::kQ6_K) {
    const BlockQ6_K* b = reinterpret_cast<const BlockQ6_K*>(blk);
    const __m512i three = _mm512_set1_epi8(3);
    for (int h = 0; h < 2; ++h) {
      const __m512i l = _mm512_loadu_si512(b->ql + 64 * h);
      const __m256i qh = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(b->qh + 32 * h));
      // values 128h + 0..63: low nibbles, bits 0-1 (bytes 0-31) and 2-3 (bytes 32-63) of qh on top
      const __m512i h01 = _mm512_inserti64x4(_mm512_castsi256_si512(qh), _mm256_srli_epi16(qh, 2), 1);
      const __m512i h23 = _mm512_srli_epi16(h01, 4);  // bits 4-5 and 6-7: values 128h + 64..127
      w[2 * h] =
          _mm512_or_si512(_mm512_and_si512(l, low4), _mm512_slli_epi16(_mm512_and_si512(h01, three), 4));
      w[2 * h + 1] = _mm512_or_si512(_mm512_and_si512(_mm512_srli_epi16(l, 4), low4),
                                     _mm512_slli_epi16(_mm512_and_si512(h23, three), 4));
    }
  } else {
    const uint8_t* qs = blk + (DT == DType::kQ5_K ? 48 : 16);
    const __m512i q0 = _mm512_loadu_si512(qs), q1 = _mm512_loadu_si512(qs + 64);
    w[0] = _mm512_and_si512(q0, low4);
    w[1] = _mm512_and_si512(_mm512_srli_epi16(q0, 4), low4);
    w[2] = _mm512_and_si512(q1, low4);
    w[3] = _mm512_and_si512(_mm512_srli_epi16(q1, 4), low4);
    if constexpr (DT == DType::kQ5_K) {  // the fifth bit: bit j of qh[l] for value l of sub-block j
      const __m512i qh =
          _mm512_broadcast_i64x4(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(blk + 16)));
      const __m512i sixteen = _mm512_set1_epi8(16);
      const int lo_bit[4] = {0, 1, 4, 5};  // sub-block of each vector's first half; the second half's is + 2
      for (int k = 0; k < 4; ++k) {
        const __m512i bits = _mm512_inserti64x4(_mm512_set1_epi8(static_cast<char>(1 << lo_bit[k])),
                                                _mm256_set1_epi8(static_cast<char>(1 << (lo_bit[k] + 2))), 1);
        w[k] = _mm512_or_si512(w[k], _mm512_maskz_mov_epi8(_mm512_test_epi8_mask(qh, bits), sixteen));
      }
    }
  }
}

// One row's scales as 16 int32 lanes: Q4_K/Q5_K the 8 sub-block scales then the 8 mins (6 bits each);
// Q2_K the 16 group bytes (scale in the low nibble, min in the high); Q3_K/Q6_K the 16 signed group scales.
template <DType DT>
inline __m512i scale_lanes(const uint8_t* blk) {
  if constexpr (DT == DType::kQ2_K) {
    return _mm512_cvtepu8_epi32(_mm_loadu_si128(reinterpret_cast<const __m128i*>(blk)));
  } else if constexpr (DT == DType::kQ3_K) {
    uint32_t s4[4];  // built in a register: a 16-byte load of four fresh 4-byte stores would stall
    unpack_scales_q3_k(blk + offsetof(BlockQ3_K, scales), s4);
    const __m128i s8 = _mm_set_epi32(static_cast<int>(s4[3]), static_cast<int>(s4[2]),
                                     static_cast<int>(s4[1]), static_cast<int>(s4[0]));
    return _mm512_sub_epi32(_mm512_cvtepu8_epi32(s8), _mm512_set1_epi32(32));
  } else if constexpr (DT == DType::kQ6_K) {
    return _mm512_cvtepi8_epi32(
        _mm_loadu_si128(reinterpret_cast<const __m128i*>(blk + offsetof(BlockQ6_K, scales))));
  } else {
    // ggml's get_scale_min_k4 for all eight at once: bytes 0-7 scales, 8-15 mins
    uint32_t a[4];
    std::memcpy(a, blk + 4, 12);
    constexpr uint32_t m1 = 0x3f3f3f3f, m2 = 0x0f0f0f0f, m3 = 0x03030303;
    a[3] = ((a[2] >> 4) & m2) | (((a[1] >> 6) & m3) << 4);
    const uint32_t aux = a[1] & m1;
    a[1] = (a[2] & m2) | (((a[0] >> 6) & m3) << 4);
    a[2] = aux;
    a[0] &= m1;
    return _mm512_cvtepu8_epi32(_mm_loadu_si128(reinterpret_cast<const __m128i*>(a)));
  }
}

template <DType DT>
inline void unpack(const uint8_t* blk, Unpacked& u) {
  unpack_values<DT>(blk, u.w);
  const __m512i sm = scale_lanes<DT>(blk);
  if constexpr (DT == DType::kQ4_K || DT == DType::kQ5_K) {
    u.sc[0] = _mm512_permutexvar_epi32(idx(0, 2), sm);
    u.sc[1] = _mm512_permutexvar_epi32(idx(1, 3), sm);
    u.sc[2] = _mm512_permutexvar_epi32(idx(4, 6), sm);
    u.sc[3] = _mm512_permutexvar_epi32(idx(5, 7), sm);
    u.mins = _mm512_permutexvar_epi32(
        _mm512_set_epi32(15, 15, 14, 14, 13, 13, 12, 12, 11, 11, 10, 10, 9, 9, 8, 8), sm);
  } else {
    // lane l of w[k] covers values 64k + 4l..4l+3: group 4k + l / 4
    const __m512i quarter =
        _mm512_srli_epi32(_mm512_set_epi32(15, 14, 13, 12, 11, 10, 9, 8, 7, 6, 5, 4, 3, 2, 1, 0), 2);
    __m512i sc = sm;  // Q3_K/Q6_K: the group scales, also for the offset's share (isum's rule)
    u.mins = sm;
    if constexpr (DT == DType::kQ2_K) {
      sc = _mm512_and_si512(sm, _mm512_set1_epi32(0x0f));
      u.mins = _mm512_srli_epi32(sm, 4);
    }
    for (int k = 0; k < 4; ++k)
      u.sc[k] = _mm512_permutexvar_epi32(_mm512_add_epi32(quarter, _mm512_set1_epi32(4 * k)), sc);
  }
}

// The 256 activations of one super-block in the order unpack's vectors hold the weights: natural for
// Q2_K, Q3_K and Q6_K; for Q4_K/Q5_K the 32-value pieces 0, 2, 1, 3, 4, 6, 5, 7.
template <DType DT>
inline void act_order(const int8_t* xq, int8_t* out) {
  if constexpr (DT != DType::kQ4_K && DT != DType::kQ5_K) {
    std::memcpy(out, xq, kSuperBlock);
  } else {
    static constexpr int kPiece[8] = {0, 2, 1, 3, 4, 6, 5, 7};
    for (int p = 0; p < 8; ++p) std::memcpy(out + 32 * p, xq + 32 * kPiece[p], 32);
  }
}

// NT tokens (at xq/xd/xc, row strides as MatmulInput) times one tile of `last_rows` valid rows into y.
template <DType DT, int NT>
void tile_k(const uint8_t* tile, int64_t cols, const int8_t* xq, const float* xd, const int32_t* xc, float* y,
            int64_t ldy, int last_rows) {
  constexpr size_t bb = kBlockBytes<DT>;
  constexpr bool kMin = k_quant_has_min(DT);
  constexpr int kOffsetShift = DT == DType::kQ6_K ? 5 : 2;  // no mins: values offset by 32 (Q6_K) or 4 (Q3_K)
  const int64_t nb = cols / kSuperBlock, ng = cols / kKGroup;
  __m512 acc[NT];
  for (int t = 0; t < NT; ++t) acc[t] = _mm512_setzero_ps();
  alignas(64) int8_t xa[NT][kSuperBlock];
  alignas(64) int32_t iv[NT][R][16], mv[NT][R][16];
  alignas(64) uint16_t dv[R], dmv[R];
  for (int64_t b = 0; b < nb; ++b) {
    for (int t = 0; t < NT; ++t) act_order<DT>(xq + t * cols + b * kSuperBlock, xa[t]);
    for (int r = 0; r < R; ++r) {
      const uint8_t* blk = tile + (b * R + r) * bb;
      if constexpr (NT == 1)
        for (size_t line = 0; line < bb; line += 64) prefetch_ahead(blk + line);
      Unpacked u;
      unpack<DT>(blk, u);
      uint16_t d, dmin;
      superblock_scales_k(DT, blk, &d, &dmin);
      dv[r] = d;
      dmv[r] = dmin;
      for (int t = 0; t < NT; ++t) {
        __m512i s = _mm512_setzero_si512();
        for (int k = 0; k < 4; ++k) {
          const __m512i dot =
              _mm512_dpbusd_epi32(_mm512_setzero_si512(), u.w[k], _mm512_load_si512(xa[t] + 64 * k));
          s = _mm512_add_epi32(s, _mm512_mullo_epi32(dot, u.sc[k]));
        }
        const __m512i xs = _mm512_loadu_si512(xc + t * ng + b * (kSuperBlock / kKGroup));
        const __m512i m = _mm512_mullo_epi32(u.mins, xs);
        if constexpr (kMin) {
          _mm512_store_si512(mv[t][r], m);
        } else {  // Q6_K, Q3_K: sum_g sc_g (dot_g - 32 xs_g) or sum_g sc_g (dot_g - 4 xs_g)
          s = _mm512_sub_epi32(s, _mm512_slli_epi32(m, kOffsetShift));
        }
        _mm512_store_si512(iv[t][r], s);
      }
    }
    const __m512 d = _mm512_cvtph_ps(_mm256_load_si256(reinterpret_cast<const __m256i*>(dv)));
    const __m512 dmin = _mm512_cvtph_ps(_mm256_load_si256(reinterpret_cast<const __m256i*>(dmv)));
    for (int t = 0; t < NT; ++t) {
      __m512i v[16];
      for (int r = 0; r < R; ++r) v[r] = _mm512_load_si512(iv[t][r]);
      auto perm = [](__m512i a, __m512i i, __m512i c) { return _mm512_permutex2var_epi32(a, i, c); };
      auto add = [](__m512i a, __m512i c) { return _mm512_add_epi32(a, c); };
      const __m512i isum = reduce16(v, perm, add);
      const __m512 dx = _mm512_set1_ps(xd[t * nb + b]);
      acc[t] = _mm512_fmadd_ps(_mm512_cvtepi32_ps(isum), _mm512_mul_ps(d, dx), acc[t]);
      if constexpr (kMin) {
        for (int r = 0; r < R; ++r) v[r] = _mm512_load_si512(mv[t][r]);
        const __m512i msum = reduce16(v, perm, add);
        acc[t] = _mm512_fmadd_ps(_mm512_cvtepi32_ps(_mm512_sub_epi32(_mm512_setzero_si512(), msum)),
                                 _mm512_mul_ps(dmin, dx), acc[t]);
      }
    }
  }
  const __mmask16 rows = static_cast<__mmask16>((1u << last_rows) - 1);
  for (int t = 0; t < NT; ++t) _mm512_mask_storeu_ps(y + t * ldy, rows, acc[t]);
}

template <DType DT, int NT>
void tile_k_upto(int nt, const uint8_t* tile, int64_t cols, const int8_t* xq, const float* xd,
                 const int32_t* xc, float* y, int64_t ldy, int last_rows) {
  if constexpr (NT > 1) {
    if (nt < NT) return tile_k_upto<DT, NT - 1>(nt, tile, cols, xq, xd, xc, y, ldy, last_rows);
  }
  tile_k<DT, NT>(tile, cols, xq, xd, xc, y, ldy, last_rows);
}

// --- Many tokens (prompt): each super-block of a tile unpacked once per token block ---
//
// Interleaved: one tile's super-block with its 16 rows side by side, as q4_0's tiles are (pack.h): group n
// holds natural columns 4n..4n+3 of the 16 rows ([16][4] bytes), so one vpdpbusd with 4 broadcast
// activations gives the 16 rows' partial sums in the 16 lanes and no lane is ever reduced with another.
// Per scale unit (Q4_K/Q5_K: sub-block of 32 values; else group of 16) the int32 scale of each row; per pair
// of 16-value groups the offset weights of each row (mins, or the group scales for Q3_K/Q6_K's offset) as
// two int16, for vpdpwssd with the activations' int16 group sums. The integers are quant_k.h's isum and
// msum, so the float steps, and the bits, are the per-row kernel's (tile_k). int32 throughout, as the
// reference: the largest sum, Q6_K's isum, is at most 16 x 128 x (16 x 63 x 127) < 2^28.
template <DType DT>
constexpr int kUnits = DT == DType::kQ4_K || DT == DType::kQ5_K ? 8 : 16;

struct Interleaved {
  __m512i w[64];   // group n: lane r = row r's values 4n..4n+3
  __m512i sc[16];  // [kUnits] lane r = row r's scale of the unit
  __m512i off[8];  // pair p: lane r = row r's (offset weight of group 2p, of 2p + 1), int16 each
  __m512 d, dmin;  // lane r = row r's super-block scales
};

// 16 vectors transposed in place: lane c of v[r] to lane r of v[c]. Each step swaps the off-diagonal
// s x s blocks of every 2s x 2s block (element (r, c) with (r ^ s, c ^ s) where bit s of r and c differ).
struct TransposeIndex {
  alignas(64) int32_t lo[4][16], hi[4][16];  // step s = 8 >> level
  constexpr TransposeIndex() : lo(), hi() {
    for (int level = 0; level < 4; ++level)
      for (int c = 0, s = 8 >> level; c < 16; ++c) {
        lo[level][c] = c & s ? 16 + c - s : c;
        hi[level][c] = c & s ? 16 + c : c + s;
      }
  }
};
constexpr TransposeIndex kTranspose;

inline void transpose16(__m512i (&v)[16]) {
#pragma GCC unroll 4
  for (int level = 0, s = 8; level < 4; ++level, s /= 2) {
    const __m512i il = _mm512_load_si512(kTranspose.lo[level]), ih = _mm512_load_si512(kTranspose.hi[level]);
#pragma GCC unroll 16
    for (int i = 0; i < 16; ++i) {
      if (i & s) continue;
      const __m512i a = v[i], b = v[i + s];
      v[i] = _mm512_permutex2var_epi32(a, il, b);
      v[i + s] = _mm512_permutex2var_epi32(a, ih, b);
    }
  }
}

// The 16 row blocks of super-block `sb` (R * bb bytes) into s.
template <DType DT>
void interleave(const uint8_t* sb, Interleaved& s) {
  constexpr size_t bb = kBlockBytes<DT>;
  constexpr bool kPieces = DT == DType::kQ4_K || DT == DType::kQ5_K;  // act_order's pieces of 32
  alignas(64) uint8_t vals[4][R][64];
  alignas(64) uint16_t dv[R], dmv[R];
  __m512i v[16];
  for (int r = 0; r < R; ++r) {
    const uint8_t* blk = sb + r * bb;
    __m512i w[4];
    unpack_values<DT>(blk, w);
    for (int k = 0; k < 4; ++k) _mm512_store_si512(vals[k][r], w[k]);
    v[r] = scale_lanes<DT>(blk);
    superblock_scales_k(DT, blk, &dv[r], &dmv[r]);
  }
  transpose16(v);  // v[j]: lane r = row r's scale lane j
  for (int p = 0; p < 8; ++p) {
    __m512i lo, hi;
    if constexpr (kPieces) {
      s.sc[p] = v[p];
      lo = hi = v[8 + p];  // groups 2p and 2p + 1 are sub-block p: its min twice
    } else if constexpr (DT == DType::kQ2_K) {
      s.sc[2 * p] = _mm512_and_si512(v[2 * p], _mm512_set1_epi32(0x0f));
      s.sc[2 * p + 1] = _mm512_and_si512(v[2 * p + 1], _mm512_set1_epi32(0x0f));
      lo = _mm512_srli_epi32(v[2 * p], 4);
      hi = _mm512_srli_epi32(v[2 * p + 1], 4);
    } else {
      s.sc[2 * p] = lo = v[2 * p];
      s.sc[2 * p + 1] = hi = v[2 * p + 1];
    }
    s.off[p] = _mm512_or_si512(_mm512_and_si512(lo, _mm512_set1_epi32(0xffff)), _mm512_slli_epi32(hi, 16));
  }
  static constexpr int kPiece[8] = {0, 2, 1, 3, 4, 6, 5, 7};
  for (int k = 0; k < 4; ++k) {
    for (int r = 0; r < R; ++r) v[r] = _mm512_load_si512(vals[k][r]);
    transpose16(v);  // v[l]: lane r = row r's lane l of w[k], i.e. its act-order group 16k + l
    for (int l = 0; l < 16; ++l) {
      const int g = 16 * k + l;
      s.w[kPieces ? 8 * kPiece[g / 8] + g % 8 : g] = v[l];
    }
  }
  s.d = _mm512_cvtph_ps(_mm256_load_si256(reinterpret_cast<const __m256i*>(dv)));
  s.dmin = _mm512_cvtph_ps(_mm256_load_si256(reinterpret_cast<const __m256i*>(dmv)));
}

// Tokens per block: their activations stay in L2 while the tiles stream past them (as kernels_avx512.cpp).
constexpr int64_t kTokBlock = 128;

inline __m512i bcast4(const void* p) {
  int32_t v;
  std::memcpy(&v, p, 4);
  return _mm512_set1_epi32(v);
}

// NR tiles' interleaved super-blocks (s[r]) times NT tokens: xq the tokens' 256 activations (token stride
// ldq), xs their 16 int16 group sums (stride ldxs), dx their scales (stride lddx); acc[r * kTokBlock + t]
// tile r's 16 row sums for token t so far, to which the super-block's terms are added as tile_k adds them.
// Each weight vector serves NT tokens and each broadcast activation NR tiles (as kernels_avx512.cpp's q4_0).
template <DType DT, int NR, int NT>
inline void interleaved_tokens(const Interleaved* s, const int8_t* xq, int64_t ldq, const int16_t* xs,
                               int64_t ldxs, const float* dx, int64_t lddx, float (*acc)[R]) {
  constexpr int kGroups = 64 / kUnits<DT>;  // groups of 4 values per scale unit
  constexpr int kOffsetShift = DT == DType::kQ6_K ? 5 : 2;
  __m512i isum[NR][NT], osum[NR][NT];
  for (int r = 0; r < NR; ++r)
    for (int t = 0; t < NT; ++t) isum[r][t] = _mm512_setzero_si512();
#pragma GCC unroll 1
  for (int u = 0; u < kUnits<DT>; ++u) {
    __m512i dot[NR][NT];
    for (int r = 0; r < NR; ++r)
      for (int t = 0; t < NT; ++t) dot[r][t] = _mm512_setzero_si512();
    for (int i = 0; i < kGroups; ++i) {
      const int g = u * kGroups + i;
      __m512i w[NR];
      for (int r = 0; r < NR; ++r) w[r] = _mm512_load_si512(&s[r].w[g]);
      for (int t = 0; t < NT; ++t) {
        const __m512i x = bcast4(xq + t * ldq + 4 * g);
        for (int r = 0; r < NR; ++r) dot[r][t] = _mm512_dpbusd_epi32(dot[r][t], w[r], x);
      }
    }
    for (int r = 0; r < NR; ++r)
      for (int t = 0; t < NT; ++t)
        isum[r][t] = _mm512_add_epi32(isum[r][t], _mm512_mullo_epi32(dot[r][t], s[r].sc[u]));
  }
  for (int r = 0; r < NR; ++r)
    for (int t = 0; t < NT; ++t) osum[r][t] = _mm512_setzero_si512();
  for (int p = 0; p < 8; ++p)
    for (int t = 0; t < NT; ++t) {
      const __m512i x = bcast4(xs + t * ldxs + 2 * p);
      for (int r = 0; r < NR; ++r) osum[r][t] = _mm512_dpwssd_epi32(osum[r][t], s[r].off[p], x);
    }
  for (int t = 0; t < NT; ++t) {
    const __m512 x = _mm512_set1_ps(dx[t * lddx]);
    for (int r = 0; r < NR; ++r) {
      float* ap = acc[r * kTokBlock + t];
      __m512 a = _mm512_load_ps(ap);
      if constexpr (k_quant_has_min(DT)) {
        a = _mm512_fmadd_ps(_mm512_cvtepi32_ps(isum[r][t]), _mm512_mul_ps(s[r].d, x), a);
        a = _mm512_fmadd_ps(_mm512_cvtepi32_ps(_mm512_sub_epi32(_mm512_setzero_si512(), osum[r][t])),
                            _mm512_mul_ps(s[r].dmin, x), a);
      } else {  // Q6_K, Q3_K: sum_g sc_g (dot_g - 32 xs_g) or sum_g sc_g (dot_g - 4 xs_g)
        const __m512i is = _mm512_sub_epi32(isum[r][t], _mm512_slli_epi32(osum[r][t], kOffsetShift));
        a = _mm512_fmadd_ps(_mm512_cvtepi32_ps(is), _mm512_mul_ps(s[r].d, x), a);
      }
      _mm512_store_ps(ap, a);
    }
  }
}

template <DType DT, int NR, int NT>
void interleaved_upto(int nt, const Interleaved* s, const int8_t* xq, int64_t ldq, const int16_t* xs,
                      int64_t ldxs, const float* dx, int64_t lddx, float (*acc)[R]) {
  if constexpr (NT > 1) {
    if (nt < NT) return interleaved_upto<DT, NR, NT - 1>(nt, s, xq, ldq, xs, ldxs, dx, lddx, acc);
  }
  interleaved_tokens<DT, NR, NT>(s, xq, ldq, xs, ldxs, dx, lddx, acc);
}

// Tokens per register block of the prompt path, and the fewest tokens worth its unpacking.
constexpr int kPromptNT = 4;
constexpr int64_t kPromptMinTok = 4;

// n <= kTokBlock tokens (xq, xd as MatmulInput; xs [n, cols / 16] int16 group sums) times NR tiles, the
// matrix's consecutive tiles from `tile` (the last one with last_rows valid rows).
template <DType DT, int NR>
void tiles_k_prompt(const uint8_t* tile, int64_t cols, int64_t n, const int8_t* xq, const float* xd,
                    const int16_t* xs, float* y, int64_t ldy, int last_rows) {
  const int64_t nb = cols / kSuperBlock, ng = cols / kKGroup;
  const size_t tile_bytes = static_cast<size_t>(nb) * R * kBlockBytes<DT>;
  alignas(64) float acc[NR * kTokBlock][R];
  for (int r = 0; r < NR; ++r)
    for (int64_t t = 0; t < n; ++t) _mm512_store_ps(acc[r * kTokBlock + t], _mm512_setzero_ps());
  Interleaved s[NR];
  for (int64_t b = 0; b < nb; ++b) {
    for (int r = 0; r < NR; ++r) interleave<DT>(tile + r * tile_bytes + b * R * kBlockBytes<DT>, s[r]);
    // the next super-block's blocks on their way while the tokens run (its first reads stalled on memory)
    if (b + 1 < nb)
      for (int r = 0; r < NR; ++r)
        for (size_t line = 0; line < R * kBlockBytes<DT>; line += 64)
          _mm_prefetch(
              reinterpret_cast<const char*>(tile + r * tile_bytes + (b + 1) * R * kBlockBytes<DT> + line),
              _MM_HINT_T0);
    for (int64_t t0 = 0; t0 < n; t0 += kPromptNT) {
      const int nt = static_cast<int>(std::min<int64_t>(kPromptNT, n - t0));
      interleaved_upto<DT, NR, kPromptNT>(nt, s, xq + t0 * cols + b * kSuperBlock, cols,
                                          xs + t0 * ng + b * (kSuperBlock / kKGroup), ng, xd + t0 * nb + b,
                                          nb, acc + t0);
    }
  }
  for (int r = 0; r < NR; ++r) {
    float* yr = y + r * R;
    if (r < NR - 1 || last_rows == R) {
      for (int64_t t = 0; t < n; ++t) _mm512_storeu_ps(yr + t * ldy, _mm512_load_ps(acc[r * kTokBlock + t]));
    } else {
      const __mmask16 rows = static_cast<__mmask16>((1u << last_rows) - 1);
      for (int64_t t = 0; t < n; ++t)
        _mm512_mask_storeu_ps(yr + t * ldy, rows, _mm512_load_ps(acc[r * kTokBlock + t]));
    }
  }
}

template <DType DT>
void matmul_k_dtype(const Tensor& w, const MatmulInput& in, int64_t tile_begin, int64_t tile_end, float* y,
                    int64_t ldy) {
  constexpr int NT = 4;
  const int64_t nb = w.cols / kSuperBlock, ng = w.cols / kKGroup;
  for (int64_t tb = 0; tb < in.n_tok; tb += kTokBlock) {
    const int64_t te = std::min(in.n_tok, tb + kTokBlock);
    if (te - tb >= kPromptMinTok) {
      // the group sums as int16 for vpdpwssd (|xs| <= 16 x 127)
      thread_local std::vector<int16_t> xs;
      xs.resize(static_cast<size_t>((te - tb) * ng));
      const int32_t* xc = in.xc + tb * ng;
      for (size_t i = 0; i < xs.size(); i += 16)
        _mm256_storeu_si256(reinterpret_cast<__m256i*>(xs.data() + i),
                            _mm512_cvtepi32_epi16(_mm512_loadu_si512(xc + i)));
      for (int64_t ti = tile_begin; ti < tile_end; ti += 2) {
        const int nr = static_cast<int>(std::min<int64_t>(2, tile_end - ti));
        const int last_rows = static_cast<int>(std::min<int64_t>(R, w.rows - (ti + nr - 1) * R));
        auto run = nr == 2 ? tiles_k_prompt<DT, 2> : tiles_k_prompt<DT, 1>;
        run(w.tile(ti), w.cols, te - tb, in.xq + tb * w.cols, in.xd + tb * nb, xs.data(),
            y + tb * ldy + ti * R, ldy, last_rows);
      }
      continue;
    }
    for (int64_t ti = tile_begin; ti < tile_end; ++ti) {
      const int last_rows = static_cast<int>(std::min<int64_t>(R, w.rows - ti * R));
      for (int64_t t0 = tb; t0 < te; t0 += NT) {
        const int nt = static_cast<int>(std::min<int64_t>(NT, te - t0));
        tile_k_upto<DT, NT>(nt, w.tile(ti), w.cols, in.xq + t0 * w.cols, in.xd + t0 * nb, in.xc + t0 * ng,
                            y + t0 * ldy + ti * R, ldy, last_rows);
      }
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

}  // namespace qwen3::kernels::avx512
