// What the k-quant quantisers of quant_k.cpp (Q4_K, Q5_K, Q6_K) and quant_k_low.cpp (Q2_K, Q3_K) share:
// ggml's rounding and its scale-and-min search. Internal to those two files.
#pragma once

#include <cstdint>
#include <cstring>

namespace qwen3::kernels::kq {

// ggml's nearest_int: round to nearest even through the f32 mantissa (|v| < 2^22).
inline int nearest_int(float v) {
  const float val = v + 12582912.0f;
  int32_t i;
  std::memcpy(&i, &val, 4);
  return (i & 0x007fffff) - 0x00400000;
}

// Below this a group counts as all zeros (ggml's GROUP_MAX_EPS).
constexpr float kGroupMaxEps = 1e-15f;

// The start of ggml's symmetric quantisers (make_qx_quants, make_q3_quants): the value of largest magnitude
// (the first of equal ones) of n values; or, for an all-zero group (below kGroupMaxEps), L zeroed and 0.
inline float signed_max_or_zero(int n, const float* x, int8_t* L) {
  float max = 0, amax = 0;
  for (int i = 0; i < n; ++i) {
    const float ax = x[i] < 0 ? -x[i] : x[i];
    if (ax > amax) {
      amax = ax;
      max = x[i];
    }
  }
  if (amax < kGroupMaxEps) {
    for (int i = 0; i < n; ++i) L[i] = 0;
    return 0.0f;
  }
  return max;
}

// ggml's make_qkx2_quants: an asymmetric n-value quantisation to [0, nmax] with a weighted search over
// nstep + 1 candidate scales, judged by the weighted squared error or (use_mad) absolute error; returns the
// scale, *the_min the (positive) offset, L the values.
float make_qkx2_quants(int n, int nmax, const float* x, const float* weights, uint8_t* L, float* the_min,
                       uint8_t* Laux, float rmin, float rdelta, int nstep, bool use_mad);

}  // namespace qwen3::kernels::kq

namespace qwen3::kernels {
// superblock_dot_k (quant_k.h) for Q2_K and Q3_K (whose msum is 0): quant_k_low.cpp.
void superblock_dot_q2_k(const uint8_t* blk, const int8_t* xq, const int32_t* xs, int32_t* isum,
                         int32_t* msum);
void superblock_dot_q3_k(const uint8_t* blk, const int8_t* xq, const int32_t* xs, int32_t* isum);
}  // namespace qwen3::kernels
