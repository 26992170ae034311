// Reading GGUF files (formats/gguf.h has the layout) with every structural check the format allows: magic and
// version, each string, value and array inside the file, known value types, tensor dimensions, offsets
// aligned and tensor data inside the file, no tensor named twice. Every failure is one qwen3::Error line
// naming the file and the problem ("x.gguf: truncated: …"). Tests: tests/gguf/.
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <string>
#include <vector>

#include "core/file.h"
#include "formats/gguf.h"

namespace qwen3::gguf {

struct TensorInfo {
  std::string name;
  uint32_t type = 0;        // ggml type number (possibly one this engine has no kernels for)
  std::vector<int64_t> ne;  // innermost first
  const uint8_t* data = nullptr;
  size_t n_bytes = 0;  // 0 when the type is unknown to this engine
};

struct File {
  FileBuffer buffer;
  std::string path;
  uint32_t version = 0;
  std::map<std::string, Value> kv;
  std::vector<TensorInfo> tensors;

  // Typed look-ups; a missing key or a value of the wrong kind is an error naming the key. Integers of any
  // width are accepted where a count is asked for, f32 or f64 for a float.
  bool has(const std::string& key) const { return kv.count(key) > 0; }
  uint32_t get_u32(const std::string& key) const;
  uint32_t get_u32(const std::string& key, uint32_t fallback) const;
  double get_f64(const std::string& key, double fallback) const;
  const std::string& get_str(const std::string& key) const;
};

// A regular file whose name ends in ".gguf".
bool is_gguf_path(const std::string& path);

// Opens and parses a file (MapMode::kMmap to read only what is touched: the metadata alone, for a tokenizer).
File read_file(const std::string& path, MapMode mode = MapMode::kMmap,
               const std::function<void(size_t, size_t)>& progress = nullptr);

// The tokenizer.ggml.* entries; an error when the file has none this engine can use.
Vocab read_vocab(const File& f);

}  // namespace qwen3::gguf
