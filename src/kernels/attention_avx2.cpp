// AVX2/FMA/F16C attention: the tile loop of attention_impl.h over 8-lane primitives. Any head_dim (masked
// loads for the tails); scores with one key per lane (the key tile's layout), values accumulated 32 lanes at
// a time. Tested against the scalar reference in tests/attention/attention_test.cpp.
#include <immintrin.h>

#include <cstring>

#include "kernels/attention_impl.h"
#include "kernels/bf16_avx2.h"

namespace qwen3::kernels::avx2 {
namespace {

alignas(64) const int32_t kMaskTable[16] = {-1, -1, -1, -1, -1, -1, -1, -1, 0, 0, 0, 0, 0, 0, 0, 0};

// Lanes [0, n) set (n clamped to [0, 8]).
inline __m256i tail_mask(int n) {
  n = n < 0 ? 0 : n > 8 ? 8 : n;
  return _mm256_loadu_si256(reinterpret_cast<const __m256i*>(kMaskTable + 8 - n));
}

// v's lanes [0, n) to p (all 8 with a plain store: a masked one is slow on AMD's cores).
inline void store_tail(float* p, int n, __m256 v) {
  if (n >= 8)
    _mm256_storeu_ps(p, v);
  else
    _mm256_maskstore_ps(p, tail_mask(n), v);
}

inline float hsum(__m256 v) {
  __m128 s = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
  s = _mm_add_ps(s, _mm_movehl_ps(s, s));
  s = _mm_add_ss(s, _mm_movehdup_ps(s));
  return _mm_cvtss_f32(s);
}

// exp(x) for x <= 0 within ~2 ulp (Cephes' expf polynomial); very negative x give ~1e-38 instead of 0.
inline __m256 exp256(__m256 x) {
  x = _mm256_max_ps(_mm256_min_ps(x, _mm256_set1_ps(88.0f)), _mm256_set1_ps(-87.33654f));
  __m256 n = _mm256_round_ps(_mm256_mul_ps(x, _mm256_set1_ps(1.44269504088896341f)),
                             _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
  __m256 r = _mm256_fnmadd_ps(n, _mm256_set1_ps(0.693359375f), x);
  r = _mm256_fnmadd_ps(n, _mm256_set1_ps(-2.12194440e-4f), r);
  __m256 p = _mm256_set1_ps(1.9875691500e-4f);
  p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(1.3981999507e-3f));
  p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(8.3334519073e-3f));
  p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(4.1665795894e-2f));
  p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(1.6666665459e-1f));
  p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(5.0000001201e-1f));
  p = _mm256_fmadd_ps(p, _mm256_mul_ps(r, r), r);
  p = _mm256_add_ps(p, _mm256_set1_ps(1.0f));
  __m256i e = _mm256_slli_epi32(_mm256_add_epi32(_mm256_cvtps_epi32(n), _mm256_set1_epi32(127)), 23);
  return _mm256_mul_ps(p, _mm256_castsi256_ps(e));
}

struct Ops {
  static void widen(DType t, const uint8_t* src, size_t row_bytes, int n, int d, float* dst) {
    for (int j = 0; j < n; ++j) {
      const uint8_t* row = src + j * row_bytes;
      const uint16_t* h = reinterpret_cast<const uint16_t*>(row);
      float* o = dst + static_cast<size_t>(j) * d;
      int i = 0;
      if (t == DType::kF16) {
        for (; i + 8 <= d; i += 8)
          _mm256_storeu_ps(o + i, _mm256_cvtph_ps(_mm_loadu_si128(reinterpret_cast<const __m128i*>(h + i))));
        for (; i < d; ++i) o[i] = _cvtsh_ss(h[i]);
      } else if (t == DType::kBF16) {
        widen_bf16(h, d, o);
      } else if (t == DType::kQ8_0) {
        const BlockQ8_0* b = reinterpret_cast<const BlockQ8_0*>(row);
        for (int k = 0; k < d / kQuantBlock; ++k) {
          __m256 scale = _mm256_set1_ps(_cvtsh_ss(b[k].scale));
          for (int q = 0; q < 4; ++q) {
            __m128i v = _mm_loadl_epi64(reinterpret_cast<const __m128i*>(b[k].q + 8 * q));
            __m256 f = _mm256_cvtepi32_ps(_mm256_cvtepi8_epi32(v));
            _mm256_storeu_ps(o + k * kQuantBlock + 8 * q, _mm256_mul_ps(scale, f));
          }
        }
      } else {
        std::memcpy(o, row, static_cast<size_t>(d) * 4);
      }
    }
  }

  // Scores of NQ queries (1 or 2) over a key tile: one key per lane, an FMA chain over the elements per
  // (query, key), only the lane groups that hold keys < n.
  template <int NQ>
  static void scores_t(const float* const* q, const float* k, int n, int d, float scale, float* const* s) {
    const int groups = (n + 7) / 8;
    __m256 a[NQ][4];
    for (int r = 0; r < NQ; ++r)
      for (int u = 0; u < 4; ++u) a[r][u] = _mm256_setzero_ps();
    for (int i = 0; i < d; ++i) {
      const float* ki = k + static_cast<size_t>(i) * kAttnTile;
      __m256 qb[NQ];
      for (int r = 0; r < NQ; ++r) qb[r] = _mm256_set1_ps(q[r][i]);
      for (int u = 0; u < 4; ++u) {
        if (u >= groups) break;
        const __m256 kv = _mm256_loadu_ps(ki + 8 * u);
        for (int r = 0; r < NQ; ++r) a[r][u] = _mm256_fmadd_ps(qb[r], kv, a[r][u]);
      }
    }
    const __m256 sv = _mm256_set1_ps(scale);
    for (int r = 0; r < NQ; ++r)
      for (int u = 0; u < groups; ++u) store_tail(s[r] + 8 * u, n - 8 * u, _mm256_mul_ps(a[r][u], sv));
  }
  static void scores(const float* q, const float* k, int n, int d, float scale, float* s) {
    scores_t<1>(&q, k, n, d, scale, &s);
  }

  static float max(const float* s, int n) {
    float m = s[0];
    for (int j = 1; j < n; ++j) m = s[j] > m ? s[j] : m;
    return m;
  }

  static float exp_sub(float* s, int n, float m) {
    __m256 mv = _mm256_set1_ps(m), sum = _mm256_setzero_ps();
    int j = 0;
    for (; j + 8 <= n; j += 8) {
      const __m256 e = exp256(_mm256_sub_ps(_mm256_loadu_ps(s + j), mv));
      _mm256_storeu_ps(s + j, e);
      sum = _mm256_add_ps(sum, e);
    }
    if (j < n) {
      __m256i k = tail_mask(n - j);
      __m256 e = exp256(_mm256_sub_ps(_mm256_maskload_ps(s + j, k), mv));
      e = _mm256_and_ps(e, _mm256_castsi256_ps(k));
      _mm256_maskstore_ps(s + j, k, e);
      sum = _mm256_add_ps(sum, e);
    }
    return hsum(sum);
  }

  static void scale_add(float* acc, float c, const float* p, const float* v, int n, int d) {
    if (d % 32 == 0) return scale_add_t<true>(acc, c, p, v, n, d);
    scale_add_t<false>(acc, c, p, v, n, d);
  }
  // kWhole: d a multiple of 32 (head_dim 64 and 128), plain loads and stores; AMD's cores run a masked
  // store (vmaskmovps) as a long microcoded sequence (a Zen 3 q8_0 prompt with the f16 cache: attention
  // 16.2 -> 12.3 % of its samples).
  template <bool kWhole>
  static void scale_add_t(float* acc, float c, const float* p, const float* v, int n, int d) {
    const __m256 cv = _mm256_set1_ps(c);
    for (int i = 0; i < d; i += 32) {
      if constexpr (kWhole) {
        __m256 a[4];
        for (int u = 0; u < 4; ++u) a[u] = _mm256_loadu_ps(acc + i + 8 * u);
        if (c != 1.0f)
          for (int u = 0; u < 4; ++u) a[u] = _mm256_mul_ps(a[u], cv);
        for (int j = 0; j < n; ++j) {
          const float* vj = v + static_cast<size_t>(j) * d + i;
          const __m256 pj = _mm256_set1_ps(p[j]);
          for (int u = 0; u < 4; ++u) a[u] = _mm256_fmadd_ps(pj, _mm256_loadu_ps(vj + 8 * u), a[u]);
        }
        for (int u = 0; u < 4; ++u) _mm256_storeu_ps(acc + i + 8 * u, a[u]);
        continue;
      }
      __m256i m0 = tail_mask(d - i), m1 = tail_mask(d - i - 8), m2 = tail_mask(d - i - 16),
              m3 = tail_mask(d - i - 24);
      __m256 a0 = _mm256_maskload_ps(acc + i, m0), a1 = _mm256_maskload_ps(acc + i + 8, m1),
             a2 = _mm256_maskload_ps(acc + i + 16, m2), a3 = _mm256_maskload_ps(acc + i + 24, m3);
      if (c != 1.0f) {
        a0 = _mm256_mul_ps(a0, cv);
        a1 = _mm256_mul_ps(a1, cv);
        a2 = _mm256_mul_ps(a2, cv);
        a3 = _mm256_mul_ps(a3, cv);
      }
      for (int j = 0; j < n; ++j) {
        const float* vj = v + static_cast<size_t>(j) * d + i;
        __m256 pj = _mm256_set1_ps(p[j]);
        a0 = _mm256_fmadd_ps(pj, _mm256_maskload_ps(vj, m0), a0);
        a1 = _mm256_fmadd_ps(pj, _mm256_maskload_ps(vj + 8, m1), a1);
        a2 = _mm256_fmadd_ps(pj, _mm256_maskload_ps(vj + 16, m2), a2);
        a3 = _mm256_fmadd_ps(pj, _mm256_maskload_ps(vj + 24, m3), a3);
      }
      _mm256_maskstore_ps(acc + i, m0, a0);
      _mm256_maskstore_ps(acc + i + 8, m1, a1);
      _mm256_maskstore_ps(acc + i + 16, m2, a2);
      _mm256_maskstore_ps(acc + i + 24, m3, a3);
    }
  }

  static void scores2(const float* q0, const float* q1, const float* k, int n, int d, float scale, float* s0,
                      float* s1) {
    const float* q[2] = {q0, q1};
    float* s[2] = {s0, s1};
    scores_t<2>(q, k, n, d, scale, s);
  }
  static void scale_add2(float* acc0, float c0, const float* p0, float* acc1, float c1, const float* p1,
                         const float* v, int n, int d) {
    scale_add(acc0, c0, p0, v, n, d);
    scale_add(acc1, c1, p1, v, n, d);
  }
  static void finish(const float* acc, float inv, int d, float* out) {
    const __m256 iv = _mm256_set1_ps(inv);
    int i = 0;
    for (; i + 8 <= d; i += 8) _mm256_storeu_ps(out + i, _mm256_mul_ps(_mm256_loadu_ps(acc + i), iv));
    if (i < d) {
      __m256i m = tail_mask(d - i);
      _mm256_maskstore_ps(out + i, m, _mm256_mul_ps(_mm256_maskload_ps(acc + i, m), iv));
    }
  }
};

// q8_0 caches: Q8Generic's K tile and its arithmetic, in intrinsics. q.k: the int8 products through
// vpmaddubsw on |q| and k * sign(q) (|values| <= 127, so the int16 pairs cannot saturate), four keys' block
// sums reduced together. p.v: the V tile as int16 pairs [j/2][i][2] = (v[j][i], v[j + 1][i]) for vpmaddwd.
struct Q8 : Q8Generic<Ops> {
  static void pack_v(const uint8_t* src, size_t rb, int n, int d, void* vt, float* vs) {
    int16_t* v = static_cast<int16_t*>(vt);
    alignas(32) int8_t row[2][512];
    for (int jp = 0; 2 * jp < n; ++jp) {  // pairs past n are never read
      for (int u = 0; u < 2; ++u) {
        const int j = 2 * jp + u;
        if (j < n) {
          kv_q8_split_row(src + j * rb, d, row[u], vs + j, kAttnTile);
        } else {
          for (int i = 0; i < d; ++i) row[u][i] = 0;
          for (int b = 0; b < d / kQuantBlock; ++b) vs[b * kAttnTile + j] = 0.0f;
        }
      }
      for (int i = 0; i < d; i += 16) {
        const __m256i x = _mm256_cvtepi8_epi16(_mm_loadu_si128(reinterpret_cast<const __m128i*>(row[0] + i)));
        const __m256i y = _mm256_cvtepi8_epi16(_mm_loadu_si128(reinterpret_cast<const __m128i*>(row[1] + i)));
        const __m256i lo = _mm256_unpacklo_epi16(x, y), hi = _mm256_unpackhi_epi16(x, y);  // per 128-bit lane
        int16_t* o = v + (static_cast<size_t>(jp) * d + i) * 2;
        _mm256_storeu_si256(reinterpret_cast<__m256i*>(o), _mm256_permute2x128_si256(lo, hi, 0x20));
        _mm256_storeu_si256(reinterpret_cast<__m256i*>(o + 16), _mm256_permute2x128_si256(lo, hi, 0x31));
      }
    }
    for (int j = (n + 1) / 2 * 2; j < kAttnTile; ++j)
      for (int b = 0; b < d / kQuantBlock; ++b) vs[b * kAttnTile + j] = 0.0f;
  }

  template <int NQ>
  static void pv(const float* const* p, const int* len, const float* vs, const float* pw, const float* ps,
                 const void* vt, int d, const float* corr, float* const* acc, int16_t* p16) {
    const int16_t* v = static_cast<const int16_t*>(vt);
    for (int q = 0; q < NQ; ++q)
      for (int b = 0; b < d / kQuantBlock; ++b) {
        const float w = pw[b * kAttnTile + len[q] - 1], si = ps[b * kAttnTile + len[q] - 1];
        // Rounded to even, saturated to 32767 by the pack (the scalar min after rounding); 0 past len.
        const __m256 wv = _mm256_set1_ps(w);
        for (int j0 = 0; j0 < kAttnTile; j0 += 16) {
          __m256i x[2];
          for (int h = 0; h < 2; ++h) {
            const __m256 pj = _mm256_maskload_ps(p[q] + j0 + 8 * h, tail_mask(len[q] - j0 - 8 * h));
            x[h] = _mm256_cvtps_epi32(
                _mm256_mul_ps(pj, _mm256_mul_ps(wv, _mm256_loadu_ps(vs + b * kAttnTile + j0 + 8 * h))));
          }
          _mm256_storeu_si256(reinterpret_cast<__m256i*>(p16 + j0),
                              _mm256_permute4x64_epi64(_mm256_packs_epi32(x[0], x[1]), 0xd8));
        }
        __m256i ia[4] = {_mm256_setzero_si256(), _mm256_setzero_si256(), _mm256_setzero_si256(),
                         _mm256_setzero_si256()};
        for (int jp = 0; 2 * jp < len[q]; ++jp) {
          int32_t pair;
          std::memcpy(&pair, p16 + 2 * jp, 4);
          const __m256i pb = _mm256_set1_epi32(pair);
          const int16_t* vr = v + (static_cast<size_t>(jp) * d + b * kQuantBlock) * 2;
#pragma GCC unroll 4
          for (int c = 0; c < 4; ++c)
            ia[c] = _mm256_add_epi32(
                ia[c],
                _mm256_madd_epi16(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(vr + 16 * c)), pb));
        }
        float* a = acc[q] + b * kQuantBlock;
        for (int c = 0; c < 4; ++c)
          _mm256_storeu_ps(
              a + 8 * c, _mm256_fmadd_ps(_mm256_cvtepi32_ps(ia[c]), _mm256_set1_ps(si),
                                         _mm256_mul_ps(_mm256_loadu_ps(a + 8 * c), _mm256_set1_ps(corr[q]))));
      }
  }

  template <int NQ>
  static void scores(const int8_t* const* qi, const float* const* qs, const int32_t* const* /*qsum*/,
                     const void* kt, const float* ks, int len, int d, float scale, float* const* s) {
    const int8_t* k = static_cast<const int8_t*>(kt);
    const __m256i ones = _mm256_set1_epi16(1);
    for (int q = 0; q < NQ; ++q)
      for (int j0 = 0; j0 < len; j0 += 4) {
        __m128 f = _mm_setzero_ps();
        for (int b = 0; b < d / kQuantBlock; ++b) {
          const __m256i qv = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(qi[q] + b * kQuantBlock));
          const __m256i qa = _mm256_abs_epi8(qv);
          __m256i sum[4];
          for (int u = 0; u < 4; ++u) {  // keys past len (up to the tile's end) are computed, never stored
            const __m256i kv =
                _mm256_loadu_si256(reinterpret_cast<const __m256i*>(k + (j0 + u) * d + b * kQuantBlock));
            sum[u] = _mm256_madd_epi16(_mm256_maddubs_epi16(qa, _mm256_sign_epi8(kv, qv)), ones);
          }
          const __m256i h =
              _mm256_hadd_epi32(_mm256_hadd_epi32(sum[0], sum[1]), _mm256_hadd_epi32(sum[2], sum[3]));
          const __m128i isum = _mm_add_epi32(_mm256_castsi256_si128(h), _mm256_extracti128_si256(h, 1));
          const __m128 sc = _mm_mul_ps(_mm_set1_ps(qs[q][b]), _mm_loadu_ps(ks + b * kAttnTile + j0));
          f = _mm_fmadd_ps(_mm_cvtepi32_ps(isum), sc, f);
        }
        float out[4];
        _mm_storeu_ps(out, _mm_mul_ps(f, _mm_set1_ps(scale)));
        for (int u = 0; u < 4 && j0 + u < len; ++u) s[q][j0 + u] = out[u];
      }
  }
};

// bf16 caches: the bf16 path of attention_impl.h (Bf16Generic's arithmetic) without vdpbf16ps: a 32-bit lane
// of a key tile (element pair p of one key) or of a value tile (dimension i of a position pair) is widened
// into its two f32 halves by a shift and a mask, then two FMAs, odd half first, as vdpbf16ps's two steps
// (denormal halves are not flushed: within the ISA tolerance of tests/attention). Scores with one key per
// lane, values 32 lanes at a time.
struct Bf16 {
  static __m256 even(__m256i x) { return _mm256_castsi256_ps(_mm256_slli_epi32(x, 16)); }
  static __m256 odd(__m256i x) { return _mm256_castsi256_ps(_mm256_and_si256(x, _mm256_set1_epi32(-65536))); }
  static __m256i pair(const uint16_t* p) {
    int32_t v;
    std::memcpy(&v, p, 4);
    return _mm256_set1_epi32(v);
  }

  template <int NQ>
  static void scores(const uint16_t* const* qb, const uint16_t* kt, int len, int d, float scale,
                     float* const* s) {
    const int groups = (len + 7) / 8;
    __m256 a[NQ][4];
    for (int r = 0; r < NQ; ++r)
      for (int u = 0; u < 4; ++u) a[r][u] = _mm256_setzero_ps();
    for (int p = 0; p < (d + 1) / 2; ++p) {
      __m256 q1[NQ], q0[NQ];
      for (int r = 0; r < NQ; ++r) {
        const __m256i qp = pair(qb[r] + 2 * p);
        q1[r] = odd(qp);
        q0[r] = even(qp);
      }
      for (int u = 0; u < 4; ++u) {
        if (u >= groups) break;
        const __m256i k =
            _mm256_loadu_si256(reinterpret_cast<const __m256i*>(kt + (p * kAttnTile + 8 * u) * 2));
        const __m256 k1 = odd(k), k0 = even(k);
        for (int r = 0; r < NQ; ++r)
          a[r][u] = _mm256_fmadd_ps(k0, q0[r], _mm256_fmadd_ps(k1, q1[r], a[r][u]));
      }
    }
    const __m256 sv = _mm256_set1_ps(scale);
    for (int r = 0; r < NQ; ++r)
      for (int u = 0; u < groups; ++u) store_tail(s[r] + 8 * u, len - 8 * u, _mm256_mul_ps(a[r][u], sv));
  }

  template <int NQ>
  static void scores_p(const uint16_t* const* qb, const uint16_t* kt, const int* lens, int len, int d,
                       float scale, float* run_max, float* run_sum, float* corr, uint16_t* const* pb) {
    bf16_scores_p<Ops, Bf16, NQ>(qb, kt, lens, len, d, scale, run_max, run_sum, corr, pb);
  }
  // Bf16Generic's rounding of a probability row by the AVX2 round_bf16 (the scalar rule's bits)
  static void round_bf16(const float* p, int len, uint16_t* pb) {
    kTable.round_bf16(p, len, pb);
    if (len % 2) pb[len] = 0;
  }
  static float total(const float* run_sum) { return run_sum[0]; }

  // p.v over the value tile's position pairs, 32 dimensions at a time; a last half-filled pair's odd
  // position reads as zero (its p is zero, and so must its value be, whatever the cache holds there).
  template <int NQ>
  static void pv(const uint16_t* const* pb, const int* lens, int len, const uint16_t* vt, int d,
                 const float* corr, float* const* acc) {
    if (d % 32 == 0)
      pv_t<NQ, true>(pb, lens, vt, d, corr, acc);
    else
      pv_t<NQ, false>(pb, lens, vt, d, corr, acc);
    (void)len;
  }
  // kWhole: d a multiple of 32, plain loads and stores (scale_add_t's reason)
  template <int NQ, bool kWhole>
  static void pv_t(const uint16_t* const* pb, const int* lens, const uint16_t* vt, int d, const float* corr,
                   float* const* acc) {
    const int dp = d + d % 2;
    for (int r = 0; r < NQ; ++r) {
      const int n = lens[r];
      for (int i = 0; i < d; i += 32) {
        const __m256i m[4] = {tail_mask(d - i), tail_mask(d - i - 8), tail_mask(d - i - 16),
                              tail_mask(d - i - 24)};
        __m256 a[4];
        for (int u = 0; u < 4; ++u) {
          a[u] = kWhole ? _mm256_loadu_ps(acc[r] + i + 8 * u) : _mm256_maskload_ps(acc[r] + i + 8 * u, m[u]);
          if (corr[r] != 1.0f) a[u] = _mm256_mul_ps(a[u], _mm256_set1_ps(corr[r]));
        }
        for (int mm = 0; 2 * mm < n; ++mm) {
          const __m256i pp = pair(pb[r] + 2 * mm);
          const __m256 p1 = odd(pp), p0 = even(pp);
          const __m256i keep = 2 * mm + 1 < n ? _mm256_set1_epi32(-1) : _mm256_set1_epi32(0xffff);
          for (int u = 0; u < 4; ++u) {
            const int* vp = reinterpret_cast<const int*>(vt + (static_cast<size_t>(mm) * dp + i + 8 * u) * 2);
            const __m256i v =
                _mm256_and_si256(kWhole ? _mm256_loadu_si256(reinterpret_cast<const __m256i*>(vp))
                                        : _mm256_maskload_epi32(vp, m[u]),
                                 keep);
            a[u] = _mm256_fmadd_ps(even(v), p0, _mm256_fmadd_ps(odd(v), p1, a[u]));
          }
        }
        for (int u = 0; u < 4; ++u) {
          if (kWhole)
            _mm256_storeu_ps(acc[r] + i + 8 * u, a[u]);
          else
            _mm256_maskstore_ps(acc[r] + i + 8 * u, m[u], a[u]);
        }
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

}  // namespace

// The bf16 cache's stores: the scalar code (one row of a token's head at a time, small beside the products).
const AttentionTable kAttentionTable = {attend, scalar::store_key_bf16, scalar::store_value_bf16};

}  // namespace qwen3::kernels::avx2
