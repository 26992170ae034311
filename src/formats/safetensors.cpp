#include "formats/safetensors.h"

#include <algorithm>
#include <cstring>
#include <set>

#include <nlohmann/json.hpp>

#include "core/error.h"

namespace qwen3 {

std::optional<DType> value_dtype(StDType t) {
  switch (t) {
    case StDType::kF32:
      return DType::kF32;
    case StDType::kF16:
      return DType::kF16;
    case StDType::kBF16:
      return DType::kBF16;
    case StDType::kOther:
      break;
  }
  return std::nullopt;
}

using json = nlohmann::json;

static StDType parse_dtype(const std::string& s) {
  if (s == "F32") return StDType::kF32;
  if (s == "F16") return StDType::kF16;
  if (s == "BF16") return StDType::kBF16;
  return StDType::kOther;
}

static size_t dtype_size(const std::string& s) {
  if (s == "F64" || s == "I64" || s == "U64") return 8;
  if (s == "F32" || s == "I32" || s == "U32") return 4;
  if (s == "F16" || s == "BF16" || s == "I16" || s == "U16") return 2;
  if (s == "I8" || s == "U8" || s == "BOOL" || s == "F8_E4M3" || s == "F8_E5M2") return 1;
  return 0;
}

void parse_safetensors(FileBuffer file, SafetensorsSet& set) {
  const std::string& path = file.path();
  const uint8_t* base = file.data();
  size_t size = file.size();
  QWEN3_CHECK(size >= 8, "%s: truncated: %zu bytes, too short for the 8-byte header length", path.c_str(),
              size);
  uint64_t header_len;
  std::memcpy(&header_len, base, 8);  // little-endian u64
  QWEN3_CHECK(header_len <= size - 8, "%s: header length %llu goes beyond the end of the file (%zu bytes)",
              path.c_str(), static_cast<unsigned long long>(header_len), size);
  json header;
  try {
    header = json::parse(base + 8, base + 8 + header_len);
  } catch (const json::exception& e) {
    throw_error("%s: malformed header JSON: %s", path.c_str(), e.what());
  }
  QWEN3_CHECK(header.is_object(), "%s: malformed header: not a JSON object", path.c_str());

  const uint8_t* data = base + 8 + header_len;
  size_t data_size = size - 8 - header_len;
  std::vector<std::pair<size_t, size_t>> ranges;  // to detect overlaps
  std::vector<std::string> added;
  for (auto& [name, info] : header.items()) {
    if (name == "__metadata__") {
      if (info.is_object())
        for (auto& [key, value] : info.items())
          if (value.is_string()) set.metadata[key] = value.get<std::string>();
      continue;
    }
    QWEN3_CHECK(info.is_object() && info.contains("dtype") && info["dtype"].is_string() &&
                    info.contains("shape") && info["shape"].is_array() && info.contains("data_offsets") &&
                    info["data_offsets"].is_array() && info["data_offsets"].size() == 2,
                "%s: malformed header entry for tensor '%s' (needs dtype, shape, data_offsets)", path.c_str(),
                name.c_str());
    StTensor t;
    t.name = name;
    t.file = path;
    t.dtype_name = info["dtype"].get<std::string>();
    t.dtype = parse_dtype(t.dtype_name);
    size_t elem = dtype_size(t.dtype_name);
    QWEN3_CHECK(elem != 0, "%s: tensor '%s' has unknown dtype '%s'", path.c_str(), name.c_str(),
                t.dtype_name.c_str());
    uint64_t n_elems = 1;
    for (auto& d : info["shape"]) {
      QWEN3_CHECK(d.is_number_unsigned() || (d.is_number_integer() && d.get<int64_t>() >= 0),
                  "%s: tensor '%s' has an invalid shape", path.c_str(), name.c_str());
      uint64_t v = d.get<uint64_t>();
      QWEN3_CHECK(v < (1ull << 40) && (v == 0 || n_elems <= (1ull << 50) / v),
                  "%s: tensor '%s' shape too large", path.c_str(), name.c_str());
      t.shape.push_back(static_cast<int64_t>(v));
      n_elems *= v;
    }
    auto& offs = info["data_offsets"];
    QWEN3_CHECK(offs[0].is_number_unsigned() && offs[1].is_number_unsigned(),
                "%s: tensor '%s' has invalid data_offsets", path.c_str(), name.c_str());
    uint64_t begin = offs[0].get<uint64_t>(), end = offs[1].get<uint64_t>();
    QWEN3_CHECK(begin <= end && end <= data_size,
                "%s: tensor '%s' data offsets [%llu, %llu) lie outside the data section (%zu bytes)",
                path.c_str(), name.c_str(), static_cast<unsigned long long>(begin),
                static_cast<unsigned long long>(end), data_size);
    QWEN3_CHECK(end - begin == n_elems * elem,
                "%s: tensor '%s' has %llu bytes of data but its shape and dtype need %llu", path.c_str(),
                name.c_str(), static_cast<unsigned long long>(end - begin),
                static_cast<unsigned long long>(n_elems * elem));
    t.data = data + begin;
    t.n_bytes = end - begin;
    ranges.emplace_back(begin, end);
    QWEN3_CHECK(!set.tensors.count(name), "%s: tensor '%s' appears again (already in %s)", path.c_str(),
                name.c_str(), set.tensors[name].file.c_str());
    set.tensors.emplace(name, std::move(t));
    added.push_back(name);
  }
  std::sort(ranges.begin(), ranges.end());
  for (size_t i = 1; i < ranges.size(); ++i) {
    QWEN3_CHECK(ranges[i].first >= ranges[i - 1].second || ranges[i].first == ranges[i].second ||
                    ranges[i - 1].first == ranges[i - 1].second,
                "%s: tensor data ranges overlap ([%zu, %zu) and [%zu, %zu))", path.c_str(),
                ranges[i - 1].first, ranges[i - 1].second, ranges[i].first, ranges[i].second);
  }
  set.files.push_back(std::move(file));
}

SafetensorsSet load_safetensors_dir(const std::string& dir, MapMode mode,
                                    const std::function<void(size_t, size_t)>& progress) {
  SafetensorsSet set;
  size_t total = 0, before = 0;  // bytes of all files, and of the files already read
  auto file_progress = [&](size_t done, size_t) {
    if (progress) progress(before + done, total);
  };
  std::string single = dir + "/model.safetensors";
  std::string index_path = dir + "/model.safetensors.index.json";
  if (file_exists(index_path)) {
    json index;
    try {
      index = json::parse(read_text_file(index_path));
    } catch (const json::exception& e) {
      throw_error("%s: malformed JSON: %s", index_path.c_str(), e.what());
    }
    QWEN3_CHECK(index.is_object() && index.contains("weight_map") && index["weight_map"].is_object(),
                "%s: no \"weight_map\" object", index_path.c_str());
    std::set<std::string> shards;
    for (auto& [name, shard] : index["weight_map"].items()) {
      QWEN3_CHECK(shard.is_string(), "%s: weight_map entry for '%s' is not a file name", index_path.c_str(),
                  name.c_str());
      std::string s = shard.get<std::string>();
      QWEN3_CHECK(s.find('/') == std::string::npos && s != ".." && !s.empty(),
                  "%s: shard name '%s' must be a plain file name", index_path.c_str(), s.c_str());
      shards.insert(s);
    }
    for (const auto& s : shards) {
      std::string path = dir + "/" + s;
      QWEN3_CHECK(file_exists(path), "%s: missing shard %s (named in %s)", path.c_str(), s.c_str(),
                  index_path.c_str());
      total += file_size(path);
    }
    for (const auto& s : shards) {
      std::string path = dir + "/" + s;
      parse_safetensors(FileBuffer::open(path, mode, file_progress), set);
      before += set.files.back().size();
    }
    for (auto& [name, shard] : index["weight_map"].items()) {
      auto it = set.tensors.find(name);
      QWEN3_CHECK(it != set.tensors.end(), "%s: tensor '%s' is listed for %s but that shard does not hold it",
                  index_path.c_str(), name.c_str(), shard.get<std::string>().c_str());
    }
    return set;
  }
  QWEN3_CHECK(file_exists(single),
              "%s: no model.safetensors or model.safetensors.index.json in the directory", dir.c_str());
  total = file_size(single);
  parse_safetensors(FileBuffer::open(single, mode, file_progress), set);
  return set;
}

}  // namespace qwen3
