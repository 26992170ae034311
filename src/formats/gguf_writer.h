// Writing GGUF files (formats/gguf.h has the layout), streaming: the header, metadata and tensor infos are
// written from names, types and shapes, then each tensor's bytes are produced by a callback in order, so a
// model never sits whole in memory. Tests: tests/gguf/ (an independent parser reads what this writes).
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "formats/gguf.h"

namespace qwen3::gguf {

struct WriteTensor {
  std::string name;
  GgmlType type = GgmlType::kF32;
  std::vector<int64_t> ne;  // innermost first: {cols, rows} for a matrix, {n} for a vector
  size_t n_bytes = 0;       // must agree with ne and type
};

// Writes `kv` (general.alignment is added, 32) and `tensors` to `path`; fill(i, out) must write exactly
// tensors[i].n_bytes bytes into `out`. progress(bytes written, total) after each tensor.
void write_file(const std::string& path, const KeyValues& kv, const std::vector<WriteTensor>& tensors,
                const std::function<void(size_t index, uint8_t* out)>& fill,
                const std::function<void(size_t, size_t)>& progress = nullptr);

}  // namespace qwen3::gguf
