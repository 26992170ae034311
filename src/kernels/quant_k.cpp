// ggml's k-quant blocks: decoding, the reference quantisers and the scalar super-block dot product
// (quant_k.h states the rules).
#include "kernels/quant_k.h"

#include <algorithm>
#include <cmath>
#include <cstring>

#include "core/half.h"
#include "kernels/quant_k_impl.h"

namespace qwen3::kernels {

namespace kq {

float make_qkx2_quants(int n, int nmax, const float* x, const float* weights, uint8_t* L, float* the_min,
                       uint8_t* Laux, float rmin, float rdelta, int nstep, bool use_mad) {
  float min = x[0], max = x[0];
  float sum_w = weights[0], sum_x = sum_w * x[0];
  for (int i = 1; i < n; ++i) {
    if (x[i] < min) min = x[i];
    if (x[i] > max) max = x[i];
    const float w = weights[i];
    sum_w += w;
    sum_x += w * x[i];
  }
  if (min > 0) min = 0;
  if (max == min) {
    for (int i = 0; i < n; ++i) L[i] = 0;
    *the_min = -min;
    return 0.0f;
  }
  float iscale = nmax / (max - min);
  float scale = 1 / iscale;
  float best_error = 0;
  for (int i = 0; i < n; ++i) {
    const int l = nearest_int(iscale * (x[i] - min));
    L[i] = static_cast<uint8_t>(std::max(0, std::min(nmax, l)));
    const float diff = scale * L[i] + min - x[i];
    best_error += weights[i] * (use_mad ? std::fabs(diff) : diff * diff);
  }
  for (int is = 0; is <= nstep; ++is) {
    iscale = (rmin + rdelta * is + nmax) / (max - min);
    float sum_l = 0, sum_l2 = 0, sum_xl = 0;
    for (int i = 0; i < n; ++i) {
      int l = nearest_int(iscale * (x[i] - min));
      l = std::max(0, std::min(nmax, l));
      Laux[i] = static_cast<uint8_t>(l);
      const float w = weights[i];
      sum_l += w * l;
      sum_l2 += w * l * l;
      sum_xl += w * l * x[i];
    }
    const float D = sum_w * sum_l2 - sum_l * sum_l;
    if (D > 0) {
      float this_scale = (sum_w * sum_xl - sum_x * sum_l) / D;
      float this_min = (sum_l2 * sum_x - sum_l * sum_xl) / D;
      if (this_min > 0) {
        this_min = 0;
        this_scale = sum_xl / sum_l2;
      }
      float cur_error = 0;
      for (int i = 0; i < n; ++i) {
        const float diff = this_scale * Laux[i] + this_min - x[i];
        cur_error += weights[i] * (use_mad ? std::fabs(diff) : diff * diff);
      }
      if (cur_error < best_error) {
        std::memcpy(L, Laux, static_cast<size_t>(n));
        best_error = cur_error;
        scale = this_scale;
        min = this_min;
      }
    }
  }
  *the_min = -min;
  return scale;
}

}  // namespace kq

namespace {

using kq::kGroupMaxEps;
using kq::nearest_int;

constexpr int QK = kSuperBlock;

// ggml's make_qx_quants with rmse_type 1 and no importance weights: a symmetric quantisation to
// [-nmax, nmax - 1] (stored + nmax) with a search over 18 scales around nmax / max.
float make_qx_quants(int n, int nmax, const float* x, int8_t* L) {
  const float max = kq::signed_max_or_zero(n, x, L);
  if (max == 0.0f) return 0.0f;
  float iscale = -nmax / max;
  float sumlx = 0, suml2 = 0;
  for (int i = 0; i < n; ++i) {
    int l = nearest_int(iscale * x[i]);
    l = std::max(-nmax, std::min(nmax - 1, l));
    L[i] = static_cast<int8_t>(l + nmax);
    const float w = x[i] * x[i];
    sumlx += w * x[i] * l;
    suml2 += w * l * l;
  }
  float scale = suml2 ? sumlx / suml2 : 0.0f;
  float best = scale * sumlx;
  for (int is = -9; is <= 9; ++is) {
    if (is == 0) continue;
    iscale = -(nmax + 0.1f * is) / max;
    sumlx = suml2 = 0;
    for (int i = 0; i < n; ++i) {
      int l = nearest_int(iscale * x[i]);
      l = std::max(-nmax, std::min(nmax - 1, l));
      const float w = x[i] * x[i];
      sumlx += w * x[i] * l;
      suml2 += w * l * l;
    }
    if (suml2 > 0 && sumlx * sumlx > best * suml2) {
      for (int i = 0; i < n; ++i) {
        const int l = nearest_int(iscale * x[i]);
        L[i] = static_cast<int8_t>(nmax + std::max(-nmax, std::min(nmax - 1, l)));
      }
      scale = sumlx / suml2;
      best = scale * sumlx;
    }
  }
  return scale;
}

// The shared part of Q4_K and Q5_K: 8 sub-blocks of 32 quantised to [0, nmax] with 6-bit scales and mins,
// the 6-bit values packed into `packed` (ggml's layout), the super-block scales into d/dmin, the values into
// L (256).
void quantize_superblock_k45(const float* x, int nmax, float rmin, int nstep, uint8_t* packed, uint16_t* d,
                             uint16_t* dmin, uint8_t* L) {
  uint8_t Laux[32];
  float weights[32], mins[8], scales[8];
  float max_scale = 0, max_min = 0;
  for (int j = 0; j < 8; ++j) {
    float sum_x2 = 0;
    for (int l = 0; l < 32; ++l) sum_x2 += x[32 * j + l] * x[32 * j + l];
    const float av_x = std::sqrt(sum_x2 / 32);
    for (int l = 0; l < 32; ++l) weights[l] = av_x + std::fabs(x[32 * j + l]);
    scales[j] = kq::make_qkx2_quants(32, nmax, x + 32 * j, weights, L + 32 * j, &mins[j], Laux, rmin, 0.1f,
                                     nstep, false);
    if (scales[j] > max_scale) max_scale = scales[j];
    if (mins[j] > max_min) max_min = mins[j];
  }
  const float inv_scale = max_scale > 0 ? 63.0f / max_scale : 0.0f;
  const float inv_min = max_min > 0 ? 63.0f / max_min : 0.0f;
  std::memset(packed, 0, 12);
  for (int j = 0; j < 8; ++j) {
    const uint8_t ls = static_cast<uint8_t>(std::min(63, nearest_int(inv_scale * scales[j])));
    const uint8_t lm = static_cast<uint8_t>(std::min(63, nearest_int(inv_min * mins[j])));
    if (j < 4) {
      packed[j] = ls;
      packed[j + 4] = lm;
    } else {
      packed[j + 4] = static_cast<uint8_t>((ls & 0xf) | ((lm & 0xf) << 4));
      packed[j - 4] |= static_cast<uint8_t>((ls >> 4) << 6);
      packed[j - 0] |= static_cast<uint8_t>((lm >> 4) << 6);
    }
  }
  *d = f32_to_f16(max_scale / 63.0f);
  *dmin = f32_to_f16(max_min / 63.0f);
  uint8_t sc[8], m[8];
  unpack_scales_k4(packed, sc, m);
  for (int j = 0; j < 8; ++j) {
    const float dl = f16_to_f32(*d) * sc[j];
    if (!dl) continue;
    const float dm = f16_to_f32(*dmin) * m[j];
    for (int ii = 0; ii < 32; ++ii) {
      const int l = nearest_int((x[32 * j + ii] + dm) / dl);
      L[32 * j + ii] = static_cast<uint8_t>(std::max(0, std::min(nmax, l)));
    }
  }
}

// Values q (0..15) and 6-bit scale/min of sub-block j of a Q4_K/Q5_K block's low bits: chunk j / 2, low
// nibbles for even j, high for odd.
inline int low4(const uint8_t* qs, int j, int l) {
  const uint8_t v = qs[32 * (j / 2) + l];
  return j % 2 ? v >> 4 : v & 0x0f;
}

}  // namespace

void unpack_scales_k4(const uint8_t* q, uint8_t* scales, uint8_t* mins) {
  for (int j = 0; j < 8; ++j) {
    if (j < 4) {
      scales[j] = q[j] & 63;
      mins[j] = q[j + 4] & 63;
    } else {
      scales[j] = static_cast<uint8_t>((q[j + 4] & 0xf) | ((q[j - 4] >> 6) << 4));
      mins[j] = static_cast<uint8_t>((q[j + 4] >> 4) | ((q[j - 0] >> 6) << 4));
    }
  }
}

void dequantize_row_q4_k(const BlockQ4_K* b, int64_t n, float* y) {
  for (int64_t i = 0; i < n / QK; ++i) {
    const float d = f16_to_f32(b[i].d), min = f16_to_f32(b[i].dmin);
    uint8_t sc[8], m[8];
    unpack_scales_k4(b[i].scales, sc, m);
    for (int j = 0; j < 8; ++j) {
      const float dl = d * sc[j], ml = min * m[j];
      for (int l = 0; l < 32; ++l) *y++ = dl * low4(b[i].qs, j, l) - ml;
    }
  }
}

void dequantize_row_q5_k(const BlockQ5_K* b, int64_t n, float* y) {
  for (int64_t i = 0; i < n / QK; ++i) {
    const float d = f16_to_f32(b[i].d), min = f16_to_f32(b[i].dmin);
    uint8_t sc[8], m[8];
    unpack_scales_k4(b[i].scales, sc, m);
    for (int j = 0; j < 8; ++j) {
      const float dl = d * sc[j], ml = min * m[j];
      for (int l = 0; l < 32; ++l) *y++ = dl * (low4(b[i].qs, j, l) + ((b[i].qh[l] >> j) & 1 ? 16 : 0)) - ml;
    }
  }
}

void dequantize_row_q6_k(const BlockQ6_K* b, int64_t n, float* y) {
  for (int64_t i = 0; i < n / QK; ++i) {
    const float d = f16_to_f32(b[i].d);
    const uint8_t* ql = b[i].ql;
    const uint8_t* qh = b[i].qh;
    const int8_t* sc = b[i].scales;
    for (int half = 0; half < 2; ++half) {
      for (int l = 0; l < 32; ++l) {
        const int is = l / 16;
        const int q1 = ((ql[l] & 0xf) | (((qh[l] >> 0) & 3) << 4)) - 32;
        const int q2 = ((ql[l + 32] & 0xf) | (((qh[l] >> 2) & 3) << 4)) - 32;
        const int q3 = ((ql[l] >> 4) | (((qh[l] >> 4) & 3) << 4)) - 32;
        const int q4 = ((ql[l + 32] >> 4) | (((qh[l] >> 6) & 3) << 4)) - 32;
        y[l] = d * sc[is + 0] * q1;
        y[l + 32] = d * sc[is + 2] * q2;
        y[l + 64] = d * sc[is + 4] * q3;
        y[l + 96] = d * sc[is + 6] * q4;
      }
      y += 128;
      ql += 64;
      qh += 32;
      sc += 8;
    }
  }
}

void quantize_row_q4_k(const float* x, int64_t n, BlockQ4_K* out) {
  for (int64_t i = 0; i < n / QK; ++i, x += QK) {
    uint8_t L[QK];
    quantize_superblock_k45(x, 15, -1.0f, 20, out[i].scales, &out[i].d, &out[i].dmin, L);
    for (int c = 0; c < 4; ++c)
      for (int l = 0; l < 32; ++l)
        out[i].qs[32 * c + l] = static_cast<uint8_t>(L[64 * c + l] | (L[64 * c + 32 + l] << 4));
  }
}

void quantize_row_q5_k(const float* x, int64_t n, BlockQ5_K* out) {
  for (int64_t i = 0; i < n / QK; ++i, x += QK) {
    uint8_t L[QK];
    quantize_superblock_k45(x, 31, -0.5f, 15, out[i].scales, &out[i].d, &out[i].dmin, L);
    std::memset(out[i].qh, 0, sizeof out[i].qh);
    for (int c = 0; c < 4; ++c)
      for (int l = 0; l < 32; ++l) {
        int l1 = L[64 * c + l], l2 = L[64 * c + 32 + l];
        if (l1 > 15) {
          l1 -= 16;
          out[i].qh[l] |= static_cast<uint8_t>(1 << (2 * c));
        }
        if (l2 > 15) {
          l2 -= 16;
          out[i].qh[l] |= static_cast<uint8_t>(2 << (2 * c));
        }
        out[i].qs[32 * c + l] = static_cast<uint8_t>(l1 | (l2 << 4));
      }
  }
}

void quantize_row_q6_k(const float* x, int64_t n, BlockQ6_K* out) {
  for (int64_t i = 0; i < n / QK; ++i, x += QK) {
    int8_t L[QK];
    float scales[16];
    float max_scale = 0, max_abs_scale = 0;
    for (int ib = 0; ib < 16; ++ib) {
      const float scale = make_qx_quants(16, 32, x + 16 * ib, L + 16 * ib);
      scales[ib] = scale;
      if (std::fabs(scale) > max_abs_scale) {
        max_abs_scale = std::fabs(scale);
        max_scale = scale;
      }
    }
    BlockQ6_K& y = out[i];
    if (max_abs_scale < kGroupMaxEps) {
      std::memset(&y, 0, sizeof y);
      y.d = f32_to_f16(0.0f);
      continue;
    }
    const float iscale = -128.0f / max_scale;
    y.d = f32_to_f16(1 / iscale);
    for (int ib = 0; ib < 16; ++ib)
      y.scales[ib] = static_cast<int8_t>(std::min(127, nearest_int(iscale * scales[ib])));
    for (int j = 0; j < 16; ++j) {
      const float d = f16_to_f32(y.d) * y.scales[j];
      if (!d) continue;
      for (int ii = 0; ii < 16; ++ii) {
        const int l = nearest_int(x[16 * j + ii] / d);
        L[16 * j + ii] = static_cast<int8_t>(std::max(-32, std::min(31, l)) + 32);
      }
    }
    for (int h = 0; h < 2; ++h) {
      const int8_t* Lh = L + 128 * h;
      uint8_t* ql = y.ql + 64 * h;
      uint8_t* qh = y.qh + 32 * h;
      for (int l = 0; l < 32; ++l) {
        const int q1 = Lh[l] & 0xf, q2 = Lh[l + 32] & 0xf, q3 = Lh[l + 64] & 0xf, q4 = Lh[l + 96] & 0xf;
        ql[l] = static_cast<uint8_t>(q1 | (q3 << 4));
        ql[l + 32] = static_cast<uint8_t>(q2 | (q4 << 4));
        qh[l] = static_cast<uint8_t>((Lh[l] >> 4) | ((Lh[l + 32] >> 4) << 2) | ((Lh[l + 64] >> 4) << 4) |
                                     ((Lh[l + 96] >> 4) << 6));
      }
    }
  }
}

void quantize_activations_k(const float* x, int64_t n, int8_t* xq, float* xd, int32_t* xs) {
  for (int64_t b = 0; b < n / QK; ++b) {
    const float* v = x + b * QK;
    float amax = 0;
    for (int j = 0; j < QK; ++j) amax = std::max(amax, std::fabs(v[j]));
    const float d = amax / 127.0f;
    const float id = d != 0.0f ? 1.0f / d : 0.0f;
    int8_t* q = xq + b * QK;
    for (int j = 0; j < QK; ++j) {
      // round to nearest even (|v * id| <= 127 + rounding): the f32 mantissa trick, which vectorises
      const float r = (v[j] * id + 12582912.0f) - 12582912.0f;
      q[j] = static_cast<int8_t>(r);
    }
    xd[b] = d;
    for (int g = 0; g < QK / kKGroup; ++g) {
      int32_t s = 0;
      for (int j = 0; j < kKGroup; ++j) s += q[g * kKGroup + j];
      xs[b * (QK / kKGroup) + g] = s;
    }
  }
}

void superblock_scales_k(DType t, const uint8_t* blk, uint16_t* d, uint16_t* dmin) {
  *dmin = 0;
  if (t == DType::kQ6_K) {
    std::memcpy(d, blk + offsetof(BlockQ6_K, d), 2);
  } else if (t == DType::kQ3_K) {
    std::memcpy(d, blk + offsetof(BlockQ3_K, d), 2);
  } else if (t == DType::kQ2_K) {
    std::memcpy(d, blk + offsetof(BlockQ2_K, d), 2);
    std::memcpy(dmin, blk + offsetof(BlockQ2_K, dmin), 2);
  } else {  // Q4_K and Q5_K begin with d, dmin
    std::memcpy(d, blk, 2);
    std::memcpy(dmin, blk + 2, 2);
  }
}

void superblock_dot_k(DType t, const uint8_t* blk, const int8_t* xq, const int32_t* xs, int32_t* isum,
                      int32_t* msum) {
  if (t == DType::kQ2_K) return superblock_dot_q2_k(blk, xq, xs, isum, msum);
  if (t == DType::kQ3_K) {
    *msum = 0;
    return superblock_dot_q3_k(blk, xq, xs, isum);
  }
  int32_t is = 0, ms = 0;
  if (t == DType::kQ6_K) {
    BlockQ6_K b;
    std::memcpy(&b, blk, sizeof b);
    for (int g = 0; g < 16; ++g) {
      int32_t dot = 0;
      for (int k = 0; k < 16; ++k) {
        const int i = 16 * g + k;  // value i: half h, quarter s (which nibble / 2-bit field), lane l
        const int h = i / 128, s = (i % 128) / 32, l = i % 32;
        const uint8_t lo = b.ql[64 * h + l + 32 * (s & 1)];
        const int q = ((s < 2 ? lo & 0xf : lo >> 4) | (((b.qh[32 * h + l] >> (2 * s)) & 3) << 4));
        dot += q * xq[i];
      }
      is += b.scales[g] * (dot - 32 * xs[g]);
    }
  } else {
    const bool q5 = t == DType::kQ5_K;
    const uint8_t* scales = blk + 4;
    const uint8_t* qh = q5 ? blk + 16 : nullptr;
    const uint8_t* qs = blk + (q5 ? 48 : 16);
    uint8_t sc[8], m[8];
    unpack_scales_k4(scales, sc, m);
    for (int j = 0; j < 8; ++j) {
      int32_t dot = 0;
      for (int l = 0; l < 32; ++l) {
        const int q = low4(qs, j, l) + (q5 && ((qh[l] >> j) & 1) ? 16 : 0);
        dot += q * xq[32 * j + l];
      }
      is += sc[j] * dot;
      ms += m[j] * (xs[2 * j] + xs[2 * j + 1]);
    }
  }
  *isum = is;
  *msum = ms;
}

}  // namespace qwen3::kernels
