// AVX2/FMA/F16C attention: the tile loop of attention_impl.h over 8-lane primitives. Any head_dim (masked
// loads for the tails); keys are reduced four at a time, values accumulated 32 lanes at a time. Tested
// against the scalar reference in tests/attention/attention_test.cpp.
#include <immintrin.h>

#include <cstring>

#include "kernels/attention_impl.h"

namespace qwen3::kernels::avx2 {
namespace {

alignas(64) const int32_t kMaskTable[16] = {-1, -1, -1, -1, -1, -1, -1, -1, 0, 0, 0, 0, 0, 0, 0, 0};

// Lanes [0, n) set (n clamped to [0, 8]).
inline __m256i tail_mask(int n) {
  n = n < 0 ? 0 : n > 8 ? 8 : n;
  return _mm256_loadu_si256(reinterpret_cast<const __m256i*>(kMaskTable + 8 - n));
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

inline float bf16_bits_to_f32(uint16_t h) {
  uint32_t bits = static_cast<uint32_t>(h) << 16;
  float f;
  std::memcpy(&f, &bits, 4);
  return f;
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
        for (; i + 8 <= d; i += 8) {
          __m256i w = _mm256_cvtepu16_epi32(_mm_loadu_si128(reinterpret_cast<const __m128i*>(h + i)));
          _mm256_storeu_ps(o + i, _mm256_castsi256_ps(_mm256_slli_epi32(w, 16)));
        }
        for (; i < d; ++i) o[i] = bf16_bits_to_f32(h[i]);
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

  static void scores(const float* q, const float* k, int n, int d, float scale, float* s) {
    int j = 0;
    for (; j + 4 <= n; j += 4) {
      const float* k0 = k + static_cast<size_t>(j) * d;
      const float *k1 = k0 + d, *k2 = k1 + d, *k3 = k2 + d;
      __m256 a0 = _mm256_setzero_ps(), a1 = a0, a2 = a0, a3 = a0;
      for (int i = 0; i < d; i += 8) {
        __m256i m = tail_mask(d - i);
        __m256 qv = _mm256_maskload_ps(q + i, m);
        a0 = _mm256_fmadd_ps(qv, _mm256_maskload_ps(k0 + i, m), a0);
        a1 = _mm256_fmadd_ps(qv, _mm256_maskload_ps(k1 + i, m), a1);
        a2 = _mm256_fmadd_ps(qv, _mm256_maskload_ps(k2 + i, m), a2);
        a3 = _mm256_fmadd_ps(qv, _mm256_maskload_ps(k3 + i, m), a3);
      }
      s[j] = hsum(a0) * scale;
      s[j + 1] = hsum(a1) * scale;
      s[j + 2] = hsum(a2) * scale;
      s[j + 3] = hsum(a3) * scale;
    }
    for (; j < n; ++j) {  // the same operations for one key
      const float* k0 = k + static_cast<size_t>(j) * d;
      __m256 a0 = _mm256_setzero_ps();
      for (int i = 0; i < d; i += 8) {
        __m256i m = tail_mask(d - i);
        a0 = _mm256_fmadd_ps(_mm256_maskload_ps(q + i, m), _mm256_maskload_ps(k0 + i, m), a0);
      }
      s[j] = hsum(a0) * scale;
    }
  }

  static float max(const float* s, int n) {
    float m = s[0];
    for (int j = 1; j < n; ++j) m = s[j] > m ? s[j] : m;
    return m;
  }

  static float exp_sub(float* s, int n, float m) {
    __m256 mv = _mm256_set1_ps(m), sum = _mm256_setzero_ps();
    for (int j = 0; j < n; j += 8) {
      __m256i k = tail_mask(n - j);
      __m256 e = exp256(_mm256_sub_ps(_mm256_maskload_ps(s + j, k), mv));
      e = _mm256_and_ps(e, _mm256_castsi256_ps(k));
      _mm256_maskstore_ps(s + j, k, e);
      sum = _mm256_add_ps(sum, e);
    }
    return hsum(sum);
  }

  static void scale_add(float* acc, float c, const float* p, const float* v, int n, int d) {
    const __m256 cv = _mm256_set1_ps(c);
    for (int i = 0; i < d; i += 32) {
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
    scores(q0, k, n, d, scale, s0);
    scores(q1, k, n, d, scale, s1);
  }
  static void scale_add2(float* acc0, float c0, const float* p0, float* acc1, float c1, const float* p1,
                         const float* v, int n, int d) {
    scale_add(acc0, c0, p0, v, n, d);
    scale_add(acc1, c1, p1, v, n, d);
  }
  static void finish(const float* acc, float inv, int d, float* out) {
    const __m256 iv = _mm256_set1_ps(inv);
    for (int i = 0; i < d; i += 8) {
      __m256i m = tail_mask(d - i);
      _mm256_maskstore_ps(out + i, m, _mm256_mul_ps(_mm256_maskload_ps(acc + i, m), iv));
    }
  }
};

void attend(const AttentionArgs& a) {
  if (a.kv_type == DType::kQ8_0)
    attend_q8<Ops, Q8Generic<Ops>>(a);
  else
    attend_tiled<Ops>(a);
}

}  // namespace

const AttentionTable kAttentionTable = {attend};

}  // namespace qwen3::kernels::avx2
