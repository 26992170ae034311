// qwen3 quantize --type fp8 (fp8.h's export_fp8): a model directory in Qwen's fine-grained FP8 layout, as
// the Qwen/Qwen3-*-FP8 repositories hold it. tools/fp8/fp8_numpy.py makes the same bytes independently
// (tests/quant/test_fp8.py compares them).
#include <algorithm>
#include <cmath>
#include <cstring>
#include <filesystem>
#include <fstream>

#include <nlohmann/json.hpp>

#include "core/error.h"
#include "core/file.h"
#include "core/fp8.h"
#include "core/half.h"
#include "formats/safetensors_writer.h"
#include "kernels/pack.h"
#include "model/config.h"
#include "model/fp8.h"
#include "model/weights.h"

namespace qwen3 {

namespace fs = std::filesystem;
using json = nlohmann::json;

namespace {

constexpr int64_t kBlock = 128;  // weight_block_size [128, 128]

DType source_dtype(const StTensor& st) {
  QWEN3_CHECK(st.dtype != StDType::kOther, "%s: tensor '%s' has dtype %s; expected BF16, F16 or F32",
              st.file.c_str(), st.name.c_str(), st.dtype_name.c_str());
  return *value_dtype(st.dtype);
}

// The weight [rows, cols] in 128 x 128 blocks: q (row-major e4m3 bytes) and the blocks' scales.
void quantize_blocks(const StTensor& st, int64_t rows, int64_t cols, uint8_t* q, float* scales) {
  const DType have = source_dtype(st);
  const size_t in_row = dtype_row_bytes(have, cols);
  const int64_t nbc = (cols + kBlock - 1) / kBlock;
  std::vector<float> x(static_cast<size_t>(kBlock * cols));
  for (int64_t br = 0; br * kBlock < rows; ++br) {
    const int64_t r0 = br * kBlock, nr = std::min(kBlock, rows - r0);
    for (int64_t r = 0; r < nr; ++r)
      kernels::row_to_f32_rowmajor(have, st.data + (r0 + r) * in_row, cols, x.data() + r * cols);
    for (int64_t bc = 0; bc < nbc; ++bc) {
      const int64_t c0 = bc * kBlock, nc = std::min(kBlock, cols - c0);
      float amax = 0;
      for (int64_t r = 0; r < nr; ++r)
        for (int64_t c = 0; c < nc; ++c) amax = std::max(amax, std::fabs(x[r * cols + c0 + c]));
      float s = amax / kFp8E4M3Max;
      if (s == 0.0f) s = 1.0f;
      scales[br * nbc + bc] = s;
      for (int64_t r = 0; r < nr; ++r)
        for (int64_t c = 0; c < nc; ++c)
          q[(r0 + r) * cols + c0 + c] = f32_to_fp8_e4m3(x[r * cols + c0 + c] / s);
    }
  }
}

}  // namespace

void export_fp8(const std::string& in_dir, const std::string& out_dir) {
  const std::string config_path = in_dir + "/config.json";
  const ModelConfig config = load_model_config(in_dir);
  QWEN3_CHECK(!read_fp8_scheme(in_dir),
              "%s: already quantised (quantization_config); quantise the original model", in_dir.c_str());
  SafetensorsSet set = load_safetensors_dir(in_dir, MapMode::kMmap);
  QWEN3_CHECK(!set.metadata.count(kQuantizationKey),
              "%s: already quantised (%s); quantise the original model", in_dir.c_str(),
              set.metadata[kQuantizationKey].c_str());
  struct Item {
    const StTensor* src;
    bool fp8;    // the F8_E4M3 weight
    bool scale;  // its _scale_inv
    int64_t rows, cols;
  };
  std::vector<StWriteTensor> out;
  std::vector<Item> items;
  for (const WeightSpec& s : weight_specs(config, nullptr)) {
    auto it = set.tensors.find(s.name);
    if (it == set.tensors.end()) continue;  // the loader reports what is missing
    const StTensor& st = it->second;
    if (s.name == "lm_head.weight" && config.tie_word_embeddings) continue;
    source_dtype(st);
    const bool linear = s.rows > 0 && s.name != "model.embed_tokens.weight" && s.name != "lm_head.weight";
    const std::vector<int64_t> expected =
        s.rows > 0 ? std::vector<int64_t>{s.rows, s.cols} : std::vector<int64_t>{s.cols};
    QWEN3_CHECK(st.shape == expected, "%s: tensor '%s' does not have the shape config.json implies",
                st.file.c_str(), s.name.c_str());
    const size_t n = static_cast<size_t>(s.rows > 0 ? s.rows * s.cols : s.cols);
    if (linear) {
      out.push_back({s.name, "F8_E4M3", {s.rows, s.cols}, n});
      items.push_back({&st, true, false, s.rows, s.cols});
      const int64_t br = (s.rows + kBlock - 1) / kBlock, bc = (s.cols + kBlock - 1) / kBlock;
      out.push_back({s.name + "_scale_inv", "F32", {br, bc}, static_cast<size_t>(br * bc) * 4});
      items.push_back({&st, false, true, s.rows, s.cols});
    } else {
      out.push_back({s.name, "BF16", st.shape, n * 2});
      items.push_back({&st, false, false, s.rows, s.cols});
    }
  }
  fs::create_directories(out_dir);
  for (const auto& e : fs::directory_iterator(in_dir)) {
    const std::string name = e.path().filename().string();
    if (!e.is_regular_file() || name.ends_with(".safetensors") || name == "model.safetensors.index.json" ||
        name == "config.json")
      continue;
    fs::copy_file(e.path(), fs::path(out_dir) / name, fs::copy_options::overwrite_existing);
  }
  json cfg = json::parse(read_text_file(config_path));
  cfg["quantization_config"] = {{"activation_scheme", "dynamic"},
                                {"fmt", "e4m3"},
                                {"quant_method", "fp8"},
                                {"weight_block_size", {kBlock, kBlock}}};
  cfg["torch_dtype"] = "bfloat16";
  {
    std::ofstream f(out_dir + "/config.json", std::ios::binary);
    f << cfg.dump(2) << "\n";
    QWEN3_CHECK(f.good(), "%s/config.json: cannot write", out_dir.c_str());
  }
  std::vector<std::pair<std::string, std::string>> metadata = {{"format", "pt"}};
  for (const auto& [k, v] : set.metadata)
    if (k != "format") metadata.emplace_back(k, v);
  // A weight's bytes and scales come from one pass over it; the scales wait for their tensor, next in order.
  std::vector<float> pending_scales;
  write_safetensors(out_dir + "/model.safetensors", out, metadata, [&](size_t i, uint8_t* dst) {
    const Item& it = items[i];
    if (it.fp8) {
      pending_scales.assign(
          static_cast<size_t>(((it.rows + kBlock - 1) / kBlock) * ((it.cols + kBlock - 1) / kBlock)), 0.0f);
      quantize_blocks(*it.src, it.rows, it.cols, dst, pending_scales.data());
    } else if (it.scale) {
      std::memcpy(dst, pending_scales.data(), pending_scales.size() * 4);
    } else {
      const StTensor& st = *it.src;
      const DType have = source_dtype(st);
      const int64_t n = static_cast<int64_t>(out[i].n_bytes / 2);
      if (have == DType::kBF16) {
        std::memcpy(dst, st.data, st.n_bytes);
      } else {
        std::vector<float> v(static_cast<size_t>(n));
        kernels::row_to_f32_rowmajor(have, st.data, n, v.data());
        for (int64_t k = 0; k < n; ++k) {
          const uint16_t h = f32_to_bf16(v[k]);
          std::memcpy(dst + 2 * k, &h, 2);
        }
      }
    }
  });
}

}  // namespace qwen3
