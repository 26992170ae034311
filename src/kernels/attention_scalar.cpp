// Scalar reference attention: the definition the SIMD versions are tested against
// (tests/attention/attention_test.cpp). Dots use 8 fixed partial sums.
#include <algorithm>
#include <cmath>
#include <cstring>

#include "kernels/attention_impl.h"

namespace qwen3::kernels::scalar {
namespace {

struct Ops {
  static void widen(DType t, const uint8_t* src, size_t row_bytes, int n, int d, float* dst) {
    for (int j = 0; j < n; ++j) kv_load_row(t, src + j * row_bytes, d, dst + static_cast<size_t>(j) * d);
  }
  // k: a key tile, element i of key j at k[i * kAttnTile + j].
  static void scores(const float* q, const float* k, int n, int d, float scale, float* s) {
    for (int j = 0; j < n; ++j) {
      float acc[8] = {0, 0, 0, 0, 0, 0, 0, 0};
      int i = 0;
      for (; i + 8 <= d; i += 8)
        for (int l = 0; l < 8; ++l) acc[l] += q[i + l] * k[static_cast<size_t>(i + l) * kAttnTile + j];
      float tail = 0;
      for (; i < d; ++i) tail += q[i] * k[static_cast<size_t>(i) * kAttnTile + j];
      s[j] =
          (((acc[0] + acc[4]) + (acc[1] + acc[5])) + ((acc[2] + acc[6]) + (acc[3] + acc[7])) + tail) * scale;
    }
  }
  static float max(const float* s, int n) {
    float m = s[0];
    for (int j = 1; j < n; ++j) m = s[j] > m ? s[j] : m;
    return m;
  }
  static float exp_sub(float* s, int n, float m) {
    float sum = 0;
    for (int j = 0; j < n; ++j) {
      s[j] = std::exp(s[j] - m);
      sum += s[j];
    }
    return sum;
  }
  static void scale_add(float* acc, float c, const float* p, const float* v, int n, int d) {
    if (c != 1.0f)
      for (int i = 0; i < d; ++i) acc[i] *= c;
    for (int j = 0; j < n; ++j) {
      const float* vj = v + static_cast<size_t>(j) * d;
      for (int i = 0; i < d; ++i) acc[i] += p[j] * vj[i];
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
    for (int i = 0; i < d; ++i) out[i] = acc[i] * inv;
  }
};

void attend(const AttentionArgs& a) {
  if (a.kv_type == DType::kQ8_0)
    attend_q8<Ops, Q8Generic<Ops>>(a);
  else if (a.kv_type == DType::kBF16)
    attend_bf16<Ops, Bf16Generic<Ops>>(a);
  else
    attend_tiled<Ops>(a);
}

}  // namespace

// The bf16 cache's rule (attention.h): each element rounded as kv_store_row does (round_bf16; an odd
// head_dim's pad element zero), placed by the tile layout. A chunk of 32 elements at a time, rounded at once.
void store_key_bf16(const float* src, int d, uint8_t* tile, int jt) {
  uint16_t b[32];
  for (int i = 0; i < d; i += 32) {
    const int n = std::min(32, d - i);
    if (n % 2) b[n] = 0;  // the pad half of an odd head_dim's last pair
    round_bf16(src + i, n, b);
    for (int p = 0; p < (n + 1) / 2; ++p)
      std::memcpy(tile + (static_cast<size_t>(i / 2 + p) * kAttnTile + jt) * 4, b + 2 * p, 4);
  }
}

void store_value_bf16(const float* src, int d, uint8_t* tile, int jt) {
  const int dp = d + d % 2;
  uint16_t* at = reinterpret_cast<uint16_t*>(tile) + static_cast<size_t>(jt / 2) * dp * 2 + jt % 2;
  uint16_t b[32];
  for (int i = 0; i < dp; i += 32) {
    const int n = std::min(32, d - i), m = std::min(32, dp - i);
    b[m - 1] = 0;  // the pad element of an odd head_dim (overwritten by the rounding otherwise)
    round_bf16(src + i, n, b);
    for (int e = 0; e < m; ++e) at[2 * (i + e)] = b[e];
  }
}

const AttentionTable kAttentionTable = {attend, store_key_bf16, store_value_bf16};

}  // namespace qwen3::kernels::scalar
