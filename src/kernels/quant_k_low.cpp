// ggml's 2- and 3-bit k-quants, Q2_K and Q3_K (quant_k.h states the values and the matmul arithmetic):
// decoding in ggml's order of float operations, ggml's reference quantisers (quantize_row_q2_K_ref,
// quantize_row_q3_K_ref, without an importance matrix, as llama-quantize runs them without one), and the
// scalar super-block dot products the SIMD kernels are held to. Both types keep 16 sub-blocks of 16 values;
// value i = 128h + 32s + l (h the half, s the 2-bit field, l 0..31) has its low 2 bits at bits 2s..2s+1 of
// qs[32h + l], and (Q3_K) its third bit at bit 4h + s of hmask[l]. Tests: tests/quant/test_kquants.py
// (decoding against tools/reference/kquants.py), tests/kernels/matmul_test.cpp (kernels).
#include <algorithm>
#include <cmath>
#include <cstddef>
#include <cstring>

#include "core/half.h"
#include "kernels/quant_k.h"
#include "kernels/quant_k_impl.h"

namespace qwen3::kernels {

namespace {

using kq::kGroupMaxEps;
using kq::nearest_int;

constexpr int QK = kSuperBlock;

// The 2-bit field of value i (0..255) of a super-block's qs.
inline int low2(const uint8_t* qs, int i) {
  const int h = i / 128, s = (i % 128) / 32, l = i % 32;
  return (qs[32 * h + l] >> (2 * s)) & 3;
}

// Q3_K's third bit of value i: 1 where the value is q (0..3) + 4.
inline int high1(const uint8_t* hmask, int i) {
  const int h = i / 128, s = (i % 128) / 32, l = i % 32;
  return (hmask[l] >> (4 * h + s)) & 1;
}

// Packs 256 2-bit values L (0..3) into qs, ggml's order (low2 above).
void pack_low2(const uint8_t* L, uint8_t* qs) {
  for (int h = 0; h < 2; ++h)
    for (int l = 0; l < 32; ++l) {
      const uint8_t* v = L + 128 * h + l;
      qs[32 * h + l] = static_cast<uint8_t>(v[0] | (v[32] << 2) | (v[64] << 4) | (v[96] << 6));
    }
}

// ggml's make_q3_quants with do_rmse: a symmetric quantisation of n values to [-nmax, nmax - 1] starting from
// nmax / max, then up to five rounds of moving single values to the level that most improves the weighted
// (x^2) least-squares fit; L gets the levels + nmax (or 0 for an all-zero group). Returns the scale.
float make_q3_quants(int n, int nmax, const float* x, int8_t* L) {
  const float max = kq::signed_max_or_zero(n, x, L);
  if (max == 0.0f) return 0.0f;
  const float iscale = -nmax / max;
  float sumlx = 0, suml2 = 0;
  for (int i = 0; i < n; ++i) {
    const int l = std::max(-nmax, std::min(nmax - 1, nearest_int(iscale * x[i])));
    L[i] = static_cast<int8_t>(l);
    const float w = x[i] * x[i];
    sumlx += w * x[i] * l;
    suml2 += w * l * l;
  }
  for (int itry = 0; itry < 5; ++itry) {
    int n_changed = 0;
    for (int i = 0; i < n; ++i) {
      const float w = x[i] * x[i];
      float slx = sumlx - w * x[i] * L[i];
      if (slx > 0) {
        float sl2 = suml2 - w * L[i] * L[i];
        const int new_l = std::max(-nmax, std::min(nmax - 1, nearest_int(x[i] * sl2 / slx)));
        if (new_l != L[i]) {
          slx += w * x[i] * new_l;
          sl2 += w * new_l * new_l;
          if (sl2 > 0 && slx * slx * suml2 > sumlx * sumlx * sl2) {
            L[i] = static_cast<int8_t>(new_l);
            sumlx = slx;
            suml2 = sl2;
            ++n_changed;
          }
        }
      }
    }
    if (!n_changed) break;
  }
  for (int i = 0; i < n; ++i) L[i] = static_cast<int8_t>(L[i] + nmax);
  return suml2 > 0.0f ? sumlx / suml2 : 0.0f;
}

}  // namespace

void dequantize_row_q2_k(const BlockQ2_K* b, int64_t n, float* y) {
  for (int64_t i = 0; i < n / QK; ++i) {
    const float d = f16_to_f32(b[i].d), min = f16_to_f32(b[i].dmin);
    for (int g = 0; g < 16; ++g) {
      const uint8_t sc = b[i].scales[g];
      const float dl = d * (sc & 0xf), ml = min * (sc >> 4);
      for (int k = 0; k < 16; ++k) *y++ = dl * low2(b[i].qs, 16 * g + k) - ml;
    }
  }
}

void dequantize_row_q3_k(const BlockQ3_K* b, int64_t n, float* y) {
  for (int64_t i = 0; i < n / QK; ++i) {
    const float d = f16_to_f32(b[i].d);
    uint8_t sc[16];
    unpack_scales_q3_k(b[i].scales, sc);
    for (int g = 0; g < 16; ++g) {
      const float dl = d * (sc[g] - 32);
      for (int k = 0; k < 16; ++k) {
        const int v = 16 * g + k;
        *y++ = dl * (low2(b[i].qs, v) - (high1(b[i].hmask, v) ? 0 : 4));
      }
    }
  }
}

void quantize_row_q2_k(const float* x, int64_t n, BlockQ2_K* out) {
  constexpr float q4scale = 15.0f;
  for (int64_t i = 0; i < n / QK; ++i, x += QK) {
    BlockQ2_K& y = out[i];
    uint8_t L[QK], Laux[16];
    float weights[16], mins[16], scales[16];
    float max_scale = 0, max_min = 0;
    for (int j = 0; j < 16; ++j) {
      for (int l = 0; l < 16; ++l) weights[l] = std::fabs(x[16 * j + l]);
      scales[j] =
          kq::make_qkx2_quants(16, 3, x + 16 * j, weights, L + 16 * j, &mins[j], Laux, -0.5f, 0.1f, 15, true);
      max_scale = std::max(max_scale, scales[j]);
      max_min = std::max(max_min, mins[j]);
    }
    if (max_scale > 0) {
      const float iscale = q4scale / max_scale;
      for (int j = 0; j < 16; ++j) y.scales[j] = static_cast<uint8_t>(nearest_int(iscale * scales[j]));
      y.d = f32_to_f16(max_scale / q4scale);
    } else {
      std::memset(y.scales, 0, sizeof y.scales);
      y.d = f32_to_f16(0.0f);
    }
    if (max_min > 0) {
      const float iscale = q4scale / max_min;
      for (int j = 0; j < 16; ++j) y.scales[j] |= static_cast<uint8_t>(nearest_int(iscale * mins[j]) << 4);
      y.dmin = f32_to_f16(max_min / q4scale);
    } else {
      y.dmin = f32_to_f16(0.0f);
    }
    for (int j = 0; j < 16; ++j) {
      const float d = f16_to_f32(y.d) * (y.scales[j] & 0xf);
      if (!d) continue;
      const float dm = f16_to_f32(y.dmin) * (y.scales[j] >> 4);
      for (int ii = 0; ii < 16; ++ii)
        L[16 * j + ii] =
            static_cast<uint8_t>(std::max(0, std::min(3, nearest_int((x[16 * j + ii] + dm) / d))));
    }
    pack_low2(L, y.qs);
  }
}

void quantize_row_q3_k(const float* x, int64_t n, BlockQ3_K* out) {
  for (int64_t i = 0; i < n / QK; ++i, x += QK) {
    BlockQ3_K& y = out[i];
    int8_t L[QK];
    float scales[16];
    float max_scale = 0, amax = 0;
    for (int j = 0; j < 16; ++j) {
      scales[j] = make_q3_quants(16, 4, x + 16 * j, L + 16 * j);
      if (std::fabs(scales[j]) > amax) {
        amax = std::fabs(scales[j]);
        max_scale = scales[j];
      }
    }
    std::memset(y.scales, 0, sizeof y.scales);
    if (max_scale) {
      const float iscale = -32.0f / max_scale;
      for (int j = 0; j < 16; ++j) {
        const int l = std::max(-32, std::min(31, nearest_int(iscale * scales[j]))) + 32;  // 0..63
        if (j < 8)
          y.scales[j] = static_cast<uint8_t>(l & 0xf);
        else
          y.scales[j - 8] |= static_cast<uint8_t>((l & 0xf) << 4);
        y.scales[8 + j % 4] |= static_cast<uint8_t>((l >> 4) << (2 * (j / 4)));
      }
      y.d = f32_to_f16(1 / iscale);
    } else {
      y.d = f32_to_f16(0.0f);
    }
    uint8_t sc[16];
    unpack_scales_q3_k(y.scales, sc);
    for (int j = 0; j < 16; ++j) {
      const float d = f16_to_f32(y.d) * (sc[j] - 32);
      if (!d) continue;
      for (int ii = 0; ii < 16; ++ii)
        L[16 * j + ii] = static_cast<int8_t>(std::max(-4, std::min(3, nearest_int(x[16 * j + ii] / d))) + 4);
    }
    // The third bit of value j goes to bit j / 32 of hmask[j % 32] (high1 above), the low two to qs.
    std::memset(y.hmask, 0, sizeof y.hmask);
    uint8_t low[QK];
    for (int j = 0; j < QK; ++j) {
      if (L[j] > 3) y.hmask[j % 32] |= static_cast<uint8_t>(1 << (j / 32));
      low[j] = static_cast<uint8_t>(L[j] > 3 ? L[j] - 4 : L[j]);
    }
    pack_low2(low, y.qs);
  }
}

void superblock_dot_q2_k(const uint8_t* blk, const int8_t* xq, const int32_t* xs, int32_t* isum,
                         int32_t* msum) {
  const uint8_t* scales = blk + offsetof(BlockQ2_K, scales);
  const uint8_t* qs = blk + offsetof(BlockQ2_K, qs);
  int32_t is = 0, ms = 0;
  for (int g = 0; g < 16; ++g) {
    int32_t dot = 0;
    for (int k = 0; k < 16; ++k) dot += low2(qs, 16 * g + k) * xq[16 * g + k];
    is += (scales[g] & 0xf) * dot;
    ms += (scales[g] >> 4) * xs[g];
  }
  *isum = is;
  *msum = ms;
}

void superblock_dot_q3_k(const uint8_t* blk, const int8_t* xq, const int32_t* xs, int32_t* isum) {
  const uint8_t* hmask = blk + offsetof(BlockQ3_K, hmask);
  const uint8_t* qs = blk + offsetof(BlockQ3_K, qs);
  uint8_t sc[16];
  unpack_scales_q3_k(blk + offsetof(BlockQ3_K, scales), sc);
  int32_t is = 0;
  for (int g = 0; g < 16; ++g) {
    int32_t dot = 0;
    for (int k = 0; k < 16; ++k) {
      const int v = 16 * g + k;
      dot += (low2(qs, v) | (high1(hmask, v) << 2)) * xq[v];
    }
    is += (sc[g] - 32) * (dot - 4 * xs[g]);
  }
  *isum = is;
}

}  // namespace qwen3::kernels
