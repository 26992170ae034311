// Loading LoRA adapters: PEFT's adapter directories and llama.cpp's GGUF adapters (model/lora.h).
#include "model/lora.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <map>
#include <optional>
#include <regex>
#include <set>

#include "core/error.h"
#include "core/half.h"
#include "core/json.h"
#include "core/log.h"
#include "formats/gguf_reader.h"
#include "formats/safetensors.h"
#include "kernels/pack.h"

namespace qwen3 {

namespace fs = std::filesystem;
using ojson = nlohmann::ordered_json;

namespace {

constexpr const char* kTargetNames[kLoraTargets] = {"q_proj",    "k_proj",  "v_proj",   "o_proj",
                                                    "gate_proj", "up_proj", "down_proj"};
constexpr const char* kTargetPaths[kLoraTargets] = {
    "self_attn.q_proj", "self_attn.k_proj", "self_attn.v_proj", "self_attn.o_proj",
    "mlp.gate_proj",    "mlp.up_proj",      "mlp.down_proj"};
// llama.cpp's GGUF names of the same projections (blk.N.<name>.weight.lora_a).
constexpr const char* kGgufNames[kLoraTargets] = {"attn_q",   "attn_k", "attn_v",  "attn_output",
                                                  "ffn_gate", "ffn_up", "ffn_down"};

// A row-major matrix read from a file, before packing.
struct RawMatrix {
  DType dtype = DType::kF32;  // f32, f16, bf16 values (or GGUF blocks)
  const uint8_t* data = nullptr;
  int64_t rows = 0, cols = 0;
};

// Packs a row-major matrix into tiles owned by the adapter: bf16 and f16 values as they are stored (widening
// them to f32 in the kernels is exact, and decode reads half the bytes); anything else as f32, or rounded to
// bf16 (nearest even) when `to_bf16` (load_lora_adapter's f32_as_bf16).
Tensor pack_matrix(LoraAdapter& ad, const RawMatrix& m, bool to_bf16) {
  Tensor t;
  t.dtype = m.dtype == DType::kBF16 || m.dtype == DType::kF16 ? m.dtype
            : to_bf16                                         ? DType::kBF16
                                                              : DType::kF32;
  t.rows = m.rows;
  t.cols = m.cols;
  t.tiled = true;
  const size_t row_bytes = dtype_row_bytes(m.dtype, m.cols), tile_bytes = dtype_tile_bytes(t.dtype, m.cols);
  AlignedPtr<float> buf = aligned_array<float>((tile_bytes * static_cast<size_t>(t.n_tiles()) + 3) / 4);
  std::vector<float> rows(static_cast<size_t>(kTileRows) * static_cast<size_t>(m.cols));
  std::vector<uint16_t> rows16(t.dtype == DType::kBF16 && m.dtype != DType::kBF16 ? rows.size() : 0);
  for (int64_t ti = 0; ti < t.n_tiles(); ++ti) {
    const int n = static_cast<int>(std::min<int64_t>(kTileRows, m.rows - ti * kTileRows));
    const uint8_t* ptrs[kTileRows];
    for (int r = 0; r < n; ++r) {
      const uint8_t* src = m.data + row_bytes * static_cast<size_t>(ti * kTileRows + r);
      if (t.dtype == m.dtype) {
        ptrs[r] = src;
        continue;
      }
      float* dst = rows.data() + static_cast<size_t>(r) * m.cols;
      kernels::row_to_f32_rowmajor(m.dtype, src, m.cols, dst);
      ptrs[r] = reinterpret_cast<const uint8_t*>(dst);
      if (t.dtype == DType::kBF16) {
        uint16_t* d16 = rows16.data() + static_cast<size_t>(r) * m.cols;
        for (int64_t c = 0; c < m.cols; ++c) d16[c] = f32_to_bf16(dst[c]);
        ptrs[r] = reinterpret_cast<const uint8_t*>(d16);
      }
    }
    kernels::pack_tile(t.dtype, ptrs, n, m.cols,
                       reinterpret_cast<uint8_t*>(buf.get()) + tile_bytes * static_cast<size_t>(ti));
  }
  t.data = buf.get();
  ad.bytes += t.bytes();
  ad.owned.push_back(std::move(buf));
  return t;
}

// Checks A [rank, in] and B [out, rank] against the base model's projection and packs them (f32 ones as bf16
// when to_bf16).
void add_matrix(LoraAdapter& ad, const ModelConfig& c, const std::string& file, int il, int t,
                const RawMatrix& a, const RawMatrix& b, int rank, float scale, bool to_bf16) {
  const auto [out, in] = lora_target_shape(c, t);
  const std::string what = "model.layers." + std::to_string(il) + "." + kTargetPaths[t];
  QWEN3_CHECK(a.cols == in,
              "%s: lora_A of %s is [%lld, %lld] but the base model's %s takes %lld inputs (an "
              "adapter for another model?)",
              file.c_str(), what.c_str(), static_cast<long long>(a.rows), static_cast<long long>(a.cols),
              kTargetNames[t], static_cast<long long>(in));
  QWEN3_CHECK(b.rows == out,
              "%s: lora_B of %s is [%lld, %lld] but the base model's %s has %lld outputs (an "
              "adapter for another model?)",
              file.c_str(), what.c_str(), static_cast<long long>(b.rows), static_cast<long long>(b.cols),
              kTargetNames[t], static_cast<long long>(out));
  QWEN3_CHECK(a.rows == b.cols, "%s: %s: lora_A has rank %lld but lora_B has rank %lld", file.c_str(),
              what.c_str(), static_cast<long long>(a.rows), static_cast<long long>(b.cols));
  QWEN3_CHECK(a.rows >= 1 && a.rows <= 4096, "%s: %s: rank %lld is outside [1, 4096]", file.c_str(),
              what.c_str(), static_cast<long long>(a.rows));
  QWEN3_CHECK(rank <= 0 || a.rows == rank,
              "%s: %s: the tensors have rank %lld but adapter_config.json says %d", file.c_str(),
              what.c_str(), static_cast<long long>(a.rows), rank);
  QWEN3_CHECK(std::isfinite(scale), "%s: %s: the scale is not a finite number", file.c_str(), what.c_str());
  LoraMatrix& m = ad.layers[il][t];
  m.rank = static_cast<int>(a.rows);
  m.scale = scale;
  m.a = pack_matrix(ad, a, to_bf16);
  m.b = pack_matrix(ad, b, to_bf16);
  ++ad.n_matrices;
  ad.max_rank = std::max(ad.max_rank, m.rank);
}

// ---- PEFT ----------------------------------------------------------------------------------------------

// Python's re.fullmatch / re.match(rf"(.*\.)?{p}$") with ECMAScript regexes (the patterns PEFT configs hold
// are plain alternations and wildcards, which both dialects read alike).
std::regex make_regex(const std::string& pattern, const std::string& file, const char* field) {
  try {
    return std::regex(pattern, std::regex::ECMAScript);
  } catch (const std::regex_error& e) {
    throw_error("%s: %s: \"%s\" is not a valid regular expression (%s)", file.c_str(), field, pattern.c_str(),
                e.what());
  }
}

struct PeftConfig {
  int r = 8;
  double alpha = 8;
  bool rslora = false;
  bool all_linear = false;
  std::optional<std::regex> target_regex;
  std::vector<std::string> target_list;
  std::optional<std::set<int>> layers;
  std::vector<std::pair<std::regex, int>> rank_pattern;
  std::vector<std::pair<std::regex, double>> alpha_pattern;
  bool save_embed = false, save_lm_head = false;  // modules_to_save
};

PeftConfig read_peft_config(const std::string& path) {
  ojson j;
  try {
    j = parse_json(read_text_file(path));
  } catch (const Error& e) {
    throw_error("%s: %s", path.c_str(), e.what());
  }
  QWEN3_CHECK(j.is_object(), "%s: not a JSON object", path.c_str());
  auto has = [&](const char* k) { return j.contains(k) && !j[k].is_null(); };
  if (has("peft_type"))
    QWEN3_CHECK(j["peft_type"] == "LORA", "%s: peft_type %s: only LORA adapters are supported", path.c_str(),
                j["peft_type"].dump().c_str());
  QWEN3_CHECK(
      !has("use_dora") || j["use_dora"] == false,
      "%s: use_dora: DoRA adapters are not supported (merge it with PEFT's merge_and_unload, or train a "
      "plain LoRA)",
      path.c_str());
  QWEN3_CHECK(!has("bias") || j["bias"] == "none",
              "%s: bias %s: only adapters without bias terms (\"none\") are supported", path.c_str(),
              j["bias"].dump().c_str());
  PeftConfig c;
  if (has("modules_to_save")) {
    QWEN3_CHECK(j["modules_to_save"].is_array(), "%s: modules_to_save must be a list of module names",
                path.c_str());
    for (const auto& v : j["modules_to_save"]) {
      const std::string m = v.is_string() ? v.get<std::string>() : v.dump();
      if (m == "lm_head")
        c.save_lm_head = true;
      else if (m == "embed_tokens" || m == "model.embed_tokens")
        c.save_embed = true;
      else
        throw_error(
            "%s: modules_to_save \"%s\": only lm_head and embed_tokens can be replaced whole (a "
            "classifier head or a norm cannot)",
            path.c_str(), m.c_str());
    }
  }
  for (const char* k : {"lora_bias", "use_qalora"})
    QWEN3_CHECK(!has(k) || j[k] == false, "%s: %s: not supported", path.c_str(), k);
  if (has("fan_in_fan_out") && j["fan_in_fan_out"] == true)
    // PEFT itself turns it off for nn.Linear (Qwen3's projections) with a warning; the saved tensors are
    // [r, in] and [out, r] either way.
    QWEN3_LOG_WARN(
        "%s: fan_in_fan_out is for GPT-2's Conv1D; Qwen3's projections are nn.Linear (ignored, as "
        "PEFT does)",
        path.c_str());
  if (has("r")) {
    QWEN3_CHECK(j["r"].is_number_integer() && j["r"].get<int64_t>() > 0 && j["r"].get<int64_t>() <= 4096,
                "%s: r must be a positive integer", path.c_str());
    c.r = j["r"].get<int>();
  }
  c.alpha = c.r;
  if (has("lora_alpha")) {
    QWEN3_CHECK(j["lora_alpha"].is_number(), "%s: lora_alpha must be a number", path.c_str());
    c.alpha = j["lora_alpha"].get<double>();
  }
  if (has("use_rslora")) {
    QWEN3_CHECK(j["use_rslora"].is_boolean(), "%s: use_rslora must be true or false", path.c_str());
    c.rslora = j["use_rslora"].get<bool>();
  }
  QWEN3_CHECK(has("target_modules"), "%s: missing field \"target_modules\"", path.c_str());
  const ojson& tm = j["target_modules"];
  if (tm.is_string() && tm == "all-linear") {
    c.all_linear = true;
  } else if (tm.is_string()) {
    c.target_regex = make_regex(tm.get<std::string>(), path, "target_modules");
  } else {
    QWEN3_CHECK(tm.is_array() && !tm.empty(), "%s: target_modules must be a list of module names or a string",
                path.c_str());
    for (const auto& v : tm) {
      QWEN3_CHECK(v.is_string(), "%s: target_modules must hold module names", path.c_str());
      c.target_list.push_back(v.get<std::string>());
    }
  }
  if (has("layers_to_transform")) {
    const ojson& l = j["layers_to_transform"];
    c.layers.emplace();
    auto add = [&](const ojson& v) {
      QWEN3_CHECK(v.is_number_integer() && v.get<int64_t>() >= 0,
                  "%s: layers_to_transform must hold layer "
                  "indices",
                  path.c_str());
      c.layers->insert(v.get<int>());
    };
    if (l.is_array())
      for (const auto& v : l) add(v);
    else
      add(l);
  }
  for (const char* field : {"rank_pattern", "alpha_pattern"}) {
    if (!has(field)) continue;
    QWEN3_CHECK(j[field].is_object(), "%s: %s must be an object", path.c_str(), field);
    for (const auto& [k, v] : j[field].items()) {
      QWEN3_CHECK(v.is_number() && v.get<double>() > 0, "%s: %s[\"%s\"] must be a positive number",
                  path.c_str(), field, k.c_str());
      // PEFT: re.match(rf"(.*\.)?{key}$", module name): the first key that matches, in the file's order.
      std::regex re = make_regex("^(.*\\.)?" + k + "$", path, field);
      if (std::string(field) == "rank_pattern") {
        QWEN3_CHECK(v.is_number_integer(), "%s: rank_pattern[\"%s\"] must be an integer", path.c_str(),
                    k.c_str());
        c.rank_pattern.emplace_back(std::move(re), v.get<int>());
      } else {
        c.alpha_pattern.emplace_back(std::move(re), v.get<double>());
      }
    }
  }
  return c;
}

// Whether PEFT would adapt the module named `name` (e.g. "model.layers.3.self_attn.q_proj") of layer il.
bool peft_targets(const PeftConfig& c, const std::string& name, int il, int t) {
  (void)t;
  if (c.layers && !c.layers->count(il)) return false;
  if (c.all_linear) return true;
  if (c.target_regex) return std::regex_match(name, *c.target_regex);
  for (const auto& m : c.target_list)
    if (name == m || name.ends_with("." + m)) return true;
  return false;
}

std::shared_ptr<const LoraAdapter> load_peft(const std::string& dir, const ModelConfig& mc,
                                             bool f32_as_bf16) {
  const std::string config_path = (fs::path(dir) / "adapter_config.json").string();
  std::string st_path = (fs::path(dir) / "adapter_model.safetensors").string();
  QWEN3_CHECK(file_exists(config_path), "%s: no adapter_config.json (not a PEFT adapter directory)",
              dir.c_str());
  QWEN3_CHECK(file_exists(st_path), "%s: no adapter_model.safetensors%s", dir.c_str(),
              file_exists((fs::path(dir) / "adapter_model.bin").string())
                  ? " (adapter_model.bin is PyTorch's pickle format: save with safe_serialization=True)"
                  : "");
  const PeftConfig c = read_peft_config(config_path);
  SafetensorsSet set;
  parse_safetensors(FileBuffer::open(st_path, MapMode::kRead), set);

  // Every target_modules name must name one of Qwen3's projections (PEFT refuses such a config too).
  for (const auto& m : c.target_list) {
    bool known = false;
    for (int t = 0; t < kLoraTargets && !known; ++t) {
      const std::string name = std::string("model.layers.0.") + kTargetPaths[t];
      known = name == m || name.ends_with("." + m);
    }
    QWEN3_CHECK(known,
                "%s: target module \"%s\" is not a projection of Qwen3 (q_proj, k_proj, v_proj, o_proj, "
                "gate_proj, up_proj, down_proj)",
                config_path.c_str(), m.c_str());
  }
  if (c.layers)
    for (int il : *c.layers)
      QWEN3_CHECK(il < mc.num_hidden_layers,
                  "%s: layers_to_transform names layer %d but the base model has %d", config_path.c_str(), il,
                  mc.num_hidden_layers);

  // The file's tensors: base_model.model.model.layers.N.<path>.lora_{A,B}.weight, and the replaced modules'
  // weights (PEFT saves modules_to_save without its wrapper's names), nothing else.
  std::map<std::pair<int, int>, std::pair<const StTensor*, const StTensor*>> found;
  static const std::regex kName(
      R"(base_model\.model\.model\.layers\.(\d+)\.(self_attn|mlp)\.(\w+)\.lora_([AB])\.weight)");
  static const char* const kEmbedName = "base_model.model.model.embed_tokens.weight";
  static const char* const kHeadName = "base_model.model.lm_head.weight";
  const StTensor *embed = nullptr, *head = nullptr;
  for (const auto& [name, t] : set.tensors) {
    std::smatch m;
    if (name == kEmbedName || name == kHeadName) {
      const bool is_embed = name == kEmbedName;
      QWEN3_CHECK(is_embed ? c.save_embed : c.save_lm_head,
                  "%s: has tensor %s but adapter_config.json's modules_to_save does not list %s",
                  st_path.c_str(), name.c_str(), is_embed ? "embed_tokens" : "lm_head");
      QWEN3_CHECK(t.shape.size() == 2 && t.shape[0] == mc.vocab_size && t.shape[1] == mc.hidden_size,
                  "%s: tensor %s is [%lld, %lld] but the base model's is [%d, %d] (an adapter for another "
                  "model?)",
                  st_path.c_str(), name.c_str(), static_cast<long long>(t.shape.empty() ? 0 : t.shape[0]),
                  static_cast<long long>(t.shape.size() < 2 ? 0 : t.shape[1]), mc.vocab_size, mc.hidden_size);
      QWEN3_CHECK(value_dtype(t.dtype).has_value(), "%s: tensor %s has dtype %s; F32, F16 or BF16 expected",
                  st_path.c_str(), name.c_str(), t.dtype_name.c_str());
      (is_embed ? embed : head) = &t;
      continue;
    }
    QWEN3_CHECK(!name.ends_with("lora_magnitude_vector") && !name.ends_with("lora_magnitude_vector.weight"),
                "%s: %s: DoRA adapters are not supported", st_path.c_str(), name.c_str());
    QWEN3_CHECK(std::regex_match(name, m, kName),
                "%s: tensor %s is not the LoRA matrix of a Qwen3 projection (expected base_model.model.model."
                "layers.N.self_attn.q_proj.lora_A.weight and the like)",
                st_path.c_str(), name.c_str());
    const int il = std::atoi(m[1].str().c_str());
    QWEN3_CHECK(m[1].length() < 6 && il < mc.num_hidden_layers,
                "%s: tensor %s is for layer %s but the base model has %d layers", st_path.c_str(),
                name.c_str(), m[1].str().c_str(), mc.num_hidden_layers);
    const std::string path = m[2].str() + "." + m[3].str();
    int target = -1;
    for (int k = 0; k < kLoraTargets; ++k)
      if (path == kTargetPaths[k]) target = k;
    QWEN3_CHECK(target >= 0, "%s: tensor %s adapts %s, which is not a projection of Qwen3", st_path.c_str(),
                name.c_str(), path.c_str());
    QWEN3_CHECK(t.shape.size() == 2, "%s: tensor %s is not a matrix", st_path.c_str(), name.c_str());
    QWEN3_CHECK(value_dtype(t.dtype).has_value(), "%s: tensor %s has dtype %s; F32, F16 or BF16 expected",
                st_path.c_str(), name.c_str(), t.dtype_name.c_str());
    auto& slot = found[{il, target}];
    (m[4] == "A" ? slot.first : slot.second) = &t;
  }

  QWEN3_CHECK(!c.save_embed || embed, "%s: missing tensor %s (modules_to_save lists embed_tokens)",
              st_path.c_str(), kEmbedName);
  QWEN3_CHECK(!c.save_lm_head || head, "%s: missing tensor %s (modules_to_save lists lm_head)",
              st_path.c_str(), kHeadName);

  auto ad = std::make_shared<LoraAdapter>();
  ad->path = dir;
  ad->layers.resize(mc.num_hidden_layers);
  auto raw = [](const StTensor& t) {
    return RawMatrix{*value_dtype(t.dtype), t.data, t.shape[0], t.shape[1]};
  };
  if (embed) {  // row-major, as the file stores it: one row per token looked up
    Tensor& e = ad->embed_tokens;
    e.dtype = *value_dtype(embed->dtype);
    e.rows = embed->shape[0];
    e.cols = embed->shape[1];
    AlignedPtr<float> buf = aligned_array<float>((embed->n_bytes + 3) / 4);
    std::memcpy(buf.get(), embed->data, embed->n_bytes);
    e.data = buf.get();
    ad->bytes += e.bytes();
    ad->owned.push_back(std::move(buf));
    ++ad->n_matrices;
  }
  if (head) {
    ad->lm_head = pack_matrix(*ad, raw(*head), false);  // a whole tensor: as the file has it
    ++ad->n_matrices;
  }
  for (int il = 0; il < mc.num_hidden_layers; ++il) {
    for (int t = 0; t < kLoraTargets; ++t) {
      const std::string name = "model.layers." + std::to_string(il) + "." + kTargetPaths[t];
      const bool targeted = peft_targets(c, name, il, t);
      auto it = found.find({il, t});
      if (!targeted) {
        QWEN3_CHECK(it == found.end(),
                    "%s: has LoRA tensors for %s, which adapter_config.json's target_modules "
                    "and layers_to_transform do not select",
                    st_path.c_str(), name.c_str());
        continue;
      }
      QWEN3_CHECK(it != found.end() && it->second.first && it->second.second,
                  "%s: missing tensor base_model.model.%s.lora_%s.weight (adapter_config.json targets it)",
                  st_path.c_str(), name.c_str(), it == found.end() || !it->second.first ? "A" : "B");
      int rank = c.r;
      double alpha = c.alpha;
      for (const auto& [re, v] : c.rank_pattern)
        if (std::regex_search(name, re)) {
          rank = v;
          break;
        }
      for (const auto& [re, v] : c.alpha_pattern)
        if (std::regex_search(name, re)) {
          alpha = v;
          break;
        }
      const double scale = c.rslora ? alpha / std::sqrt(static_cast<double>(rank)) : alpha / rank;
      add_matrix(*ad, mc, st_path, il, t, raw(*it->second.first), raw(*it->second.second), rank,
                 static_cast<float>(scale), f32_as_bf16);
    }
  }
  QWEN3_CHECK(ad->n_matrices > 0, "%s: the adapter adapts no projection", dir.c_str());
  return ad;
}

// ---- llama.cpp GGUF ------------------------------------------------------------------------------------

std::shared_ptr<const LoraAdapter> load_gguf_lora(const std::string& path, const ModelConfig& mc,
                                                  bool f32_as_bf16) {
  gguf::File f = gguf::read_file(path, MapMode::kRead);
  QWEN3_CHECK(f.has("general.type") && f.get_str("general.type") == "adapter",
              "%s: not a LoRA adapter (general.type is %s; a model is loaded with -m)", path.c_str(),
              f.has("general.type") ? f.get_str("general.type").c_str() : "missing");
  QWEN3_CHECK(f.has("adapter.type") && f.get_str("adapter.type") == "lora",
              "%s: adapter.type %s: only LoRA "
              "adapters are supported",
              path.c_str(), f.has("adapter.type") ? f.get_str("adapter.type").c_str() : "missing");
  if (f.has("general.architecture"))
    QWEN3_CHECK(f.get_str("general.architecture") == "qwen3", "%s: an adapter for architecture %s, not qwen3",
                path.c_str(), f.get_str("general.architecture").c_str());
  const double alpha = f.get_f64("adapter.lora.alpha", 0);
  std::map<std::pair<int, int>, std::pair<const gguf::TensorInfo*, const gguf::TensorInfo*>> found;
  static const std::regex kName(R"(blk\.(\d+)\.(\w+)\.weight\.lora_([ab]))");
  for (const auto& t : f.tensors) {
    std::smatch m;
    QWEN3_CHECK(std::regex_match(t.name, m, kName),
                "%s: tensor %s is not the LoRA matrix of a Qwen3 projection "
                "(expected blk.N.attn_q.weight.lora_a and the like)",
                path.c_str(), t.name.c_str());
    const int il = std::atoi(m[1].str().c_str());
    QWEN3_CHECK(m[1].length() < 6 && il < mc.num_hidden_layers,
                "%s: tensor %s is for layer %s but the base model has %d layers", path.c_str(),
                t.name.c_str(), m[1].str().c_str(), mc.num_hidden_layers);
    int target = -1;
    for (int k = 0; k < kLoraTargets; ++k)
      if (m[2] == kGgufNames[k]) target = k;
    QWEN3_CHECK(target >= 0, "%s: tensor %s adapts %s, which is not a projection of Qwen3", path.c_str(),
                t.name.c_str(), m[2].str().c_str());
    QWEN3_CHECK(t.ne.size() == 2, "%s: tensor %s is not a matrix", path.c_str(), t.name.c_str());
    auto dt = gguf::dtype_of_ggml(t.type);
    QWEN3_CHECK(dt.has_value() && t.n_bytes > 0, "%s: tensor %s has a type this engine cannot read",
                path.c_str(), t.name.c_str());
    QWEN3_CHECK(t.ne[0] % dtype_block_values(*dt) == 0, "%s: tensor %s: quantised rows must be whole blocks",
                path.c_str(), t.name.c_str());
    auto& slot = found[{il, target}];
    (m[3] == "a" ? slot.first : slot.second) = &t;
  }
  auto ad = std::make_shared<LoraAdapter>();
  ad->path = path;
  ad->layers.resize(mc.num_hidden_layers);
  auto raw = [](const gguf::TensorInfo& t) {
    return RawMatrix{*gguf::dtype_of_ggml(t.type), t.data, t.ne[1], t.ne[0]};  // ne: innermost first
  };
  for (const auto& [key, pair] : found) {
    const auto [il, t] = key;
    QWEN3_CHECK(pair.first && pair.second, "%s: missing tensor blk.%d.%s.weight.lora_%s", path.c_str(), il,
                kGgufNames[t], pair.first ? "b" : "a");
    // llama.cpp: scale = alpha / rank, or 1 when the file gives no alpha.
    const double rank = static_cast<double>(pair.first->ne[1]);
    add_matrix(*ad, mc, path, il, t, raw(*pair.first), raw(*pair.second), 0,
               static_cast<float>(alpha > 0 ? alpha / rank : 1.0), f32_as_bf16);
  }
  QWEN3_CHECK(ad->n_matrices > 0, "%s: the adapter adapts no projection", path.c_str());
  return ad;
}

}  // namespace

const char* lora_target_name(int target) {
  return kTargetNames[target];
}

const char* lora_target_path(int target) {
  return kTargetPaths[target];
}

std::pair<int64_t, int64_t> lora_target_shape(const ModelConfig& c, int t) {
  const int64_t h = c.hidden_size, q = int64_t{c.num_attention_heads} * c.head_dim,
                kv = int64_t{c.num_key_value_heads} * c.head_dim, ff = c.intermediate_size;
  switch (t) {
    case kLoraQ:
      return {q, h};
    case kLoraK:
    case kLoraV:
      return {kv, h};
    case kLoraO:
      return {h, q};
    case kLoraGate:
    case kLoraUp:
      return {ff, h};
    default:
      return {h, ff};
  }
}

std::shared_ptr<const LoraAdapter> load_lora_adapter(const std::string& path, const ModelConfig& config,
                                                     bool f32_as_bf16) {
  QWEN3_CHECK(fs::exists(path), "%s: no such adapter directory or file", path.c_str());
  if (fs::is_directory(path)) return load_peft(path, config, f32_as_bf16);
  QWEN3_CHECK(gguf::is_gguf_path(path), "%s: not a PEFT adapter directory nor a .gguf LoRA adapter",
              path.c_str());
  return load_gguf_lora(path, config, f32_as_bf16);
}

bool lora_target_of(const std::string& hf_name, int* il, int* target) {
  static const std::regex kName(R"(model\.layers\.(\d{1,5})\.(self_attn|mlp)\.(\w+)\.weight)");
  std::smatch m;
  if (!std::regex_match(hf_name, m, kName)) return false;
  const std::string path = m[2].str() + "." + m[3].str();
  for (int k = 0; k < kLoraTargets; ++k)
    if (path == kTargetPaths[k]) {
      *il = std::atoi(m[1].str().c_str());
      *target = k;
      return true;
    }
  return false;
}

std::vector<float> lora_delta(const LoraStack& stack, int il, int target) {
  std::vector<float> delta;
  for (const auto& [ad, mult] : stack.parts) {
    if (il >= static_cast<int>(ad->layers.size())) continue;
    const LoraMatrix* lm = ad->find(il, target);
    if (!lm) continue;
    const int64_t out = lm->b.rows, in = lm->a.cols, r = lm->rank;
    if (delta.empty()) delta.assign(static_cast<size_t>(out * in), 0.0f);
    std::vector<float> a(static_cast<size_t>(r * in)), b(static_cast<size_t>(r));
    for (int64_t k = 0; k < r; ++k) kernels::tiled_row_to_f32(lm->a, k, a.data() + k * in);
    std::vector<double> row(static_cast<size_t>(in));
    for (int64_t o = 0; o < out; ++o) {  // in double, rounded once: m s (B A)[o, :]
      kernels::tiled_row_to_f32(lm->b, o, b.data());
      std::fill(row.begin(), row.end(), 0.0);
      for (int64_t k = 0; k < r; ++k)
        for (int64_t i = 0; i < in; ++i) row[i] += static_cast<double>(b[k]) * a[k * in + i];
      const double s = static_cast<double>(mult) * lm->scale;
      for (int64_t i = 0; i < in; ++i) delta[o * in + i] += static_cast<float>(s * row[i]);
    }
  }
  return delta;
}

void LoraStack::add(std::shared_ptr<const LoraAdapter> adapter, float multiplier) {
  if (!key.empty()) key += '\n';
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.9g", multiplier);
  // The object's address too: the same path reloaded after a change on disk is another adapter.
  std::snprintf(buf + std::strlen(buf), sizeof buf - std::strlen(buf), "@%p",
                static_cast<const void*>(adapter.get()));
  for (const auto& [other, m] : parts) {
    QWEN3_CHECK(!(adapter->embed_tokens.data && other->embed_tokens.data),
                "--lora %s: %s also replaces embed_tokens (modules_to_save): stack at most one such adapter",
                adapter->path.c_str(), other->path.c_str());
    QWEN3_CHECK(!(adapter->lm_head.data && other->lm_head.data),
                "--lora %s: %s also replaces lm_head (modules_to_save): stack at most one such adapter",
                adapter->path.c_str(), other->path.c_str());
  }
  key += adapter->path + ":" + buf;
  parts.emplace_back(std::move(adapter), multiplier);
}

const Tensor* LoraStack::embed_tokens() const {
  for (const auto& [ad, m] : parts)
    if (ad->embed_tokens.data) return &ad->embed_tokens;
  return nullptr;
}

const Tensor* LoraStack::lm_head() const {
  for (const auto& [ad, m] : parts)
    if (ad->lm_head.data) return &ad->lm_head;
  return nullptr;
}

LoraDtype parse_lora_dtype(const std::string& s) {
  if (s == "auto") return LoraDtype::kAuto;
  if (s == "file") return LoraDtype::kFile;
  if (s == "bf16") return LoraDtype::kBF16;
  throw_error("--lora-dtype %s: choose auto, file or bf16", s.c_str());
}

LoraSpec parse_lora_spec(const std::string& value) {
  LoraSpec s;
  std::string v = value;
  const size_t eq = v.find('=');
  if (eq != std::string::npos && v.find('/') > eq) {
    s.name = v.substr(0, eq);
    v = v.substr(eq + 1);
    QWEN3_CHECK(!s.name.empty(), "--lora %s: the name before '=' is empty", value.c_str());
  }
  const size_t colon = v.rfind(':');
  if (colon != std::string::npos) {
    const std::string num = v.substr(colon + 1);
    char* end = nullptr;
    const float f = std::strtof(num.c_str(), &end);
    if (!num.empty() && end == num.c_str() + num.size()) {
      QWEN3_CHECK(std::isfinite(f), "--lora %s: the scale must be a finite number", value.c_str());
      s.scale = f;
      v = v.substr(0, colon);
    }
  }
  QWEN3_CHECK(!v.empty(), "--lora %s: no adapter path", value.c_str());
  s.path = v;
  return s;
}

}  // namespace qwen3
