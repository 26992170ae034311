// Quantisation, dtype conversion and the tiled weight layout (see pack.h for the layouts).
#include "kernels/pack.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <vector>

#include "core/fp8.h"
#include "core/half.h"
#include "kernels/kernels.h"
#include "kernels/matmul_fp8.h"
#include "kernels/quant_k.h"
#include "kernels/quant_legacy.h"

namespace qwen3::kernels {

// std::round (half away from zero) for |y| <= 128 without a libm call, so that the loop vectorises: add just
// under one half towards y's sign and truncate. Exact: checked against std::round for every float with
// |y| <= 128 (2.2e9 values; 0.5 + 0.49999997 rounds to 1, 0.49999997 + 0.49999997 does not).
static inline int round_half_away(float y) {
  return static_cast<int>(y + std::copysign(0.49999997f, y));
}

void quantize_row_q8_0(const float* x, int64_t n, BlockQ8_0* out) {
  for (int64_t b = 0; b < n / kQuantBlock; ++b) {
    const float* v = x + b * kQuantBlock;
    // amax as the largest bit pattern of |v[j]|: non-negative floats order like their bits, and an integer
    // max vectorises where a float one does not. NaN (above infinity's bits) counts as 0, as std::max skipped
    // it.
    int32_t amax_bits = 0;
    for (int j = 0; j < kQuantBlock; ++j) {
      int32_t u;
      std::memcpy(&u, v + j, 4);
      u &= 0x7fffffff;
      amax_bits = std::max(amax_bits, u > 0x7f800000 ? 0 : u);
    }
    float amax;
    std::memcpy(&amax, &amax_bits, 4);
    const float d = amax / 127.0f;
    const float id = d != 0.0f ? 1.0f / d : 0.0f;
    out[b].scale = f32_to_f16(d);
    int8_t q[kQuantBlock];  // a local array: the loop then needs no aliasing check to vectorise
    for (int j = 0; j < kQuantBlock; ++j) q[j] = static_cast<int8_t>(round_half_away(v[j] * id));
    std::memcpy(out[b].q, q, kQuantBlock);
  }
}

void quantize_row_q4_0(const float* x, int64_t n, BlockQ4_0* out) {
  for (int64_t b = 0; b < n / kQuantBlock; ++b) {
    const float* v = x + b * kQuantBlock;
    float amax = 0, max = 0;  // the value of largest magnitude, with its sign (the first one on ties)
    for (int j = 0; j < kQuantBlock; ++j) {
      if (amax < std::fabs(v[j])) {
        amax = std::fabs(v[j]);
        max = v[j];
      }
    }
    const float d = max / -8.0f;
    const float id = d != 0.0f ? 1.0f / d : 0.0f;
    out[b].scale = f32_to_f16(d);
    for (int j = 0; j < kQuantBlock / 2; ++j) {
      // ggml truncates x * id + 8.5 through int8_t; values are in [0.5, 16.5] so truncation rounds half up.
      const int lo = std::min(15, static_cast<int>(static_cast<int8_t>(v[j] * id + 8.5f)));
      const int hi = std::min(15, static_cast<int>(static_cast<int8_t>(v[j + kQuantBlock / 2] * id + 8.5f)));
      out[b].q[j] = static_cast<uint8_t>(lo | (hi << 4));
    }
  }
}

void quantize_row_fp8(const float* x, int64_t n, BlockF8E4M3* out) {
  for (int64_t b = 0; b * kFp8Block < n; ++b) {
    const float* v = x + b * kFp8Block;
    const int m = static_cast<int>(std::min<int64_t>(kFp8Block, n - b * kFp8Block));
    float amax = 0;
    for (int j = 0; j < m; ++j) amax = std::max(amax, std::fabs(v[j]));  // (NaN is skipped)
    const float d = amax / kFp8E4M3Max;
    out[b].scale = d != 0.0f ? d : 1.0f;
    std::memset(out[b].q, 0, kFp8Block);
    for (int j = 0; j < m; ++j) out[b].q[j] = f32_to_fp8_e4m3(v[j] / out[b].scale);
  }
}

void row_to_f32_rowmajor(DType from, const void* row, int64_t n, float* out) {
  switch (from) {
    case DType::kF8E4M3: {
      const BlockF8E4M3* b = static_cast<const BlockF8E4M3*>(row);
      for (int64_t k = 0; k * kFp8Block < n; ++k)
        for (int64_t j = 0; j < std::min<int64_t>(kFp8Block, n - k * kFp8Block); ++j)
          out[k * kFp8Block + j] = fp8_e4m3_to_f32(b[k].q[j]) * b[k].scale;
      break;
    }
    case DType::kF32:
      std::memcpy(out, row, static_cast<size_t>(n) * 4);
      break;
    case DType::kF16: {
      const uint16_t* p = static_cast<const uint16_t*>(row);
      for (int64_t i = 0; i < n; ++i) out[i] = f16_to_f32(p[i]);
      break;
    }
    case DType::kBF16: {
      const uint16_t* p = static_cast<const uint16_t*>(row);
      for (int64_t i = 0; i < n; ++i) out[i] = bf16_to_f32(p[i]);
      break;
    }
    case DType::kQ8_0: {
      const BlockQ8_0* b = static_cast<const BlockQ8_0*>(row);
      for (int64_t k = 0; k < n / kQuantBlock; ++k) {
        const float d = f16_to_f32(b[k].scale);
        for (int j = 0; j < kQuantBlock; ++j) out[k * kQuantBlock + j] = d * b[k].q[j];
      }
      break;
    }
    case DType::kQ4_0: {
      const BlockQ4_0* b = static_cast<const BlockQ4_0*>(row);
      for (int64_t k = 0; k < n / kQuantBlock; ++k) {
        const float d = f16_to_f32(b[k].scale);
        for (int j = 0; j < kQuantBlock / 2; ++j) {
          out[k * kQuantBlock + j] = d * ((b[k].q[j] & 0x0f) - 8);
          out[k * kQuantBlock + j + kQuantBlock / 2] = d * ((b[k].q[j] >> 4) - 8);
        }
      }
      break;
    }
    case DType::kQ2_K:
      dequantize_row_q2_k(static_cast<const BlockQ2_K*>(row), n, out);
      break;
    case DType::kQ3_K:
      dequantize_row_q3_k(static_cast<const BlockQ3_K*>(row), n, out);
      break;
    case DType::kQ4_K:
      dequantize_row_q4_k(static_cast<const BlockQ4_K*>(row), n, out);
      break;
    case DType::kQ5_K:
      dequantize_row_q5_k(static_cast<const BlockQ5_K*>(row), n, out);
      break;
    case DType::kQ6_K:
      dequantize_row_q6_k(static_cast<const BlockQ6_K*>(row), n, out);
      break;
    case DType::kQ4_1:
    case DType::kQ5_0:
    case DType::kQ5_1:
      dequantize_row_legacy(from, row, n, out);
      break;
  }
}

void row_from_f32(const float* x, int64_t n, DType to, void* out) {
  switch (to) {
    case DType::kF8E4M3:
      quantize_row_fp8(x, n, static_cast<BlockF8E4M3*>(out));
      break;
    case DType::kF32:
      std::memcpy(out, x, static_cast<size_t>(n) * 4);
      break;
    case DType::kF16: {
      uint16_t* p = static_cast<uint16_t*>(out);
      for (int64_t i = 0; i < n; ++i) p[i] = f32_to_f16(x[i]);
      break;
    }
    case DType::kBF16: {
      uint16_t* p = static_cast<uint16_t*>(out);
      for (int64_t i = 0; i < n; ++i) p[i] = f32_to_bf16(x[i]);
      break;
    }
    case DType::kQ8_0:
      active().quantize_row_q8_0(x, n, static_cast<BlockQ8_0*>(out));  // the ISA's form: the same bytes
      break;
    case DType::kQ4_0:
      quantize_row_q4_0(x, n, static_cast<BlockQ4_0*>(out));
      break;
    case DType::kQ2_K:
      quantize_row_q2_k(x, n, static_cast<BlockQ2_K*>(out));
      break;
    case DType::kQ3_K:
      quantize_row_q3_k(x, n, static_cast<BlockQ3_K*>(out));
      break;
    case DType::kQ4_K:
      quantize_row_q4_k(x, n, static_cast<BlockQ4_K*>(out));
      break;
    case DType::kQ5_K:
      quantize_row_q5_k(x, n, static_cast<BlockQ5_K*>(out));
      break;
    case DType::kQ6_K:
      quantize_row_q6_k(x, n, static_cast<BlockQ6_K*>(out));
      break;
    case DType::kQ4_1:
    case DType::kQ5_0:
    case DType::kQ5_1:
      quantize_row_legacy(to, x, n, out);
      break;
  }
}

void pack_tile(DType t, const uint8_t* const* rows, int n_rows, int64_t cols, uint8_t* tile) {
  constexpr int R = kTileRows;
  if (n_rows < R || t == DType::kF8E4M3) std::memset(tile, 0, dtype_tile_bytes(t, cols));
  // The float layouts move whole words: a 4-byte value (f32) or pair (bf16), or a 2-byte value (f16). This
  // runs over every weight at load, so it is written as plain strided word copies.
  switch (t) {
    case DType::kF8E4M3:  // per 128-column block: the 16 scales, then the values (matmul_fp8.h)
      for (int64_t b = 0; b * kFp8Block < cols; ++b) {
        uint8_t* blk = tile + b * kFp8TileBlock;
        const int n = static_cast<int>(std::min<int64_t>(kFp8Block, cols - b * kFp8Block));
        for (int r = 0; r < n_rows; ++r) {
          const BlockF8E4M3& in = reinterpret_cast<const BlockF8E4M3*>(rows[r])[b];
          std::memcpy(blk + 4 * r, &in.scale, 4);
          for (int j = 0; j < n; ++j) blk[R * 4 + fp8_group_byte(r, j)] = in.q[j];
        }
      }
      break;
    case DType::kF32:
    case DType::kBF16: {
      const int64_t n_words = t == DType::kF32 ? cols : cols / 2;
      uint32_t* out = reinterpret_cast<uint32_t*>(tile);
      for (int r = 0; r < n_rows; ++r) {
        const uint8_t* in = rows[r];
        if (t == DType::kF32) {
          for (int64_t k = 0; k < n_words; ++k) std::memcpy(&out[k * R + r], in + 4 * k, 4);
          continue;
        }
        // bf16: denormals become signed zeros, as vdpbf16ps reads them (kernels.h), for every ISA alike.
        for (int64_t k = 0; k < n_words; ++k) {
          uint32_t pair;
          std::memcpy(&pair, in + 4 * k, 4);
          if ((pair & 0x7f800000u) == 0) pair &= 0x8000ffffu;
          if ((pair & 0x7f80u) == 0) pair &= 0xffff8000u;
          out[k * R + r] = pair;
        }
        if (cols & 1) {  // odd cols: the last pair is (value, 0)
          uint16_t last;
          std::memcpy(&last, in + 4 * n_words, 2);
          if ((last & 0x7f80u) == 0) last &= 0x8000u;
          out[n_words * R + r] = last;  // little-endian: the value in the low half, zero in the high half
        }
      }
      break;
    }
    case DType::kF16: {
      uint16_t* out = reinterpret_cast<uint16_t*>(tile);
      for (int r = 0; r < n_rows; ++r)
        for (int64_t k = 0; k < cols; ++k) std::memcpy(&out[k * R + r], rows[r] + 2 * k, 2);
      break;
    }
    case DType::kQ8_0: {
      for (int64_t b = 0; b < cols / kQuantBlock; ++b) {
        uint8_t* blk = tile + b * R * sizeof(BlockQ8_0);
        uint16_t* scales = reinterpret_cast<uint16_t*>(blk);
        for (int r = 0; r < n_rows; ++r) {
          const BlockQ8_0& in = reinterpret_cast<const BlockQ8_0*>(rows[r])[b];
          scales[r] = in.scale;
          for (int g = 0; g < 8; ++g) {  // 4 values at a time, each + 128 (flipping the sign bit)
            uint32_t word;
            std::memcpy(&word, in.q + 4 * g, 4);
            word ^= 0x80808080u;
            std::memcpy(blk + 2 * R + g * R * 4 + r * 4, &word, 4);
          }
        }
        // Padding rows: scale 0 and q = 0 (stored 128), so they add exactly nothing.
        for (int r = n_rows; r < R; ++r)
          for (int j = 0; j < kQuantBlock; ++j) blk[2 * R + (j / 4) * R * 4 + r * 4 + j % 4] = 128;
      }
      break;
    }
    case DType::kQ4_0: {
      for (int64_t b = 0; b < cols / kQuantBlock; ++b) {
        uint8_t* blk = tile + b * R * sizeof(BlockQ4_0);
        uint16_t* scales = reinterpret_cast<uint16_t*>(blk);
        for (int r = 0; r < n_rows; ++r) {
          const BlockQ4_0& in = reinterpret_cast<const BlockQ4_0*>(rows[r])[b];
          scales[r] = in.scale;
          uint8_t nib[kQuantBlock];  // GGUF: byte j holds column j (low) and column j + 16 (high)
          for (int j = 0; j < kQuantBlock / 2; ++j) {
            nib[j] = in.q[j] & 0x0f;
            nib[j + kQuantBlock / 2] = in.q[j] >> 4;
          }
          for (int g = 0; g < 4; ++g)
            for (int i = 0; i < 4; ++i)
              blk[2 * R + g * R * 4 + r * 4 + i] =
                  static_cast<uint8_t>(nib[8 * g + i] | (nib[8 * g + 4 + i] << 4));
        }
        for (int r = n_rows; r < R; ++r)
          for (int g = 0; g < 4; ++g)
            for (int i = 0; i < 4; ++i) blk[2 * R + g * R * 4 + r * 4 + i] = 0x88;
      }
      break;
    }
    case DType::kQ2_K:
    case DType::kQ3_K:
    case DType::kQ4_K:
    case DType::kQ5_K:
    case DType::kQ6_K: {  // the stored blocks, super-block by super-block, 16 rows each (padding: zeros)
      const size_t bb = dtype_row_bytes(t, kSuperBlock);
      for (int64_t b = 0; b < cols / kSuperBlock; ++b)
        for (int r = 0; r < n_rows; ++r) std::memcpy(tile + (b * R + r) * bb, rows[r] + b * bb, bb);
      break;
    }
    case DType::kQ4_1:
    case DType::kQ5_0:
    case DType::kQ5_1:
      pack_tile_legacy(t, rows, n_rows, cols, tile);
      break;
  }
}

void tiled_row_to_f32(const Tensor& w, int64_t row, float* out) {
  constexpr int R = kTileRows;
  const uint8_t* tile = w.tile(row / R);
  const int r = static_cast<int>(row % R);
  const int64_t n = w.cols;
  switch (w.dtype) {
    case DType::kF8E4M3:
      for (int64_t b = 0; b * kFp8Block < n; ++b) {
        const uint8_t* blk = tile + b * kFp8TileBlock;
        float d;
        std::memcpy(&d, blk + 4 * r, 4);
        for (int64_t j = 0; j < std::min<int64_t>(kFp8Block, n - b * kFp8Block); ++j)
          out[b * kFp8Block + j] = fp8_e4m3_to_f32(blk[R * 4 + fp8_group_byte(r, static_cast<int>(j))]) * d;
      }
      break;
    case DType::kF32:
      for (int64_t k = 0; k < n; ++k) std::memcpy(&out[k], tile + (k * R + r) * 4, 4);
      break;
    case DType::kF16:
    case DType::kBF16: {
      const uint16_t* p = reinterpret_cast<const uint16_t*>(tile);
      for (int64_t k = 0; k < n; ++k)
        out[k] = w.dtype == DType::kF16 ? f16_to_f32(p[k * R + r])
                                        : bf16_to_f32(p[((k / 2) * R + r) * 2 + (k & 1)]);
      break;
    }
    case DType::kQ8_0:
      for (int64_t b = 0; b < n / kQuantBlock; ++b) {
        const uint8_t* blk = tile + b * R * sizeof(BlockQ8_0);
        uint16_t s;
        std::memcpy(&s, blk + 2 * r, 2);
        const float d = f16_to_f32(s);
        for (int j = 0; j < kQuantBlock; ++j)
          out[b * kQuantBlock + j] = d * (blk[2 * R + (j / 4) * R * 4 + r * 4 + j % 4] - 128);
      }
      break;
    case DType::kQ4_0:
      for (int64_t b = 0; b < n / kQuantBlock; ++b) {
        const uint8_t* blk = tile + b * R * sizeof(BlockQ4_0);
        uint16_t s;
        std::memcpy(&s, blk + 2 * r, 2);
        const float d = f16_to_f32(s);
        for (int g = 0; g < 4; ++g)
          for (int i = 0; i < 4; ++i) {
            const uint8_t v = blk[2 * R + g * R * 4 + r * 4 + i];
            out[b * kQuantBlock + 8 * g + i] = d * ((v & 0x0f) - 8);
            out[b * kQuantBlock + 8 * g + 4 + i] = d * ((v >> 4) - 8);
          }
      }
      break;
    case DType::kQ2_K:
    case DType::kQ3_K:
    case DType::kQ4_K:
    case DType::kQ5_K:
    case DType::kQ6_K: {
      const size_t bb = dtype_row_bytes(w.dtype, kSuperBlock);
      std::vector<uint8_t> row(dtype_row_bytes(w.dtype, n));
      for (int64_t b = 0; b < n / kSuperBlock; ++b) std::memcpy(&row[b * bb], tile + (b * R + r) * bb, bb);
      row_to_f32_rowmajor(w.dtype, row.data(), n, out);
      break;
    }
    case DType::kQ4_1:
    case DType::kQ5_0:
    case DType::kQ5_1:
      tiled_row_to_f32_legacy(w.dtype, tile, r, n, out);
      break;
  }
}

}  // namespace qwen3::kernels
