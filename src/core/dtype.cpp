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
    case DType::kQ4_K:
      return "q4_K";
    case DType::kQ5_K:
      return "q5_K";
    case DType::kQ6_K:
      return "q6_K";
    case DType::kF8E4M3:
      return "f8_e4m3";
    case DType::kQ4_1:
      return "q4_1";
    case DType::kQ5_0:
      return "q5_0";
    case DType::kQ5_1:
      return "q5_1";
    case DType::kQ2_K:
      return "q2_K";
    case DType::kQ3_K:
      return "q3_K";
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
    case DType::kQ4_K:
      return n / kSuperBlock * sizeof(BlockQ4_K);
    case DType::kQ5_K:
      return n / kSuperBlock * sizeof(BlockQ5_K);
    case DType::kQ6_K:
      return n / kSuperBlock * sizeof(BlockQ6_K);
    case DType::kF8E4M3:
      return (n + kFp8Block - 1) / kFp8Block * sizeof(BlockF8E4M3);
    case DType::kQ4_1:
      return n / kQuantBlock * sizeof(BlockQ4_1);
    case DType::kQ5_0:
      return n / kQuantBlock * sizeof(BlockQ5_0);
    case DType::kQ5_1:
      return n / kQuantBlock * sizeof(BlockQ5_1);
    case DType::kQ2_K:
      return n / kSuperBlock * sizeof(BlockQ2_K);
    case DType::kQ3_K:
      return n / kSuperBlock * sizeof(BlockQ3_K);
  }
  return 0;
}

int dtype_block_values(DType t) {
  switch (t) {
    case DType::kQ8_0:
    case DType::kQ4_0:
    case DType::kQ4_1:
    case DType::kQ5_0:
    case DType::kQ5_1:
      return kQuantBlock;
    case DType::kQ2_K:
    case DType::kQ3_K:
    case DType::kQ4_K:
    case DType::kQ5_K:
    case DType::kQ6_K:
      return kSuperBlock;
    default:
      return 1;
  }
}

}  // namespace qwen3
