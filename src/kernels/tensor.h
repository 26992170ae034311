// A weight tensor: a runtime dtype tag (core/dtype.h) over a plain buffer, the operand of the matmul kernels.
// Matrices are row-major [rows, cols] with rows the output dimension, as PyTorch's nn.Linear stores them
// ([out_features, in_features]), until the loader repacks them into the kernels' tiles (kernels/pack.h).
#pragma once

#include <cstddef>
#include <cstdint>

#include "core/dtype.h"

namespace qwen3 {

// Matrices are repacked at load into tiles of kTileRows rows (kernels/pack.cpp describes the layouts) so that
// the matmul kernels stream each tile once and keep one accumulator lane per output row.
constexpr int kTileRows = 16;

// Bytes of one tile of kTileRows rows in the tiled layout (bf16 pads an odd cols by one zero: its tiles hold
// column pairs).
inline size_t dtype_tile_bytes(DType t, int64_t cols) {
  if (t == DType::kBF16) cols += cols & 1;
  return dtype_row_bytes(t, cols) * kTileRows;
}

struct Tensor {
  DType dtype = DType::kF32;
  int64_t rows = 0, cols = 0;  // a vector is [1, n]
  const void* data = nullptr;
  bool tiled = false;  // false: row-major rows (file layout); true: tiles of kTileRows rows (kernels/pack.h)
  // bf16 matrices: multiply bf16-rounded activations with vdpbf16ps arithmetic (fast) instead of f32 ones
  // (exact); kernels/kernels.h defines both.
  bool bf16_dot = false;
  int64_t n_tiles() const { return (rows + kTileRows - 1) / kTileRows; }
  size_t bytes() const {
    return tiled ? dtype_tile_bytes(dtype, cols) * static_cast<size_t>(n_tiles())
                 : dtype_row_bytes(dtype, cols) * static_cast<size_t>(rows);
  }
  const uint8_t* tile(int64_t i) const {
    return static_cast<const uint8_t*>(data) + dtype_tile_bytes(dtype, cols) * static_cast<size_t>(i);
  }
  // Row-major tensors only.
  const uint8_t* row(int64_t r) const {
    return static_cast<const uint8_t*>(data) + dtype_row_bytes(dtype, cols) * static_cast<size_t>(r);
  }
};

}  // namespace qwen3
