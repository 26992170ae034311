// AVX-512 attention (F/BW/VL): the tile loop of attention_impl.h over 16-lane primitives. Any head_dim
// (masked tails); keys are reduced four at a time, values accumulated 64 lanes at a time. Tested against the
// scalar reference in tests/attention/attention_test.cpp.
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

  static void scores(const float* q, const float* k, int n, int d, float scale, float* s) {
    int j = 0;
    for (; j + 4 <= n; j += 4) {
      const float* k0 = k + static_cast<size_t>(j) * d;
      const float *k1 = k0 + d, *k2 = k1 + d, *k3 = k2 + d;
      __m512 a0 = _mm512_setzero_ps(), a1 = a0, a2 = a0, a3 = a0;
      for (int i = 0; i < d; i += 16) {
        __mmask16 m = tail_mask(d - i);
        __m512 qv = _mm512_maskz_loadu_ps(m, q + i);
        a0 = _mm512_fmadd_ps(qv, _mm512_maskz_loadu_ps(m, k0 + i), a0);
        a1 = _mm512_fmadd_ps(qv, _mm512_maskz_loadu_ps(m, k1 + i), a1);
        a2 = _mm512_fmadd_ps(qv, _mm512_maskz_loadu_ps(m, k2 + i), a2);
        a3 = _mm512_fmadd_ps(qv, _mm512_maskz_loadu_ps(m, k3 + i), a3);
      }
      s[j] = _mm512_reduce_add_ps(a0) * scale;
      s[j + 1] = _mm512_reduce_add_ps(a1) * scale;
      s[j + 2] = _mm512_reduce_add_ps(a2) * scale;
      s[j + 3] = _mm512_reduce_add_ps(a3) * scale;
    }
    for (; j < n; ++j) {  // the same operations for one key
      const float* k0 = k + static_cast<size_t>(j) * d;
      __m512 a0 = _mm512_setzero_ps();
      for (int i = 0; i < d; i += 16) {
        __mmask16 m = tail_mask(d - i);
        a0 = _mm512_fmadd_ps(_mm512_maskz_loadu_ps(m, q + i), _mm512_maskz_loadu_ps(m, k0 + i), a0);
      }
      s[j] = _mm512_reduce_add_ps(a0) * scale;
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

  static void scale_add(float* acc, float c, const float* p, const float* v, int n, int d) {
    const __m512 cv = _mm512_set1_ps(c);
    for (int i = 0; i < d; i += 64) {
      __mmask16 m0 = tail_mask(d - i), m1 = tail_mask(d - i - 16), m2 = tail_mask(d - i - 32),
                m3 = tail_mask(d - i - 48);
      __m512 a0 = _mm512_maskz_loadu_ps(m0, acc + i), a1 = _mm512_maskz_loadu_ps(m1, acc + i + 16),
             a2 = _mm512_maskz_loadu_ps(m2, acc + i + 32), a3 = _mm512_maskz_loadu_ps(m3, acc + i + 48);
      if (c != 1.0f) {
        a0 = _mm512_mul_ps(a0, cv);
        a1 = _mm512_mul_ps(a1, cv);
        a2 = _mm512_mul_ps(a2, cv);
        a3 = _mm512_mul_ps(a3, cv);
      }
      for (int j = 0; j < n; ++j) {
        const float* vj = v + static_cast<size_t>(j) * d + i;
        __m512 pj = _mm512_set1_ps(p[j]);
        a0 = _mm512_fmadd_ps(pj, _mm512_maskz_loadu_ps(m0, vj), a0);
        a1 = _mm512_fmadd_ps(pj, _mm512_maskz_loadu_ps(m1, vj + 16), a1);
        a2 = _mm512_fmadd_ps(pj, _mm512_maskz_loadu_ps(m2, vj + 32), a2);
        a3 = _mm512_fmadd_ps(pj, _mm512_maskz_loadu_ps(m3, vj + 48), a3);
      }
      _mm512_mask_storeu_ps(acc + i, m0, a0);
      _mm512_mask_storeu_ps(acc + i + 16, m1, a1);
      _mm512_mask_storeu_ps(acc + i + 32, m2, a2);
      _mm512_mask_storeu_ps(acc + i + 48, m3, a3);
    }
  }

  // Two queries against the same keys: each k chunk is loaded once for both. Per query, the same chain of
  // FMAs and the same reduction as scores().
  static void scores2(const float* q0, const float* q1, const float* k, int n, int d, float scale, float* s0,
                      float* s1) {
    int j = 0;
    for (; j + 4 <= n; j += 4) {
      const float* k0 = k + static_cast<size_t>(j) * d;
      const float *k1 = k0 + d, *k2 = k1 + d, *k3 = k2 + d;
      __m512 a0 = _mm512_setzero_ps(), a1 = a0, a2 = a0, a3 = a0, b0 = a0, b1 = a0, b2 = a0, b3 = a0;
      for (int i = 0; i < d; i += 16) {
        __mmask16 m = tail_mask(d - i);
        __m512 x = _mm512_maskz_loadu_ps(m, q0 + i), y = _mm512_maskz_loadu_ps(m, q1 + i);
        __m512 kv = _mm512_maskz_loadu_ps(m, k0 + i);
        a0 = _mm512_fmadd_ps(x, kv, a0);
        b0 = _mm512_fmadd_ps(y, kv, b0);
        kv = _mm512_maskz_loadu_ps(m, k1 + i);
        a1 = _mm512_fmadd_ps(x, kv, a1);
        b1 = _mm512_fmadd_ps(y, kv, b1);
        kv = _mm512_maskz_loadu_ps(m, k2 + i);
        a2 = _mm512_fmadd_ps(x, kv, a2);
        b2 = _mm512_fmadd_ps(y, kv, b2);
        kv = _mm512_maskz_loadu_ps(m, k3 + i);
        a3 = _mm512_fmadd_ps(x, kv, a3);
        b3 = _mm512_fmadd_ps(y, kv, b3);
      }
      s0[j] = _mm512_reduce_add_ps(a0) * scale;
      s0[j + 1] = _mm512_reduce_add_ps(a1) * scale;
      s0[j + 2] = _mm512_reduce_add_ps(a2) * scale;
      s0[j + 3] = _mm512_reduce_add_ps(a3) * scale;
      s1[j] = _mm512_reduce_add_ps(b0) * scale;
      s1[j + 1] = _mm512_reduce_add_ps(b1) * scale;
      s1[j + 2] = _mm512_reduce_add_ps(b2) * scale;
      s1[j + 3] = _mm512_reduce_add_ps(b3) * scale;
    }
    if (j < n) {
      scores(q0, k + static_cast<size_t>(j) * d, n - j, d, scale, s0 + j);
      scores(q1, k + static_cast<size_t>(j) * d, n - j, d, scale, s1 + j);
    }
  }

  // Two accumulators fed by the same value rows: each v chunk is loaded once for both.
  static void scale_add2(float* acc0, float c0, const float* p0, float* acc1, float c1, const float* p1,
                         const float* v, int n, int d) {
    const __m512 cv0 = _mm512_set1_ps(c0), cv1 = _mm512_set1_ps(c1);
    for (int i = 0; i < d; i += 64) {
      __mmask16 m0 = tail_mask(d - i), m1 = tail_mask(d - i - 16), m2 = tail_mask(d - i - 32),
                m3 = tail_mask(d - i - 48);
      __m512 a0 = _mm512_maskz_loadu_ps(m0, acc0 + i), a1 = _mm512_maskz_loadu_ps(m1, acc0 + i + 16),
             a2 = _mm512_maskz_loadu_ps(m2, acc0 + i + 32), a3 = _mm512_maskz_loadu_ps(m3, acc0 + i + 48);
      __m512 b0 = _mm512_maskz_loadu_ps(m0, acc1 + i), b1 = _mm512_maskz_loadu_ps(m1, acc1 + i + 16),
             b2 = _mm512_maskz_loadu_ps(m2, acc1 + i + 32), b3 = _mm512_maskz_loadu_ps(m3, acc1 + i + 48);
      if (c0 != 1.0f) {
        a0 = _mm512_mul_ps(a0, cv0);
        a1 = _mm512_mul_ps(a1, cv0);
        a2 = _mm512_mul_ps(a2, cv0);
        a3 = _mm512_mul_ps(a3, cv0);
      }
      if (c1 != 1.0f) {
        b0 = _mm512_mul_ps(b0, cv1);
        b1 = _mm512_mul_ps(b1, cv1);
        b2 = _mm512_mul_ps(b2, cv1);
        b3 = _mm512_mul_ps(b3, cv1);
      }
      for (int j = 0; j < n; ++j) {
        const float* vj = v + static_cast<size_t>(j) * d + i;
        const __m512 x = _mm512_set1_ps(p0[j]), y = _mm512_set1_ps(p1[j]);
        __m512 w = _mm512_maskz_loadu_ps(m0, vj);
        a0 = _mm512_fmadd_ps(x, w, a0);
        b0 = _mm512_fmadd_ps(y, w, b0);
        w = _mm512_maskz_loadu_ps(m1, vj + 16);
        a1 = _mm512_fmadd_ps(x, w, a1);
        b1 = _mm512_fmadd_ps(y, w, b1);
        w = _mm512_maskz_loadu_ps(m2, vj + 32);
        a2 = _mm512_fmadd_ps(x, w, a2);
        b2 = _mm512_fmadd_ps(y, w, b2);
        w = _mm512_maskz_loadu_ps(m3, vj + 48);
        a3 = _mm512_fmadd_ps(x, w, a3);
        b3 = _mm512_fmadd_ps(y, w, b3);
      }
      _mm512_mask_storeu_ps(acc0 + i, m0, a0);
      _mm512_mask_storeu_ps(acc0 + i + 16, m1, a1);
      _mm512_mask_storeu_ps(acc0 + i + 32, m2, a2);
      _mm512_mask_storeu_ps(acc0 + i + 48, m3, a3);
      _mm512_mask_storeu_ps(acc1 + i, m0, b0);
      _mm512_mask_storeu_ps(acc1 + i + 16, m1, b1);
      _mm512_mask_storeu_ps(acc1 + i + 32, m2, b2);
      _mm512_mask_storeu_ps(acc1 + i + 48, m3, b3);
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

void attend(const AttentionArgs& a) {
  attend_tiled<Ops>(a);
}

}  // namespace

const AttentionTable kAttentionTable = {attend};

}  // namespace qwen3::kernels::avx512
