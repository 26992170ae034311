// AVX-512 attention (F/BW/VL): the tile loop of attention_impl.h over 16-lane primitives. Any head_dim
// (masked tails); queries in runs of up to 8 sharing every key load (one key per lane, no horizontal sums),
// values accumulated 64 lanes at a time, 4 queries per value load. Tested against the scalar reference in
// tests/attention/attention_test.cpp.
#if defined(__GNUC__) && !defined(__clang__)
// GCC 12 warns about the _mm512_undefined_*() inside its own intrinsics headers once inlined.
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#pragma GCC diagnostic ignored "-Wuninitialized"
#endif
#include <immintrin.h>

#include <cstring>

#include "kernels/attention_impl.h"

namespace qwen3::kernels::avx512 {
namespace {

inline __mmask16 tail_mask(int n) {
  return n <= 0 ? 0 : n >= 16 ? static_cast<__mmask16>(0xffff) : static_cast<__mmask16>((1u << n) - 1);
}

// exp(x) for x <= 0 within ~2 ulp (Cephes' expf polynomial); very negative x give ~1e-38 instead of 0.
inline __m512 exp512(__m512 x) {
  x = _mm512_max_ps(_mm512_min_ps(x, _mm512_set1_ps(88.0f)), _mm512_set1_ps(-87.33654f));
  __m512 n = _mm512_roundscale_ps(_mm512_mul_ps(x, _mm512_set1_ps(1.44269504088896341f)),
                                  _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
  __m512 r = _mm512_fnmadd_ps(n, _mm512_set1_ps(0.693359375f), x);
  r = _mm512_fnmadd_ps(n, _mm512_set1_ps(-2.12194440e-4f), r);
  __m512 p = _mm512_set1_ps(1.9875691500e-4f);
  p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(1.3981999507e-3f));
  p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(8.3334519073e-3f));
  p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(4.1665795894e-2f));
  p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(1.6666665459e-1f));
  p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(5.0000001201e-1f));
  p = _mm512_fmadd_ps(p, _mm512_mul_ps(r, r), r);
  p = _mm512_add_ps(p, _mm512_set1_ps(1.0f));
  return _mm512_scalef_ps(p, n);
}

// The p.v kernels' first and last steps: the accumulators of NQ queries for the 64 lanes of the head from i
// (masks m), times c[q] unless it is 1; and back. Always inlined: as calls, the register block went through
// memory (the bf16 prompt block 25 % slower).
template <int NQ>
__attribute__((always_inline)) inline void load_scaled(float* const* acc, const float* c, int i,
                                                       const __mmask16 (&m)[4], __m512 (&a)[NQ][4]) {
  for (int r = 0; r < NQ; ++r) {
    const __m512 cv = _mm512_set1_ps(c[r]);
    for (int u = 0; u < 4; ++u) {
      a[r][u] = _mm512_maskz_loadu_ps(m[u], acc[r] + i + 16 * u);
      if (c[r] != 1.0f) a[r][u] = _mm512_mul_ps(a[r][u], cv);
    }
  }
}
template <int NQ>
__attribute__((always_inline)) inline void store_acc(float* const* acc, int i, const __mmask16 (&m)[4],
                                                     const __m512 (&a)[NQ][4]) {
  for (int r = 0; r < NQ; ++r)
    for (int u = 0; u < 4; ++u) _mm512_mask_storeu_ps(acc[r] + i + 16 * u, m[u], a[r][u]);
}

struct Ops {
  static void widen(DType t, const uint8_t* src, size_t row_bytes, int n, int d, float* dst) {
    for (int j = 0; j < n; ++j) {
      const uint8_t* row = src + j * row_bytes;
      float* o = dst + static_cast<size_t>(j) * d;
      if (t == DType::kF16) {
        for (int i = 0; i < d; i += 16) {
          __mmask16 m = tail_mask(d - i);
          __m256i h = _mm256_maskz_loadu_epi16(m, row + 2 * i);
          _mm512_mask_storeu_ps(o + i, m, _mm512_cvtph_ps(h));
        }
      } else if (t == DType::kBF16) {
        for (int i = 0; i < d; i += 16) {
          __mmask16 m = tail_mask(d - i);
          __m512i w = _mm512_cvtepu16_epi32(_mm256_maskz_loadu_epi16(m, row + 2 * i));
          _mm512_mask_storeu_ps(o + i, m, _mm512_castsi512_ps(_mm512_slli_epi32(w, 16)));
        }
      } else if (t == DType::kQ8_0) {
        const BlockQ8_0* b = reinterpret_cast<const BlockQ8_0*>(row);
        for (int k = 0; k < d / kQuantBlock; ++k) {
          __m512 scale = _mm512_set1_ps(_cvtsh_ss(b[k].scale));
          for (int h = 0; h < 2; ++h) {
            __m128i q = _mm_loadu_si128(reinterpret_cast<const __m128i*>(b[k].q + 16 * h));
            __m512 f = _mm512_cvtepi32_ps(_mm512_cvtepi8_epi32(q));
            _mm512_storeu_ps(o + k * kQuantBlock + 16 * h, _mm512_mul_ps(scale, f));
          }
        }
      } else {
        std::memcpy(o, row, static_cast<size_t>(d) * 4);
      }
    }
  }

  // Runs of up to 8 queries share each key load, up to 4 each value load (attention_impl.h); a query's
  // operations are the same in every run size.
  static constexpr int kMaxRun = 8;
  // A block of at most one run (a decode step's GQA group) reads an f16 cache in place, widened in
  // registers, rather than widening the tile into scratch first: the same values, so the same bits, and
  // decode at depth 1024-4096 +8-11 % (side by side); a prompt's block shares one widened tile instead. It
  // relies on attend_tiled's prefetch_tile: without it, reading a cold history in place runs at half speed.
  static constexpr bool kReadsF16Rows = true;

  // 16 lanes of a key tile or a value row: f32 (widened, or an f32 cache) or f16 (the cache in place).
  static __m512 load_row(const float* p, __mmask16 m) { return _mm512_maskz_loadu_ps(m, p); }
  static __m512 load_row(const uint16_t* p, __mmask16 m) {
    return _mm512_cvtph_ps(_mm256_maskz_loadu_epi16(m, p));
  }
  static __m512 load16(const float* p) { return _mm512_loadu_ps(p); }
  static __m512 load16(const uint16_t* p) {
    return _mm512_cvtph_ps(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(p)));
  }

  // Scores of NQ queries over a key tile kt (T: f32, or the f16 cache in place): one key per lane, per
  // (query, key) an FMA chain over the elements in order, then the scale; no horizontal sums. Only the 16-key
  // halves that hold keys < n are computed (a lane's arithmetic does not depend on its neighbours).
  template <int NQ, class T>
  static void scores_n(const float* const* q, const T* kt, int n, int d, float scale, float* const* s) {
    if (d == 128) {
      if (n <= 16)
        scores_t<NQ, 1, 128>(q, kt, n, d, scale, s);
      else
        scores_t<NQ, 2, 128>(q, kt, n, d, scale, s);
    } else {
      if (n <= 16)
        scores_t<NQ, 1, 0>(q, kt, n, d, scale, s);
      else
        scores_t<NQ, 2, 0>(q, kt, n, d, scale, s);
    }
  }
  // head_dim 128 (every Qwen3) gets its own instantiation (D), unrolled; the same operations, so the same
  // bits.
  template <int NQ, int H, int D, class T>
  static void scores_t(const float* const* q, const T* kt, int n, int d_any, float scale, float* const* s) {
    const int d = D ? D : d_any;
    __m512 a[NQ][H];
    for (int r = 0; r < NQ; ++r)
      for (int h = 0; h < H; ++h) a[r][h] = _mm512_setzero_ps();
#pragma GCC unroll 4
    for (int i = 0; i < d; ++i) {
      __m512 k[H];
      for (int h = 0; h < H; ++h) k[h] = load16(kt + static_cast<size_t>(i) * kAttnTile + 16 * h);
      for (int r = 0; r < NQ; ++r) {
        const __m512 qb = _mm512_set1_ps(q[r][i]);
        for (int h = 0; h < H; ++h) a[r][h] = _mm512_fmadd_ps(qb, k[h], a[r][h]);
      }
    }
    const __m512 sv = _mm512_set1_ps(scale);
    for (int r = 0; r < NQ; ++r)
      for (int h = 0; h < H; ++h)
        _mm512_mask_storeu_ps(s[r] + 16 * h, tail_mask(n - 16 * h), _mm512_mul_ps(a[r][h], sv));
  }

  // p.v of runs of up to 8 queries, 4 at a time (32 accumulators would not fit the registers).
  template <int NQ, class T>
  static void scale_add_n(float* const* acc, const float* c, const float* const* p, const T* v, int n,
                          int d) {
    if constexpr (NQ > 4) {
      scale_add_n<4>(acc, c, p, v, n, d);
      scale_add_n<NQ - 4>(acc + 4, c + 4, p + 4, v, n, d);
    } else if (d == 128) {
      scale_add_d<NQ, 128>(acc, c, p, v, n, d);
    } else {
      scale_add_d<NQ, 0>(acc, c, p, v, n, d);
    }
  }

  static float max(const float* s, int n) {
    __m512 mx = _mm512_set1_ps(-__builtin_huge_valf());
    for (int j = 0; j < n; j += 16)
      mx = _mm512_mask_max_ps(mx, tail_mask(n - j), mx, _mm512_maskz_loadu_ps(tail_mask(n - j), s + j));
    return _mm512_reduce_max_ps(mx);
  }

  static float exp_sub(float* s, int n, float m) {
    __m512 mv = _mm512_set1_ps(m), sum = _mm512_setzero_ps();
    for (int j = 0; j < n; j += 16) {
      __mmask16 k = tail_mask(n - j);
      __m512 e = exp512(_mm512_sub_ps(_mm512_maskz_loadu_ps(k, s + j), mv));
      _mm512_mask_storeu_ps(s + j, k, e);
      sum = _mm512_mask_add_ps(sum, k, sum, e);
    }
    return _mm512_reduce_add_ps(sum);
  }

  // acc[q] = acc[q] * c[q] + sum_j p[q][j] * v[j] for NQ queries fed by the same value rows, 64 lanes at a
  // time (c == 1: no rescale).
  template <int NQ, int D, class T>
  static void scale_add_d(float* const* acc, const float* c, const float* const* p, const T* v, int n,
                          int d_any) {
    const int d = D ? D : d_any;
    for (int i = 0; i < d; i += 64) {
      const __mmask16 m[4] = {tail_mask(d - i), tail_mask(d - i - 16), tail_mask(d - i - 32),
                              tail_mask(d - i - 48)};
      __m512 a[NQ][4];
      load_scaled<NQ>(acc, c, i, m, a);
      for (int j = 0; j < n; ++j) {
        __m512 pj[NQ];
        for (int r = 0; r < NQ; ++r) pj[r] = _mm512_set1_ps(p[r][j]);
        for (int u = 0; u < 4; ++u) {
          const __m512 w = load_row(v + static_cast<size_t>(j) * d + i + 16 * u, m[u]);
          for (int r = 0; r < NQ; ++r) a[r][u] = _mm512_fmadd_ps(pj[r], w, a[r][u]);
        }
      }
      store_acc<NQ>(acc, i, m, a);
    }
  }

  static void finish(const float* acc, float inv, int d, float* out) {
    const __m512 iv = _mm512_set1_ps(inv);
    for (int i = 0; i < d; i += 16) {
      __mmask16 m = tail_mask(d - i);
      _mm512_mask_storeu_ps(out + i, m, _mm512_mul_ps(_mm512_maskz_loadu_ps(m, acc + i), iv));
    }
  }
};

// bf16 caches: the bf16 path of attention_impl.h (Bf16Generic defines the arithmetic) with vdpbf16ps on the
// cache as stored (attention.h): element pair p of 16 keys fills a register (one key per lane, no horizontal
// sums), and so does dimension i of a position pair's 16 values. Each instruction is one pair step of
// Bf16Generic's chains (odd product first, each rounded once), so a query's bits do not depend on the run.
struct Bf16 {
  static constexpr int kMaxRun = 8;  // queries per key load, as Ops

  // Scores, the online softmax step and p in bf16 for a run, each query's scores kept in registers from the
  // dot products to p (no store and reload of s or of partly written p, which cost a third of the prompt
  // block's time). The arithmetic of Bf16Generic::scores_p with this ISA's Ops but for the running sum, kept
  // as 16 lane sums (the tile's p added lane by lane, the lanes summed once by total()): the tile max (a lane
  // above the running max is tested first: when none is, the max stays and needs no reduction), exp512 of
  // the lanes below len, p rounded by vcvtneps2bf16.
  template <int NQ>
  static void scores_p(const uint16_t* const* qb, const uint16_t* kt, const int* lens, int len, int d,
                       float scale, float* run_max, float* run_sum, float* corr, uint16_t* const* pb) {
    if (d == 128) {
      if (len <= 16)
        scores_p_t<NQ, 1, 64>(qb, kt, lens, d, scale, run_max, run_sum, corr, pb);
      else
        scores_p_t<NQ, 2, 64>(qb, kt, lens, d, scale, run_max, run_sum, corr, pb);
    } else {
      if (len <= 16)
        scores_p_t<NQ, 1, 0>(qb, kt, lens, d, scale, run_max, run_sum, corr, pb);
      else
        scores_p_t<NQ, 2, 0>(qb, kt, lens, d, scale, run_max, run_sum, corr, pb);
    }
  }
  template <int NQ, int H, int P>
  static void scores_p_t(const uint16_t* const* qb, const uint16_t* kt, const int* lens, int d, float scale,
                         float* run_max, float* run_sum, float* corr, uint16_t* const* pb) {
    const int np = P ? P : (d + 1) / 2;
    __m512 a[NQ][H];
    for (int r = 0; r < NQ; ++r)
      for (int h = 0; h < H; ++h) a[r][h] = _mm512_setzero_ps();
#pragma GCC unroll 4
    for (int p = 0; p < np; ++p) {
      __m512bh k[H];
      for (int h = 0; h < H; ++h)
        k[h] = reinterpret_cast<__m512bh>(
            _mm512_loadu_si512(kt + (static_cast<size_t>(p) * kAttnTile + 16 * h) * 2));
      for (int r = 0; r < NQ; ++r) {
        uint32_t pair;
        std::memcpy(&pair, qb[r] + 2 * p, 4);
        const __m512bh qv = reinterpret_cast<__m512bh>(_mm512_set1_epi32(static_cast<int>(pair)));
        for (int h = 0; h < H; ++h) a[r][h] = _mm512_dpbf16_ps(a[r][h], k[h], qv);
      }
    }
    const __m512 sv = _mm512_set1_ps(scale);
    for (int r = 0; r < NQ; ++r) {
      const __mmask16 m[2] = {tail_mask(lens[r]), tail_mask(lens[r] - 16)};
      __m512 s[H];
      __mmask16 above = 0;
      const __m512 old_max = _mm512_set1_ps(run_max[r]);
      for (int h = 0; h < H; ++h) {
        s[h] = _mm512_mul_ps(a[r][h], sv);
        above |= _mm512_mask_cmp_ps_mask(m[h], s[h], old_max, _CMP_GT_OQ);
      }
      float m_new = run_max[r];
      if (above) {
        __m512 mx = _mm512_set1_ps(-__builtin_huge_valf());
        for (int h = 0; h < H; ++h) mx = _mm512_mask_max_ps(mx, m[h], mx, s[h]);
        const float m_tile = _mm512_reduce_max_ps(mx);
        m_new = m_tile > m_new ? m_tile : m_new;
      }
      corr[r] = m_new == run_max[r] ? 1.0f : expf(run_max[r] - m_new);
      const __m512 mv = _mm512_set1_ps(m_new);
      __m512 sum = _mm512_setzero_ps();
      __m256bh p16[2];
      for (int h = 0; h < 2; ++h) {
        __m512 e = _mm512_setzero_ps();
        if (h < H) {
          e = _mm512_maskz_mov_ps(m[h], exp512(_mm512_sub_ps(s[h < H ? h : 0], mv)));
          sum = _mm512_mask_add_ps(sum, m[h], sum, e);
        }
        p16[h] = _mm512_cvtneps_pbh(e);
      }
      // The running sum as 16 lane sums, reduced once at the end (total): no horizontal add per tile.
      __m512 rs = _mm512_loadu_ps(run_sum + 16 * r);
      if (corr[r] != 1.0f) rs = _mm512_mul_ps(rs, _mm512_set1_ps(corr[r]));
      _mm512_storeu_ps(run_sum + 16 * r, _mm512_add_ps(rs, sum));
      run_max[r] = m_new;
      _mm256_storeu_si256(reinterpret_cast<__m256i*>(pb[r]), reinterpret_cast<__m256i>(p16[0]));
      _mm256_storeu_si256(reinterpret_cast<__m256i*>(pb[r] + 16), reinterpret_cast<__m256i>(p16[1]));
    }
  }

  static float total(const float* run_sum) {
    return _mm512_reduce_add_ps(_mm512_loadu_ps(run_sum));
  }

  // vcvtneps2bf16: nearest even, denormals to signed zero (scalar::round_bf16's rule); the pad to an even
  // count is a zero.
  static void round_bf16(const float* p, int len, uint16_t* pb) {
    const int padded = len + len % 2;
    for (int j = 0; j < padded; j += 16) {
      const __m256bh h = _mm512_cvtneps_pbh(_mm512_maskz_loadu_ps(tail_mask(len - j), p + j));
      _mm256_mask_storeu_epi16(pb + j, tail_mask(padded - j), reinterpret_cast<__m256i>(h));
    }
  }

  // p.v of runs of up to 8 queries, 4 at a time (as Ops::scale_add_n).
  template <int NQ>
  static void pv(const uint16_t* const* pb, const int* lens, int len, const uint16_t* vt, int d,
                 const float* corr, float* const* acc) {
    if constexpr (NQ > 4) {
      pv<4>(pb, lens, len, vt, d, corr, acc);
      pv<NQ - 4>(pb + 4, lens + 4, len, vt, d, corr + 4, acc + 4);
    } else if (d == 128) {
      pv_d<NQ, 128>(pb, len, vt, d, corr, acc);
    } else {
      pv_d<NQ, 0>(pb, len, vt, d, corr, acc);
    }
  }
  template <int NQ, int D>
  static void pv_d(const uint16_t* const* pb, int len, const uint16_t* vt, int d_any, const float* corr,
                   float* const* acc) {
    const int d = D ? D : d_any, dp = d + d % 2;
    for (int i = 0; i < d; i += 64) {
      const __mmask16 m[4] = {tail_mask(d - i), tail_mask(d - i - 16), tail_mask(d - i - 32),
                              tail_mask(d - i - 48)};
      __m512 a[NQ][4];
      load_scaled<NQ>(acc, corr, i, m, a);
      // One position pair: its p pair broadcast per query; `keep` clears the odd position of a last,
      // half-filled pair (its p is zero, and so must its value be, whatever the cache holds there).
      auto pair_step = [&](int mm, __m512i keep) {
        __m512bh pj[NQ];
        for (int r = 0; r < NQ; ++r) {
          uint32_t pair;
          std::memcpy(&pair, pb[r] + 2 * mm, 4);
          pj[r] = reinterpret_cast<__m512bh>(_mm512_set1_epi32(static_cast<int>(pair)));
        }
        for (int u = 0; u < 4; ++u) {
          const __m512i w = _mm512_and_si512(
              _mm512_maskz_loadu_epi32(m[u], vt + (static_cast<size_t>(mm) * dp + i + 16 * u) * 2), keep);
          for (int r = 0; r < NQ; ++r)
            a[r][u] = _mm512_dpbf16_ps(a[r][u], reinterpret_cast<__m512bh>(w), pj[r]);
        }
      };
      const __m512i all = _mm512_set1_epi32(-1);
      for (int mm = 0; mm < len / 2; ++mm) pair_step(mm, all);
      if (len % 2) pair_step(len / 2, _mm512_set1_epi32(0xffff));
      store_acc<NQ>(acc, i, m, a);
    }
  }
};

// q8_0 caches: the integer path of attention_impl.h (Q8Generic defines the arithmetic) with VNNI.
//   K tile: bytes [b][r][j][4] = k[j][32b + 4r .. 4r + 3] + 128 (unsigned for vpdpbusd, the 128 * sum(q)
//           it adds is taken off at the start), so 16 positions' 4-value groups fill one register;
//   V tile: int16 [j/2][i][2] = (v[j][i], v[j + 1][i]), so vpdpwssd adds two positions per lane.
// Scores come out with one position per lane (no horizontal sums); p.v with one dimension per lane.
struct Q8 {
  static constexpr int kMaxRun = 4;  // runs of queries per K/V tile load (attention_impl.h)

  // Scales of one block for 16 rows (masked) as f32.
  static __m512 gather_scales(const uint8_t* block, size_t rb, __mmask16 m) {
    const __m512i idx =
        _mm512_mullo_epi32(_mm512_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15),
                           _mm512_set1_epi32(static_cast<int>(rb)));
    __m512i w = _mm512_mask_i32gather_epi32(_mm512_setzero_si512(), m, idx, block, 1);
    return _mm512_cvtph_ps(_mm512_cvtepi32_epi16(w));
  }

  // 8 rows of 8 dwords -> a[r] = dword r of each row (the usual unpack / unpack / lane-swap transpose).
  static void transpose8x8(__m256i* a) {
    __m256i t[8], u[8];
    for (int k = 0; k < 4; ++k) {
      t[2 * k] = _mm256_unpacklo_epi32(a[2 * k], a[2 * k + 1]);
      t[2 * k + 1] = _mm256_unpackhi_epi32(a[2 * k], a[2 * k + 1]);
    }
    for (int k = 0; k < 2; ++k) {
      u[4 * k] = _mm256_unpacklo_epi64(t[4 * k], t[4 * k + 2]);
      u[4 * k + 1] = _mm256_unpackhi_epi64(t[4 * k], t[4 * k + 2]);
      u[4 * k + 2] = _mm256_unpacklo_epi64(t[4 * k + 1], t[4 * k + 3]);
      u[4 * k + 3] = _mm256_unpackhi_epi64(t[4 * k + 1], t[4 * k + 3]);
    }
    for (int r = 0; r < 4; ++r) {
      a[r] = _mm256_permute2x128_si256(u[r], u[4 + r], 0x20);
      a[r + 4] = _mm256_permute2x128_si256(u[r], u[4 + r], 0x31);
    }
  }

  static void pack_k(const uint8_t* src, size_t rb, int n, int d, void* kt, float* ks) {
    uint8_t* k = static_cast<uint8_t*>(kt);
    const __m256i flip = _mm256_set1_epi8(static_cast<char>(0x80));
    for (int j0 = 0; j0 < n; j0 += 8) {  // positions >= n are never read
      for (int b = 0; b < d / kQuantBlock; ++b) {
        __m256i a[8];
#pragma GCC unroll 8
        for (int u = 0; u < 8; ++u)
          a[u] = j0 + u < n ? _mm256_loadu_si256(reinterpret_cast<const __m256i*>(src + (j0 + u) * rb +
                                                                                  b * sizeof(BlockQ8_0) + 2))
                            : _mm256_setzero_si256();
        transpose8x8(a);
#pragma GCC unroll 8
        for (int r = 0; r < 8; ++r)
          _mm256_storeu_si256(reinterpret_cast<__m256i*>(k + ((b * 8 + r) * kAttnTile + j0) * 4),
                              _mm256_xor_si256(a[r], flip));
      }
    }
    for (int b = 0; b < d / kQuantBlock; ++b)
      for (int h = 0; h < 2; ++h)
        _mm512_storeu_ps(ks + b * kAttnTile + 16 * h,
                         gather_scales(src + 16 * h * rb + b * sizeof(BlockQ8_0), rb, tail_mask(n - 16 * h)));
  }

  static void pack_v(const uint8_t* src, size_t rb, int n, int d, void* vt, float* vs) {
    int16_t* v = static_cast<int16_t*>(vt);
    // Word indices into (x, y): x[0], y[0], x[1], y[1], ... (lo: values 0..15, hi: 16..31).
    static const int16_t kInterleave[32] = {0, 32, 1, 33, 2,  34, 3,  35, 4,  36, 5,  37, 6,  38, 7,  39,
                                            8, 40, 9, 41, 10, 42, 11, 43, 12, 44, 13, 45, 14, 46, 15, 47};
    const __m512i lo = _mm512_loadu_si512(kInterleave);
    const __m512i hi = _mm512_add_epi16(lo, _mm512_set1_epi16(16));
    for (int jp = 0; 2 * jp < n; ++jp) {  // pairs past n are never read
      const uint8_t* r0 = src + 2 * jp * rb;
      const bool has1 = 2 * jp + 1 < n;
      for (int b = 0; b < d / kQuantBlock; ++b) {
        const size_t off = b * sizeof(BlockQ8_0) + 2;
        __m512i x = _mm512_cvtepi8_epi16(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(r0 + off)));
        __m512i y =
            has1 ? _mm512_cvtepi8_epi16(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(r0 + rb + off)))
                 : _mm512_setzero_si512();
        int16_t* o = v + (static_cast<size_t>(jp) * d + b * kQuantBlock) * 2;
        _mm512_storeu_si512(o, _mm512_permutex2var_epi16(x, lo, y));
        _mm512_storeu_si512(o + 32, _mm512_permutex2var_epi16(x, hi, y));
      }
    }
    for (int b = 0; b < d / kQuantBlock; ++b)
#pragma GCC unroll 16
      for (int h = 0; h < 2; ++h)
        _mm512_storeu_ps(vs + b * kAttnTile + 16 * h,
                         gather_scales(src + 16 * h * rb + b * sizeof(BlockQ8_0), rb, tail_mask(n - 16 * h)));
  }

  template <int NQ>
  static void scores(const int8_t* const* qi, const float* const* qs, const int32_t* const* qsum,
                     const void* kt, const float* ks, int len, int d, float scale, float* const* s) {
    const uint8_t* k = static_cast<const uint8_t*>(kt);
    __m512 f[NQ][2];
#pragma GCC unroll 16
    for (int q = 0; q < NQ; ++q) f[q][0] = f[q][1] = _mm512_setzero_ps();
    for (int b = 0; b < d / kQuantBlock; ++b) {
      // Two accumulators per (query, half) for the even and odd groups of 4 values: twice the chains.
      __m512i acc[NQ][2][2];
#pragma GCC unroll 16
      for (int q = 0; q < NQ; ++q) {
        acc[q][0][0] = acc[q][1][0] = _mm512_set1_epi32(-128 * qsum[q][b]);
        acc[q][0][1] = acc[q][1][1] = _mm512_setzero_si512();
      }
#pragma GCC unroll 16
      for (int r = 0; r < kQuantBlock / 4; ++r) {
        const uint8_t* kr = k + (b * 8 + r) * kAttnTile * 4;
        const __m512i k0 = _mm512_loadu_si512(kr), k1 = _mm512_loadu_si512(kr + 64);
#pragma GCC unroll 16
        for (int q = 0; q < NQ; ++q) {
          int32_t w;
          std::memcpy(&w, qi[q] + b * kQuantBlock + 4 * r, 4);
          const __m512i qv = _mm512_set1_epi32(w);
          acc[q][0][r & 1] = _mm512_dpbusd_epi32(acc[q][0][r & 1], k0, qv);
          acc[q][1][r & 1] = _mm512_dpbusd_epi32(acc[q][1][r & 1], k1, qv);
        }
      }
#pragma GCC unroll 16
      for (int q = 0; q < NQ; ++q) {
        const __m512 sq = _mm512_set1_ps(qs[q][b]);
#pragma GCC unroll 16
        for (int h = 0; h < 2; ++h) {
          const __m512 isum = _mm512_cvtepi32_ps(_mm512_add_epi32(acc[q][h][0], acc[q][h][1]));
          f[q][h] =
              _mm512_fmadd_ps(isum, _mm512_mul_ps(sq, _mm512_loadu_ps(ks + b * kAttnTile + 16 * h)), f[q][h]);
        }
      }
    }
    const __m512 sc = _mm512_set1_ps(scale);
#pragma GCC unroll 16
    for (int q = 0; q < NQ; ++q)
#pragma GCC unroll 16
      for (int h = 0; h < 2; ++h)
        _mm512_mask_storeu_ps(s[q] + 16 * h, tail_mask(len - 16 * h), _mm512_mul_ps(f[q][h], sc));
  }

  // NC chunks of 16 dimensions from chunk c0: int32 sums over the pairs, then into the f32 accumulators.
  template <int NQ, int NC>
  static void pv_chunks(const int* len, const float* ps, const int16_t* v, const int16_t* p16, int npair,
                        int d, int nb, int c0, const float* corr, float* const* acc) {
    __m512i ia[NQ][NC];
#pragma GCC unroll 16
    for (int q = 0; q < NQ; ++q)
#pragma GCC unroll 16
      for (int c = 0; c < NC; ++c) ia[q][c] = _mm512_setzero_si512();
    for (int jp = 0; jp < npair; ++jp) {
      __m512i pb[NQ][NC / 2];
#pragma GCC unroll 16
      for (int q = 0; q < NQ; ++q)
#pragma GCC unroll 16
        for (int c = 0; c < NC / 2; ++c) {
          int32_t w;
          std::memcpy(&w, p16 + ((q * nb + c0 / 2 + c) * kAttnTile + 2 * jp), 4);
          pb[q][c] = _mm512_set1_epi32(w);
        }
      const int16_t* vr = v + (static_cast<size_t>(jp) * d + c0 * 16) * 2;
#pragma GCC unroll 16
      for (int c = 0; c < NC; ++c) {
        const __m512i x = _mm512_loadu_si512(vr + c * 32);
#pragma GCC unroll 16
        for (int q = 0; q < NQ; ++q) ia[q][c] = _mm512_dpwssd_epi32(ia[q][c], x, pb[q][c / 2]);
      }
    }
#pragma GCC unroll 16
    for (int q = 0; q < NQ; ++q) {
      const __m512 cv = _mm512_set1_ps(corr[q]);
#pragma GCC unroll 16
      for (int c = 0; c < NC; ++c) {
        const float si = ps[((c0 + c) / 2) * kAttnTile + len[q] - 1];
        float* a = acc[q] + (c0 + c) * 16;
        _mm512_storeu_ps(a, _mm512_fmadd_ps(_mm512_cvtepi32_ps(ia[q][c]), _mm512_set1_ps(si),
                                            _mm512_mul_ps(_mm512_loadu_ps(a), cv)));
      }
    }
  }

  template <int NQ>
  static void pv(const float* const* p, const int* len, const float* vs, const float* pw, const float* ps,
                 const void* vt, int d, const float* corr, float* const* acc, int16_t* p16) {
    const int nb = d / kQuantBlock;
    int maxlen = 0;
#pragma GCC unroll 16
    for (int q = 0; q < NQ; ++q) {
      maxlen = len[q] > maxlen ? len[q] : maxlen;
      for (int b = 0; b < nb; ++b) {
        const __m512 w = _mm512_set1_ps(pw[b * kAttnTile + len[q] - 1]);
#pragma GCC unroll 16
        for (int h = 0; h < 2; ++h) {
          const __mmask16 m = tail_mask(len[q] - 16 * h);
          const __m512 x = _mm512_mul_ps(_mm512_maskz_loadu_ps(m, p[q] + 16 * h),
                                         _mm512_mul_ps(w, _mm512_loadu_ps(vs + b * kAttnTile + 16 * h)));
          // Rounded to even, then saturated to 32767 (p may exceed 1 by an ulp): the scalar min after
          // rounding.
          _mm256_storeu_si256(reinterpret_cast<__m256i*>(p16 + (q * nb + b) * kAttnTile + 16 * h),
                              _mm512_cvtsepi32_epi16(_mm512_maskz_cvtps_epi32(m, x)));
        }
      }
    }
    const int16_t* v = static_cast<const int16_t*>(vt);
    const int npair = (maxlen + 1) / 2;
    if constexpr (NQ > 2) {  // 4 chunks at a time: NQ x 8 int32 sums would not fit the 32 registers
      for (int c0 = 0; c0 < d / 16; c0 += 4) {
        if (d / 16 - c0 == 2)
          pv_chunks<NQ, 2>(len, ps, v, p16, npair, d, nb, c0, corr, acc);
        else
          pv_chunks<NQ, 4>(len, ps, v, p16, npair, d, nb, c0, corr, acc);
      }
      return;
    }
    for (int c0 = 0; c0 < d / 16; c0 += 8) {
      switch (d / 16 - c0) {
        case 2:
          pv_chunks<NQ, 2>(len, ps, v, p16, npair, d, nb, c0, corr, acc);
          break;
        case 4:
          pv_chunks<NQ, 4>(len, ps, v, p16, npair, d, nb, c0, corr, acc);
          break;
        case 6:
          pv_chunks<NQ, 6>(len, ps, v, p16, npair, d, nb, c0, corr, acc);
          break;
        default:
          pv_chunks<NQ, 8>(len, ps, v, p16, npair, d, nb, c0, corr, acc);
          break;
      }
    }
  }
};

void attend(const AttentionArgs& a) {
  if (a.kv_type == DType::kQ8_0)
    attend_q8<Ops, Q8>(a);
  else if (a.kv_type == DType::kBF16)
    attend_bf16<Ops, Bf16>(a);
  else
    attend_tiled<Ops>(a);
}

// A bf16 cache's key: 32 elements rounded at once (vcvtne2ps2bf16: round_bf16's rule, as the ISA's
// round_bf16), their 16 element pairs scattered to lane jt of 16 rows of the tile. Zero-masked loads give an
// odd head_dim's pad half.
void store_key_bf16(const float* src, int d, uint8_t* tile, int jt) {
  const __m512i lanes = _mm512_add_epi32(
      _mm512_mullo_epi32(_mm512_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15),
                         _mm512_set1_epi32(kAttnTile)),
      _mm512_set1_epi32(jt));
  for (int i = 0; i < d; i += 32) {
    const int n = d - i;
    const __m512 lo = _mm512_maskz_loadu_ps(tail_mask(n), src + i);
    const __m512 hi = _mm512_maskz_loadu_ps(tail_mask(n - 16), src + i + 16);
    const __m512i pairs = reinterpret_cast<__m512i>(_mm512_cvtne2ps_pbh(hi, lo));
    _mm512_mask_i32scatter_epi32(tile + static_cast<size_t>(i / 2) * kAttnTile * 4, tail_mask((n + 1) / 2),
                                 lanes, pairs, 4);
  }
}

// A bf16 cache's value: 16 elements rounded at once, each in its own 32-bit lane (shifted to the high half
// for an odd position), stored into the halves of the position pair that are the position's.
void store_value_bf16(const float* src, int d, uint8_t* tile, int jt) {
  const int dp = d + d % 2;
  uint16_t* at = reinterpret_cast<uint16_t*>(tile) + static_cast<size_t>(jt / 2) * dp * 2;
  const __mmask32 half = jt % 2 ? 0xAAAAAAAAu : 0x55555555u;
  for (int i = 0; i < dp; i += 16) {
    const int m = dp - i;  // elements of the (padded) row left
    const __m512 x = _mm512_maskz_loadu_ps(tail_mask(d - i), src + i);
    __m512i w = _mm512_cvtepu16_epi32(reinterpret_cast<__m256i>(_mm512_cvtneps_pbh(x)));
    if (jt % 2) w = _mm512_slli_epi32(w, 16);
    const __mmask32 rows = m >= 16 ? 0xFFFFFFFFu : static_cast<__mmask32>((1u << (2 * m)) - 1);
    _mm512_mask_storeu_epi16(at + 2 * i, half & rows, w);
  }
}

}  // namespace

const AttentionTable kAttentionTable = {attend, store_key_bf16, store_value_bf16};

}  // namespace qwen3::kernels::avx512
