// GGUF, the file format of ggml and llama.cpp (version 3, little-endian): the constants, value and tensor
// types and the tokenizer form shared by the writer (gguf_writer.h, `qwen3 quantize -o OUT.gguf`) and the
// reader (gguf_reader.h); what a Qwen3 model's keys and tensor names mean is the model's
// (model/gguf_model.h). Layout of a file:
//   "GGUF"  u32 version = 3  u64 n_tensors  u64 n_kv
//   n_kv      x  string key, u32 value type, value      (string = u64 byte length + UTF-8, no NUL;
//                                                       array = u32 element type, u64 count, elements)
//   n_tensors x  string name, u32 n_dims, u64 ne[n_dims] (innermost first: ne[0] = columns),
//                u32 ggml type, u64 offset (from the start of the data section, a multiple of the alignment)
//   zero padding to general.alignment (32 when absent), then the data section.
// docs/DESIGN.md ("GGUF") lists the keys and tensor names this engine writes and reads.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "core/dtype.h"

namespace qwen3::gguf {

constexpr uint32_t kMagic = 0x46554747;  // "GGUF" read as a little-endian u32
constexpr uint32_t kVersion = 3;
constexpr uint32_t kDefaultAlignment = 32;

enum class ValueType : uint32_t {
  kU8 = 0,
  kI8 = 1,
  kU16 = 2,
  kI16 = 3,
  kU32 = 4,
  kI32 = 5,
  kF32 = 6,
  kBool = 7,
  kString = 8,
  kArray = 9,
  kU64 = 10,
  kI64 = 11,
  kF64 = 12,
};
const char* value_type_name(ValueType t);

// ggml_type numbers of the tensor types this engine has kernels for.
enum class GgmlType : uint32_t {
  kF32 = 0,
  kF16 = 1,
  kQ4_0 = 2,
  kQ4_1 = 3,
  kQ5_0 = 6,
  kQ5_1 = 7,
  kQ8_0 = 8,
  kQ2_K = 10,
  kQ3_K = 11,
  kQ4_K = 12,
  kQ5_K = 13,
  kQ6_K = 14,
  kBF16 = 30
};
GgmlType ggml_type_of(DType t);
// The DType of a ggml type number, or nullopt for a type this engine cannot use.
std::optional<DType> dtype_of_ggml(uint32_t ggml_type);
// ggml's name of a type number ("q4_K", …) for error messages; "type N" when unknown.
std::string ggml_type_name(uint32_t ggml_type);

// One metadata value. Integers of every width are held in `i`, floats in `f`; an array keeps its element type
// and its values in `ints`, `floats` or `strings` (nested arrays are skipped by the reader).
struct Value {
  ValueType type = ValueType::kU32;
  ValueType elem = ValueType::kU32;  // arrays only
  int64_t i = 0;
  double f = 0;
  std::string s;
  std::vector<int64_t> ints;
  std::vector<double> floats;
  std::vector<std::string> strings;

  static Value u32(uint32_t v);
  static Value i32(int32_t v);
  static Value f32(float v);
  static Value boolean(bool v);
  static Value str(std::string v);
  static Value str_array(std::vector<std::string> v);
  static Value i32_array(const std::vector<int32_t>& v);
};
using KeyValues = std::vector<std::pair<std::string, Value>>;

// The tokenizer as GGUF stores it (tokenizer.ggml.*): llama.cpp's "gpt2" model, byte-level BPE.
enum TokenType : int32_t {
  kNormal = 1,
  kUnknown = 2,
  kControl = 3,
  kUserDefined = 4,
  kUnused = 5,
  kByte = 6
};
struct Vocab {
  std::string model = "gpt2";
  std::string pre = "qwen2";         // llama.cpp's pre-tokenizer name
  std::vector<std::string> tokens;   // id -> byte-level token string; "[PAD<id>]" for unused ids
  std::vector<int32_t> token_types;  // id -> TokenType
  std::vector<std::string> merges;   // "left right", by rank
  std::optional<uint32_t> bos, eos, unk, sep, pad, mask;  // special token ids
  std::optional<bool> add_bos, add_eos;
  std::string chat_template;  // empty: none
};

}  // namespace qwen3::gguf
