#include "formats/safetensors_writer.h"

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <memory>

#include <nlohmann/json.hpp>

#include "core/error.h"

namespace qwen3 {

void write_safetensors(const std::string& path, const std::vector<StWriteTensor>& tensors,
                       const std::vector<std::pair<std::string, std::string>>& metadata,
                       const std::function<void(size_t, uint8_t*)>& fill) {
  nlohmann::ordered_json header;
  nlohmann::ordered_json meta = nlohmann::ordered_json::object();
  for (auto& [k, v] : metadata) meta[k] = v;
  header["__metadata__"] = meta;
  size_t offset = 0;
  for (auto& t : tensors) {
    header[t.name] = {{"dtype", t.dtype}, {"shape", t.shape}, {"data_offsets", {offset, offset + t.n_bytes}}};
    offset += t.n_bytes;
  }
  std::string text = header.dump();
  while ((8 + text.size()) % 64 != 0) text.push_back(' ');  // keep tensor data 64-byte aligned in the file
  std::unique_ptr<FILE, int (*)(FILE*)> f(std::fopen(path.c_str(), "wb"), std::fclose);
  QWEN3_CHECK(f != nullptr, "%s: cannot create: %s", path.c_str(), std::strerror(errno));
  uint64_t len = text.size();
  bool ok = std::fwrite(&len, 8, 1, f.get()) == 1 &&
            std::fwrite(text.data(), 1, text.size(), f.get()) == text.size();
  std::vector<uint8_t> buf;
  for (size_t i = 0; ok && i < tensors.size(); ++i) {
    buf.assign(tensors[i].n_bytes, 0);
    fill(i, buf.data());
    ok = std::fwrite(buf.data(), 1, buf.size(), f.get()) == buf.size();
  }
  QWEN3_CHECK(ok && std::fflush(f.get()) == 0, "%s: write failed: %s", path.c_str(), std::strerror(errno));
}

}  // namespace qwen3
