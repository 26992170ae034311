// Writing safetensors files, streaming: the header is written from the tensors' names, dtypes and shapes,
// then each tensor's bytes are produced by a callback in order, so a multi-gigabyte model never sits in
// memory.
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

namespace qwen3 {

struct StWriteTensor {
  std::string name;
  std::string dtype;  // "F32", "F16", "BF16", or "U8" for block-quantised data
  std::vector<int64_t> shape;
  size_t n_bytes = 0;
};

// Writes `tensors` to `path` in order; fill(i, out) must write exactly tensors[i].n_bytes bytes into `out`.
// `metadata` is written as the __metadata__ object (string values).
void write_safetensors(const std::string& path, const std::vector<StWriteTensor>& tensors,
                       const std::vector<std::pair<std::string, std::string>>& metadata,
                       const std::function<void(size_t index, uint8_t* out)>& fill);

}  // namespace qwen3
