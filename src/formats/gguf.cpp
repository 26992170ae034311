#include "formats/gguf.h"

#include "core/error.h"

namespace qwen3::gguf {

const char* value_type_name(ValueType t) {
  switch (t) {
    case ValueType::kU8:
      return "u8";
    case ValueType::kI8:
      return "i8";
    case ValueType::kU16:
      return "u16";
    case ValueType::kI16:
      return "i16";
    case ValueType::kU32:
      return "u32";
    case ValueType::kI32:
      return "i32";
    case ValueType::kF32:
      return "f32";
    case ValueType::kBool:
      return "bool";
    case ValueType::kString:
      return "string";
    case ValueType::kArray:
      return "array";
    case ValueType::kU64:
      return "u64";
    case ValueType::kI64:
      return "i64";
    case ValueType::kF64:
      return "f64";
  }
  return "?";
}

GgmlType ggml_type_of(DType t) {
  switch (t) {
    case DType::kF8E4M3:
      throw_error("f8_e4m3 weights have no GGUF type (llama.cpp has no FP8 e4m3 blocks)");
    case DType::kF32:
      return GgmlType::kF32;
    case DType::kF16:
      return GgmlType::kF16;
    case DType::kBF16:
      return GgmlType::kBF16;
    case DType::kQ8_0:
      return GgmlType::kQ8_0;
    case DType::kQ4_0:
      return GgmlType::kQ4_0;
    case DType::kQ4_K:
      return GgmlType::kQ4_K;
    case DType::kQ5_K:
      return GgmlType::kQ5_K;
    case DType::kQ6_K:
      return GgmlType::kQ6_K;
    case DType::kQ4_1:
      return GgmlType::kQ4_1;
    case DType::kQ5_0:
      return GgmlType::kQ5_0;
    case DType::kQ5_1:
      return GgmlType::kQ5_1;
    case DType::kQ2_K:
      return GgmlType::kQ2_K;
    case DType::kQ3_K:
      return GgmlType::kQ3_K;
  }
  QWEN3_ASSERT(false);
}

std::optional<DType> dtype_of_ggml(uint32_t ggml_type) {
  switch (static_cast<GgmlType>(ggml_type)) {
    case GgmlType::kF32:
      return DType::kF32;
    case GgmlType::kF16:
      return DType::kF16;
    case GgmlType::kBF16:
      return DType::kBF16;
    case GgmlType::kQ8_0:
      return DType::kQ8_0;
    case GgmlType::kQ4_0:
      return DType::kQ4_0;
    case GgmlType::kQ4_K:
      return DType::kQ4_K;
    case GgmlType::kQ5_K:
      return DType::kQ5_K;
    case GgmlType::kQ6_K:
      return DType::kQ6_K;
    case GgmlType::kQ4_1:
      return DType::kQ4_1;
    case GgmlType::kQ5_0:
      return DType::kQ5_0;
    case GgmlType::kQ5_1:
      return DType::kQ5_1;
    case GgmlType::kQ2_K:
      return DType::kQ2_K;
    case GgmlType::kQ3_K:
      return DType::kQ3_K;
  }
  return std::nullopt;
}

std::string ggml_type_name(uint32_t ggml_type) {
  // ggml's enum ggml_type, in order (gaps are types removed from ggml).
  static const char* const kNames[] = {
      "f32",     "f16",     "q4_0",    "q4_1",  "type 4",  "type 5",  "q5_0",    "q5_1",
      "q8_0",    "q8_1",    "q2_K",    "q3_K",  "q4_K",    "q5_K",    "q6_K",    "q8_K",
      "iq2_xxs", "iq2_xs",  "iq3_xxs", "iq1_s", "iq4_nl",  "iq3_s",   "iq2_s",   "iq4_xs",
      "i8",      "i16",     "i32",     "i64",   "f64",     "iq1_m",   "bf16",    "type 31",
      "type 32", "type 33", "tq1_0",   "tq2_0", "type 36", "type 37", "type 38", "mxfp4"};
  if (ggml_type < std::size(kNames)) return kNames[ggml_type];
  return "type " + std::to_string(ggml_type);
}

Value Value::u32(uint32_t v) {
  Value x;
  x.type = ValueType::kU32;
  x.i = v;
  return x;
}
Value Value::i32(int32_t v) {
  Value x;
  x.type = ValueType::kI32;
  x.i = v;
  return x;
}
Value Value::f32(float v) {
  Value x;
  x.type = ValueType::kF32;
  x.f = v;
  return x;
}
Value Value::boolean(bool v) {
  Value x;
  x.type = ValueType::kBool;
  x.i = v;
  return x;
}
Value Value::str(std::string v) {
  Value x;
  x.type = ValueType::kString;
  x.s = std::move(v);
  return x;
}
Value Value::str_array(std::vector<std::string> v) {
  Value x;
  x.type = ValueType::kArray;
  x.elem = ValueType::kString;
  x.strings = std::move(v);
  return x;
}
Value Value::i32_array(const std::vector<int32_t>& v) {
  Value x;
  x.type = ValueType::kArray;
  x.elem = ValueType::kI32;
  x.ints.assign(v.begin(), v.end());
  return x;
}

}  // namespace qwen3::gguf
