// Reading FP8 checkpoints (fp8.h): the quantization_config, and each F8_E4M3 weight with its scales made into
// the kernels' tiles.
#include "model/fp8.h"

#include <algorithm>
#include <cstring>
#include <vector>

#include <nlohmann/json.hpp>

#include "core/error.h"
#include "core/file.h"
#include "core/fp8.h"
#include "core/half.h"
#include "kernels/pack.h"

namespace qwen3 {

using json = nlohmann::json;

namespace {

// quant_method "fp8" (transformers' FineGrainedFP8Config, as Qwen's *-FP8 repos write it).
Fp8Scheme fine_grained(const json& q, const std::string& path) {
  Fp8Scheme s;
  s.method = "fp8";
  s.scale_suffix = "_scale_inv";
  const std::string fmt = q.value("fmt", std::string("e4m3"));
  QWEN3_CHECK(fmt == "e4m3", "%s: quantization_config fmt \"%s\" is not supported (FP8 weights must be e4m3)",
              path.c_str(), fmt.c_str());
  const std::string act = q.value("activation_scheme", std::string("dynamic"));
  QWEN3_CHECK(act == "dynamic",
              "%s: quantization_config activation_scheme \"%s\" is not supported (only \"dynamic\": "
              "activations are not quantised with stored scales)",
              path.c_str(), act.c_str());
  QWEN3_CHECK(q.contains("weight_block_size"),
              "%s: quantization_config has no weight_block_size (expected [128, 128])", path.c_str());
  const json& bs = q["weight_block_size"];
  QWEN3_CHECK(
      bs.is_array() && bs.size() == 2 && bs[0].is_number_integer() && bs[1].is_number_integer() &&
          bs[0].get<int64_t>() > 0 && bs[0].get<int64_t>() <= (1 << 20) && bs[1].get<int64_t>() == 128,
      "%s: quantization_config weight_block_size %s is not supported (blocks of 128 columns: [128, 128])",
      path.c_str(), bs.dump().c_str());
  s.block_rows = bs[0].get<int>();
  return s;
}

// quant_method "compressed-tensors" with 8-bit float weights (llm-compressor's FP8 and FP8_DYNAMIC schemes).
Fp8Scheme compressed_tensors(const json& q, const std::string& path) {
  Fp8Scheme s;
  s.method = "compressed-tensors";
  s.scale_suffix = "_scale";
  const std::string format = q.value("format", std::string("?"));
  QWEN3_CHECK(format == "float-quantized",
              "%s: compressed-tensors format \"%s\" is not supported (only \"float-quantized\": FP8 weights)",
              path.c_str(), format.c_str());
  QWEN3_CHECK(q.contains("config_groups") && q["config_groups"].is_object() && !q["config_groups"].empty(),
              "%s: compressed-tensors quantization_config has no config_groups", path.c_str());
  std::optional<std::string> strategy;
  for (auto& [name, g] : q["config_groups"].items()) {
    QWEN3_CHECK(g.is_object() && g.contains("weights") && g["weights"].is_object(),
                "%s: compressed-tensors group \"%s\" has no weights entry", path.c_str(), name.c_str());
    const json& w = g["weights"];
    const std::string type = w.value("type", std::string("?"));
    const int bits = w.value("num_bits", 0);
    QWEN3_CHECK(type == "float" && bits == 8,
                "%s: compressed-tensors group \"%s\": weights of type \"%s\" with %d bits are not supported "
                "(only 8-bit float, e4m3)",
                path.c_str(), name.c_str(), type.c_str(), bits);
    QWEN3_CHECK(w.value("symmetric", true) && !w.value("dynamic", false),
                "%s: compressed-tensors group \"%s\": only symmetric, static weight scales are supported",
                path.c_str(), name.c_str());
    const std::string st = w.value("strategy", std::string("?"));
    QWEN3_CHECK(
        st == "channel" || st == "tensor" || st == "block",
        "%s: compressed-tensors group \"%s\": weight strategy \"%s\" is not supported (channel, tensor "
        "or block)",
        path.c_str(), name.c_str(), st.c_str());
    QWEN3_CHECK(!strategy || *strategy == st,
                "%s: compressed-tensors groups mix weight strategies \"%s\" and \"%s\"", path.c_str(),
                strategy->c_str(), st.c_str());
    strategy = st;
    if (st == "block") {
      const json bs = w.value("block_structure", json());
      QWEN3_CHECK(bs.is_array() && bs.size() == 2 && bs[0].is_number_integer() && bs[1].is_number_integer() &&
                      bs[0].get<int64_t>() > 0 && bs[0].get<int64_t>() <= (1 << 20) &&
                      bs[1].get<int64_t>() == 128,
                  "%s: compressed-tensors block_structure %s is not supported (blocks of 128 columns)",
                  path.c_str(), bs.dump().c_str());
      s.block_rows = bs[0].get<int>();
    }
    if (g.contains("input_activations") && !g["input_activations"].is_null()) {
      const json& a = g["input_activations"];
      QWEN3_CHECK(a.is_object() && a.value("dynamic", false),
                  "%s: compressed-tensors group \"%s\": static input_activations scales are not supported "
                  "(only dynamic ones)",
                  path.c_str(), name.c_str());
    }
  }
  s.scale = *strategy == "channel"  ? Fp8Scheme::Scale::kChannel
            : *strategy == "tensor" ? Fp8Scheme::Scale::kTensor
                                    : Fp8Scheme::Scale::kBlock;
  return s;
}

}  // namespace

namespace {

json read_json(const std::string& path) {
  try {
    return json::parse(read_text_file(path));
  } catch (const json::exception& e) {
    throw_error("%s: malformed JSON: %s", path.c_str(), e.what());
  }
}

}  // namespace

bool read_quantization_config(const std::string& model_dir, json* out) {
  const std::string path = model_dir + "/config.json";
  if (!file_exists(path)) return false;
  json j = read_json(path);
  if (j.is_object() && j.contains("quantization_config") && !j["quantization_config"].is_null()) {
    *out = std::move(j["quantization_config"]);
    return true;
  }
  // Older repos keep it in a file of its own: AutoGPTQ's quantize_config.json, AutoAWQ's quant_config.json.
  for (const auto& [file, method] :
       {std::pair{"quantize_config.json", "gptq"}, {"quant_config.json", "awq"}}) {
    const std::string p = model_dir + "/" + file;
    if (!file_exists(p)) continue;
    json q = read_json(p);
    QWEN3_CHECK(q.is_object(), "%s: not a JSON object", p.c_str());
    if (!q.contains("quant_method")) q["quant_method"] = method;
    *out = std::move(q);
    return true;
  }
  return false;
}

std::optional<Fp8Scheme> read_fp8_scheme(const std::string& model_dir) {
  const std::string path = model_dir + "/config.json";
  json q;
  if (!read_quantization_config(model_dir, &q)) return std::nullopt;
  QWEN3_CHECK(q.is_object() && q.contains("quant_method") && q["quant_method"].is_string(),
              "%s: quantization_config has no quant_method", path.c_str());
  const std::string method = q["quant_method"].get<std::string>();
  if (method == "fp8") return fine_grained(q, path);
  if (method == "compressed-tensors") return compressed_tensors(q, path);
  if (method == "awq" || method == "gptq") return std::nullopt;  // model/int4_checkpoints.h
  throw_error(
      "%s: quantization_config quant_method \"%s\" is not supported (this engine reads FP8 checkpoints, "
      "\"fp8\" and compressed-tensors float-quantized, and 4-bit \"awq\" and \"gptq\" ones)",
      path.c_str(), method.c_str());
}

static std::string shape_str(const std::vector<int64_t>& shape) {
  std::string s;
  for (size_t i = 0; i < shape.size(); ++i) s += (i ? ", " : "") + std::to_string(shape[i]);
  return "[" + s + "]";
}

Tensor make_fp8_matrix(const Fp8Scheme& scheme, const StTensor& weight, const StTensor& scale, int64_t rows,
                       int64_t cols, DType want, uint8_t* out, ThreadPool* pool) {
  QWEN3_CHECK(scale.dtype != StDType::kOther,
              "%s: scale tensor '%s' has dtype %s; expected F32 (or BF16, F16)", scale.file.c_str(),
              scale.name.c_str(), scale.dtype_name.c_str());
  // The scale of (row r, column block b) is scales[(r / per_rows) * n_cols + b / per_cols].
  int64_t per_rows = 1, per_cols = 1, n_cols = 1;
  std::vector<int64_t> expected;
  const int64_t nb = (cols + kFp8Block - 1) / kFp8Block;
  switch (scheme.scale) {
    case Fp8Scheme::Scale::kBlock:
      per_rows = scheme.block_rows;
      n_cols = nb;  // block_cols is 128 (read_fp8_scheme)
      expected = {(rows + per_rows - 1) / per_rows, nb};
      break;
    case Fp8Scheme::Scale::kChannel:
      per_cols = nb;
      expected = {rows, 1};
      break;
    case Fp8Scheme::Scale::kTensor:
      per_rows = rows;
      per_cols = nb;
      expected = {1};
      break;
  }
  const bool shape_ok =
      scale.shape == expected ||
      (scheme.scale == Fp8Scheme::Scale::kChannel && scale.shape == std::vector<int64_t>{rows}) ||
      (scheme.scale == Fp8Scheme::Scale::kTensor && scale.shape.empty());
  QWEN3_CHECK(shape_ok,
              "%s: scale tensor '%s' has shape %s; weight '%s' [%lld, %lld] with %s scales needs %s",
              scale.file.c_str(), scale.name.c_str(), shape_str(scale.shape).c_str(), weight.name.c_str(),
              static_cast<long long>(rows), static_cast<long long>(cols), scheme.method.c_str(),
              shape_str(expected).c_str());
  const size_t n_scales = scale.n_bytes / (scale.dtype == StDType::kF32 ? 4 : 2);
  std::vector<float> scales(n_scales);
  for (size_t i = 0; i < n_scales; ++i) {
    if (scale.dtype == StDType::kF32) {
      std::memcpy(&scales[i], scale.data + 4 * i, 4);
    } else {
      uint16_t h;
      std::memcpy(&h, scale.data + 2 * i, 2);
      scales[i] = scale.dtype == StDType::kBF16 ? bf16_to_f32(h) : f16_to_f32(h);
    }
  }
  const Tensor t{want, rows, cols, out, true};  // tiled
  const size_t tile_bytes = dtype_tile_bytes(want, cols), row_bytes = dtype_row_bytes(want, cols);
  parallel_for(pool, t.n_tiles(), [&](int64_t i0, int64_t i1) {
    std::vector<BlockF8E4M3> fp8(static_cast<size_t>(nb) * kTileRows);
    std::vector<uint8_t> converted(row_bytes * kTileRows);
    std::vector<float> values(static_cast<size_t>(cols));
    const uint8_t* row_ptrs[kTileRows];
    for (int64_t i = i0; i < i1; ++i) {
      const int n = static_cast<int>(std::min<int64_t>(kTileRows, rows - i * kTileRows));
      for (int r = 0; r < n; ++r) {
        const int64_t row = i * kTileRows + r;
        BlockF8E4M3* blocks = fp8.data() + r * nb;
        for (int64_t b = 0; b < nb; ++b) {
          const int64_t m = std::min<int64_t>(kFp8Block, cols - b * kFp8Block);
          blocks[b].scale = scales[static_cast<size_t>((row / per_rows) * n_cols + b / per_cols)];
          std::memset(blocks[b].q, 0, kFp8Block);
          std::memcpy(blocks[b].q, weight.data + row * cols + b * kFp8Block, static_cast<size_t>(m));
        }
        if (want == DType::kF8E4M3) {
          row_ptrs[r] = reinterpret_cast<const uint8_t*>(blocks);
        } else {
          kernels::row_to_f32_rowmajor(DType::kF8E4M3, blocks, cols, values.data());
          kernels::row_from_f32(values.data(), cols, want, converted.data() + r * row_bytes);
          row_ptrs[r] = converted.data() + r * row_bytes;
        }
      }
      kernels::pack_tile(want, row_ptrs, n, cols, out + i * tile_bytes);
    }
  });
  // The file's copy is not read again: give its pages back now, so the model is never resident twice.
  drop_mapped_pages(weight.data, weight.n_bytes);
  return t;
}

}  // namespace qwen3
