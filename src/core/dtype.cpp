#include "core/dtype.h"

namespace qwen3 {

const char* dtype_name(DType t) {
  switch (t) {
    case DType::kF32:
      return "f32";
    case DType::kF16:
      return "f16";
    case DType::kBF16:
      return "bf16";
    case DType::kQ8_0:
      return "q8_0";
    case DType::kQ4_0:
      return "q4_0";
  }
  return "?";
}

size_t dtype_row_bytes(DType t, int64_t cols) {
  size_t n = static_cast<size_t>(cols);
  switch (t) {
    case DType::kF32:
      return n * 4;
    case DType::kF16:
    case DType::kBF16:
      return n * 2;
    case DType::kQ8_0:
      return n / kQuantBlock * sizeof(BlockQ8_0);
    case DType::kQ4_0:
      return n / kQuantBlock * sizeof(BlockQ4_0);
  }
  return 0;
}

}  // namespace qwen3
