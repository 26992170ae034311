// A weight tensor: a runtime dtype tag over a plain buffer. Matrices are row-major [rows, cols] with rows the
// output dimension, as PyTorch's nn.Linear stores them ([out_features, in_features]).
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

namespace qwen3 {

enum class DType : uint8_t { kF32, kF16, kBF16, kQ8_0, kQ4_0 };

// GGUF-compatible block quantisation: 32 values per block, one f16 scale.
constexpr int kQuantBlock = 32;
struct BlockQ8_0 {
  uint16_t scale;  // f16
  int8_t q[kQuantBlock];
};
struct BlockQ4_0 {
  uint16_t scale;  // f16
  uint8_t
      q[kQuantBlock / 2];  // low nibbles: values 0..15, high nibbles: values 16..31; value = (nibble-8)*scale
};
static_assert(sizeof(BlockQ8_0) == 34 && sizeof(BlockQ4_0) == 18);

// Matrices are repacked at load into tiles of kTileRows rows (kernels/pack.cpp describes the layouts) so that
// the matmul kernels stream each tile once and keep one accumulator lane per output row.
constexpr int kTileRows = 16;

const char* dtype_name(DType t);
// Bytes taken by one row of `cols` values (cols must be a multiple of 32 for the block types).
size_t dtype_row_bytes(DType t, int64_t cols);

// Bytes of one tile of kTileRows rows in the tiled layout (bf16 pads an odd cols by one zero).
size_t dtype_tile_bytes(DType t, int64_t cols);

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
