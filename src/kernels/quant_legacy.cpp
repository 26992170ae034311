// Q4_1, Q5_0, Q5_1: decoding, ggml's reference quantisers, the tiled layout and the scalar reference matmul
// (quant_legacy.h states the layout and the arithmetic). Portable code.
#include "kernels/quant_legacy.h"

#include <algorithm>
#include <cfloat>
#include <cmath>
#include <cstring>

#include "core/half.h"

namespace qwen3::kernels {

namespace {

constexpr int R = kTileRows;
constexpr int kHalf = kQuantBlock / 2;

// The stored fields of one row-major block, whatever its type.
struct Fields {
  uint16_t d = 0, m = 0;
  uint32_t qh = 0;
  const uint8_t* qs = nullptr;
};

Fields fields(DType t, const uint8_t* blk) {
  Fields f;
  std::memcpy(&f.d, blk, 2);
  if (t == DType::kQ4_1) {
    std::memcpy(&f.m, blk + 2, 2);
    f.qs = blk + 4;
  } else if (t == DType::kQ5_0) {
    std::memcpy(&f.qh, blk + 2, 4);
    f.qs = blk + 6;
  } else {
    std::memcpy(&f.m, blk + 2, 2);
    std::memcpy(&f.qh, blk + 4, 4);
    f.qs = blk + 8;
  }
  return f;
}

// Stored value j (0..31) of a block: the nibble, and the fifth bit for Q5_0/Q5_1.
inline int stored_value(DType t, const uint8_t* qs, uint32_t qh, int j) {
  const int nib = j < kHalf ? qs[j] & 0x0f : qs[j - kHalf] >> 4;
  return t == DType::kQ4_1 ? nib : nib | static_cast<int>(((qh >> j) & 1u) << 4);
}

}  // namespace

LegacyTileLayout legacy_tile_layout(DType t) {
  switch (t) {
    case DType::kQ4_1:
      return {2 * R, 0, 4 * R, R * static_cast<int>(sizeof(BlockQ4_1))};
    case DType::kQ5_0:
      return {0, 2 * R, 6 * R, R * static_cast<int>(sizeof(BlockQ5_0))};
    default:
      return {2 * R, 4 * R, 8 * R, R * static_cast<int>(sizeof(BlockQ5_1))};
  }
}

void dequantize_row_legacy(DType t, const void* row, int64_t n, float* out) {
  const size_t bb = dtype_row_bytes(t, kQuantBlock);
  for (int64_t b = 0; b < n / kQuantBlock; ++b) {
    const Fields f = fields(t, static_cast<const uint8_t*>(row) + b * bb);
    const float d = f16_to_f32(f.d), m = f16_to_f32(f.m);
    for (int j = 0; j < kQuantBlock; ++j) {
      const int q = stored_value(t, f.qs, f.qh, j);
      // ggml: x * d (+ m), a product and a sum rounded apart
      out[b * kQuantBlock + j] =
          t == DType::kQ5_0 ? static_cast<float>(q - 16) * d : static_cast<float>(q) * d + m;
    }
  }
}

void quantize_row_legacy(DType t, const float* x, int64_t n, void* out) {
  const size_t bb = dtype_row_bytes(t, kQuantBlock);
  for (int64_t b = 0; b < n / kQuantBlock; ++b) {
    const float* v = x + b * kQuantBlock;
    uint8_t* blk = static_cast<uint8_t*>(out) + b * bb;
    uint8_t q[kQuantBlock];
    uint16_t d16, m16 = 0;
    if (t == DType::kQ5_0) {
      float amax = 0, max = 0;  // the value of largest magnitude, with its sign (the first one on ties)
      for (int j = 0; j < kQuantBlock; ++j)
        if (amax < std::fabs(v[j])) {
          amax = std::fabs(v[j]);
          max = v[j];
        }
      const float d = max / -16.0f;
      const float id = d != 0.0f ? 1.0f / d : 0.0f;
      d16 = f32_to_f16(d);
      // ggml truncates x * id + 16.5 through int8_t: values in [0.5, 32.5], so it rounds half up
      for (int j = 0; j < kQuantBlock; ++j)
        q[j] = static_cast<uint8_t>(std::min(31, static_cast<int>(static_cast<int8_t>(v[j] * id + 16.5f))));
    } else {
      float min = FLT_MAX, max = -FLT_MAX;
      for (int j = 0; j < kQuantBlock; ++j) {
        min = std::min(min, v[j]);
        max = std::max(max, v[j]);
      }
      const int top = t == DType::kQ4_1 ? 15 : 31;
      const float d = (max - min) / static_cast<float>(top);
      const float id = d != 0.0f ? 1.0f / d : 0.0f;
      d16 = f32_to_f16(d);
      m16 = f32_to_f16(min);
      for (int j = 0; j < kQuantBlock; ++j) {
        const float y = (v[j] - min) * id + 0.5f;
        // ggml: Q4_1 min(15, (int8_t)y); Q5_1 (uint8_t)y, y in [0.5, 31.5]
        q[j] = t == DType::kQ4_1
                   ? static_cast<uint8_t>(std::min(15, static_cast<int>(static_cast<int8_t>(y))))
                   : static_cast<uint8_t>(y);
      }
    }
    uint32_t qh = 0;
    uint8_t qs[kHalf];
    for (int j = 0; j < kHalf; ++j) {
      qs[j] = static_cast<uint8_t>((q[j] & 0x0f) | ((q[j + kHalf] & 0x0f) << 4));
      qh |= static_cast<uint32_t>((q[j] >> 4) & 1) << j;
      qh |= static_cast<uint32_t>((q[j + kHalf] >> 4) & 1) << (j + kHalf);
    }
    std::memcpy(blk, &d16, 2);
    if (t == DType::kQ4_1) {
      std::memcpy(blk + 2, &m16, 2);
      std::memcpy(blk + 4, qs, kHalf);
    } else if (t == DType::kQ5_0) {
      std::memcpy(blk + 2, &qh, 4);
      std::memcpy(blk + 6, qs, kHalf);
    } else {
      std::memcpy(blk + 2, &m16, 2);
      std::memcpy(blk + 4, &qh, 4);
      std::memcpy(blk + 8, qs, kHalf);
    }
  }
}

void pack_tile_legacy(DType t, const uint8_t* const* rows, int n_rows, int64_t cols, uint8_t* tile) {
  const LegacyTileLayout L = legacy_tile_layout(t);
  const size_t bb = dtype_row_bytes(t, kQuantBlock);
  for (int64_t b = 0; b < cols / kQuantBlock; ++b) {
    uint8_t* blk = tile + b * L.bytes;
    std::memset(blk, 0, L.bytes);
    for (int r = 0; r < n_rows; ++r) {
      const Fields f = fields(t, rows[r] + b * bb);
      std::memcpy(blk + 2 * r, &f.d, 2);
      if (L.m) std::memcpy(blk + L.m + 2 * r, &f.m, 2);
      if (L.qh) std::memcpy(blk + L.qh + 4 * r, &f.qh, 4);
      std::memcpy(blk + L.qs + kHalf * r, f.qs, kHalf);
    }
  }
}

void tiled_row_to_f32_legacy(DType t, const uint8_t* tile, int r, int64_t cols, float* out) {
  const LegacyTileLayout L = legacy_tile_layout(t);
  const size_t bb = dtype_row_bytes(t, kQuantBlock);
  uint8_t row[sizeof(BlockQ5_1)];
  for (int64_t b = 0; b < cols / kQuantBlock; ++b) {  // back to the stored block, then ggml's decoding
    const uint8_t* blk = tile + b * L.bytes;
    std::memcpy(row, blk + 2 * r, 2);
    if (t == DType::kQ4_1) {
      std::memcpy(row + 2, blk + L.m + 2 * r, 2);
    } else if (t == DType::kQ5_0) {
      std::memcpy(row + 2, blk + L.qh + 4 * r, 4);
    } else {
      std::memcpy(row + 2, blk + L.m + 2 * r, 2);
      std::memcpy(row + 4, blk + L.qh + 4 * r, 4);
    }
    std::memcpy(row + bb - kHalf, blk + L.qs + kHalf * r, kHalf);
    dequantize_row_legacy(t, row, kQuantBlock, out + b * kQuantBlock);
  }
}

void legacy_input_corrections(DType t, int32_t* xc, int64_t n_blocks) {
  if (t == DType::kQ5_0)
    for (int64_t b = 0; b < n_blocks; ++b) xc[b] *= -16;
}

int32_t legacy_block_dot(DType t, const uint8_t* blk, int r, const int8_t* xq) {
  const LegacyTileLayout L = legacy_tile_layout(t);
  uint32_t qh = 0;
  if (L.qh) std::memcpy(&qh, blk + L.qh + 4 * r, 4);
  const uint8_t* qs = blk + L.qs + kHalf * r;
  int32_t sum = 0;
  for (int j = 0; j < kQuantBlock; ++j) sum += stored_value(t, qs, qh, j) * xq[j];
  return sum;
}

namespace scalar {

void matmul_legacy_tiles(const Tensor& w, const MatmulInput& in, int64_t tile_begin, int64_t tile_end,
                         float* y, int64_t ldy) {
  const LegacyTileLayout L = legacy_tile_layout(w.dtype);
  const int64_t nb = w.cols / kQuantBlock;
  for (int64_t ti = tile_begin; ti < tile_end; ++ti) {
    const uint8_t* tile = w.tile(ti);
    const int n_rows = static_cast<int>(std::min<int64_t>(R, w.rows - ti * R));
    for (int64_t t = 0; t < in.n_tok; ++t) {
      for (int r = 0; r < n_rows; ++r) {
        float acc = 0;
        for (int64_t b = 0; b < nb; ++b) {
          const uint8_t* blk = tile + b * L.bytes;
          const float dx = in.xd[t * nb + b];
          const int32_t xc = in.xc[t * nb + b];
          uint16_t d;
          std::memcpy(&d, blk + 2 * r, 2);
          int32_t isum = legacy_block_dot(w.dtype, blk, r, in.xq + t * w.cols + b * kQuantBlock);
          if (w.dtype == DType::kQ5_0) isum += xc;
          acc = std::fma(static_cast<float>(isum), f16_to_f32(d) * dx, acc);
          if (L.m) {
            uint16_t m;
            std::memcpy(&m, blk + L.m + 2 * r, 2);
            acc = std::fma(static_cast<float>(xc), f16_to_f32(m) * dx, acc);
          }
        }
        y[t * ldy + ti * R + r] = acc;
      }
    }
  }
}

}  // namespace scalar

}  // namespace qwen3::kernels
