// Reading safetensors files (single or sharded through model.safetensors.index.json) with every structural
// check the format allows: header length within the file, header JSON well-formed, each tensor's dtype known,
// its byte range inside the data section, consistent with its shape, and not overlapping another tensor.
// Every failure is a qwen3::Error whose one line names the file and the problem.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "core/dtype.h"
#include "core/file.h"

namespace qwen3 {

enum class StDType { kF32, kF16, kBF16, kOther };
// The DType of a float tensor's values; nullopt for kOther (U8 blocks of a quantised model, unknown dtypes).
std::optional<DType> value_dtype(StDType t);

struct StTensor {
  std::string name;
  std::string file;  // path of the file that holds it
  StDType dtype = StDType::kOther;
  std::string dtype_name;  // as written in the header ("BF16", …)
  std::vector<int64_t> shape;
  const uint8_t* data = nullptr;
  size_t n_bytes = 0;
  // GGUF blocks of this dtype, row by row (shape [rows, row bytes]): set for a GGUF file's Q8_0/Q4_0 tensors
  // (a quantised safetensors model says it once, in its metadata).
  std::optional<DType> blocks;
};

// A set of loaded safetensors files and the tensors they hold, by name.
struct SafetensorsSet {
  std::vector<FileBuffer> files;
  std::map<std::string, StTensor> tensors;
  std::map<std::string, std::string> metadata;  // the string entries of every file's __metadata__
};

// Parses one file already in memory; adds its tensors to `set` (a tensor name seen twice is an error).
void parse_safetensors(FileBuffer file, SafetensorsSet& set);

// Loads model.safetensors, or every shard named by model.safetensors.index.json, from a model directory.
// progress(bytes_read, bytes_total) over all files, for a progress bar.
SafetensorsSet load_safetensors_dir(const std::string& dir, MapMode mode,
                                    const std::function<void(size_t, size_t)>& progress = nullptr);

}  // namespace qwen3
