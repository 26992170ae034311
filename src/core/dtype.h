// The element types of weights and caches: a runtime tag (DType), GGUF's quantised block layouts and the
// bytes a row takes. Shared by the file formats (formats/), the kernels and the model; the tiled layout the
// kernels repack matrices into is theirs (kernels/tensor.h). bf16/f16 conversion: core/half.h.
#pragma once

#include <cstddef>
#include <cstdint>

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

const char* dtype_name(DType t);
// Bytes taken by one row of `cols` values (cols must be a multiple of 32 for the block types).
size_t dtype_row_bytes(DType t, int64_t cols);

}  // namespace qwen3
