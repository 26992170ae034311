#include "model/config.h"

#include <algorithm>

#include <nlohmann/json.hpp>

#include "core/error.h"
#include "core/file.h"
#include "model/gguf_model.h"

namespace qwen3 {

using json = nlohmann::json;

static json parse_json_file(const std::string& text, const std::string& path) {
  try {
    json j = json::parse(text);
    QWEN3_CHECK(j.is_object(), "%s: not a JSON object", path.c_str());
    return j;
  } catch (const json::exception& e) {
    throw_error("%s: malformed JSON: %s", path.c_str(), e.what());
  }
}

static int get_positive_int(const json& j, const char* key, const std::string& path) {
  QWEN3_CHECK(j.contains(key), "%s: missing field \"%s\"", path.c_str(), key);
  const json& v = j[key];
  QWEN3_CHECK(v.is_number_integer() && v.get<int64_t>() > 0 && v.get<int64_t>() < (1ll << 31),
              "%s: field \"%s\" must be a positive integer", path.c_str(), key);
  return v.get<int>();
}

static std::vector<int> get_id_list(const json& v) {
  std::vector<int> ids;
  if (v.is_number_integer()) ids.push_back(v.get<int>());
  if (v.is_array())
    for (auto& x : v)
      if (x.is_number_integer()) ids.push_back(x.get<int>());
  return ids;
}

// rope_scaling as transformers reads it: "rope_type" (or the older "type"); for YaRN "factor" (required, >=
// 1), "original_max_position_embeddings", "beta_fast"/"beta_slow" (null or 0 take the defaults 32 and 1, as
// transformers' `or`), "attention_factor", "mscale"/"mscale_all_dim", "truncate".
static RopeScaling parse_rope_scaling(const json& rs, const std::string& path) {
  QWEN3_CHECK(rs.is_object(), "%s: field \"rope_scaling\" must be an object or null", path.c_str());
  RopeScaling r;
  const char* type_key = rs.contains("rope_type") ? "rope_type" : rs.contains("type") ? "type" : nullptr;
  QWEN3_CHECK(type_key && rs[type_key].is_string(), "%s: rope_scaling has no \"rope_type\"", path.c_str());
  r.rope_type = rs[type_key].get<std::string>();
  if (r.rope_type == "default") return r;
  QWEN3_CHECK(r.is_yarn(), "%s: unsupported rope_scaling rope_type \"%s\" (supported: \"yarn\", or none)",
              path.c_str(), r.rope_type.c_str());
  auto number = [&](const char* key, double& out, bool zero_is_default) {
    if (!rs.contains(key) || rs[key].is_null()) return;
    QWEN3_CHECK(rs[key].is_number() && rs[key].get<double>() >= 0,
                "%s: rope_scaling field \"%s\" must be a non-negative number", path.c_str(), key);
    if (rs[key].get<double>() != 0 || !zero_is_default) out = rs[key].get<double>();
  };
  QWEN3_CHECK(rs.contains("factor") && rs["factor"].is_number() && rs["factor"].get<double>() >= 1,
              "%s: YaRN rope_scaling needs \"factor\" >= 1", path.c_str());
  r.factor = rs["factor"].get<double>();
  if (rs.contains("original_max_position_embeddings") && !rs["original_max_position_embeddings"].is_null())
    r.original_max_position_embeddings = get_positive_int(rs, "original_max_position_embeddings", path);
  number("beta_fast", r.beta_fast, true);
  number("beta_slow", r.beta_slow, true);
  number("attention_factor", r.attention_factor, false);
  QWEN3_CHECK(!rs.contains("attention_factor") || rs["attention_factor"].is_null() || r.attention_factor > 0,
              "%s: rope_scaling field \"attention_factor\" must be positive", path.c_str());
  number("mscale", r.mscale, false);
  number("mscale_all_dim", r.mscale_all_dim, false);
  if (rs.contains("truncate")) {
    QWEN3_CHECK(rs["truncate"].is_boolean(), "%s: rope_scaling field \"truncate\" must be true or false",
                path.c_str());
    r.truncate = rs["truncate"].get<bool>();
  }
  return r;
}

int ModelConfig::max_context() const {
  if (!rope_scaling.is_yarn()) return max_position_embeddings;
  const int original = rope_scaling.original_max_position_embeddings > 0
                           ? rope_scaling.original_max_position_embeddings
                           : max_position_embeddings;
  const double extended = std::min(rope_scaling.factor * original, 2147483647.0);
  return std::max(max_position_embeddings, static_cast<int>(extended));
}

ModelConfig parse_model_config(const std::string& text, const std::string& path) {
  json j = parse_json_file(text, path);
  ModelConfig c;
  QWEN3_CHECK(j.contains("model_type") && j["model_type"].is_string(), "%s: missing field \"model_type\"",
              path.c_str());
  c.model_type = j["model_type"].get<std::string>();
  QWEN3_CHECK(c.model_type == "qwen3",
              "%s: unsupported model_type \"%s\" (this engine runs dense \"qwen3\" models)", path.c_str(),
              c.model_type.c_str());
  c.hidden_size = get_positive_int(j, "hidden_size", path);
  c.intermediate_size = get_positive_int(j, "intermediate_size", path);
  c.num_hidden_layers = get_positive_int(j, "num_hidden_layers", path);
  c.num_attention_heads = get_positive_int(j, "num_attention_heads", path);
  c.num_key_value_heads = get_positive_int(j, "num_key_value_heads", path);
  c.head_dim = get_positive_int(j, "head_dim", path);
  c.vocab_size = get_positive_int(j, "vocab_size", path);
  c.max_position_embeddings = get_positive_int(j, "max_position_embeddings", path);
  QWEN3_CHECK(c.num_attention_heads % c.num_key_value_heads == 0,
              "%s: num_attention_heads (%d) is not a multiple of num_key_value_heads (%d)", path.c_str(),
              c.num_attention_heads, c.num_key_value_heads);
  QWEN3_CHECK(c.head_dim % 2 == 0, "%s: head_dim (%d) must be even for rotary embeddings", path.c_str(),
              c.head_dim);
  if (j.contains("rms_norm_eps")) {
    QWEN3_CHECK(j["rms_norm_eps"].is_number() && j["rms_norm_eps"].get<double>() > 0,
                "%s: field \"rms_norm_eps\" must be a positive number", path.c_str());
    c.rms_norm_eps = j["rms_norm_eps"].get<double>();
  }
  if (j.contains("rope_theta")) {
    QWEN3_CHECK(j["rope_theta"].is_number() && j["rope_theta"].get<double>() > 1,
                "%s: field \"rope_theta\" must be a number > 1", path.c_str());
    c.rope_theta = j["rope_theta"].get<double>();
  }
  if (j.contains("rope_scaling") && !j["rope_scaling"].is_null())
    c.rope_scaling = parse_rope_scaling(j["rope_scaling"], path);
  if (j.contains("attention_bias")) {
    QWEN3_CHECK(!j["attention_bias"].is_boolean() || !j["attention_bias"].get<bool>(),
                "%s: unsupported attention_bias=true (no Qwen3 checkpoint uses it)", path.c_str());
  }
  if (j.contains("use_sliding_window")) {
    QWEN3_CHECK(!j["use_sliding_window"].is_boolean() || !j["use_sliding_window"].get<bool>(),
                "%s: unsupported use_sliding_window=true", path.c_str());
  }
  if (j.contains("hidden_act")) {
    QWEN3_CHECK(j["hidden_act"] == "silu", "%s: unsupported hidden_act %s (Qwen3 uses \"silu\")",
                path.c_str(), j["hidden_act"].dump().c_str());
  }
  c.tie_word_embeddings = j.value("tie_word_embeddings", false);
  c.torch_dtype =
      j.contains("torch_dtype") && j["torch_dtype"].is_string() ? j["torch_dtype"].get<std::string>() : "";
  if (j.contains("bos_token_id") && j["bos_token_id"].is_number_integer()) c.bos_token_id = j["bos_token_id"];
  if (j.contains("eos_token_id")) c.eos_token_ids = get_id_list(j["eos_token_id"]);
  return c;
}

ModelConfig load_model_config(const std::string& model_dir) {
  if (gguf::is_gguf_path(model_dir)) return gguf::read_config(gguf::read_file(model_dir));
  std::string path = model_dir + "/config.json";
  QWEN3_CHECK(file_exists(path), "%s: not found (is '%s' a Hugging Face model directory?)", path.c_str(),
              model_dir.c_str());
  return parse_model_config(read_text_file(path), path);
}

GenerationConfig load_generation_config(const std::string& model_dir, const ModelConfig& config) {
  GenerationConfig g;
  g.eos_token_ids = config.eos_token_ids;
  std::string path = model_dir + "/generation_config.json";
  if (!file_exists(path)) return g;
  json j = parse_json_file(read_text_file(path), path);
  if (j.contains("eos_token_id")) g.eos_token_ids = get_id_list(j["eos_token_id"]);
  if (j.contains("pad_token_id") && j["pad_token_id"].is_number_integer()) g.pad_token_id = j["pad_token_id"];
  auto num = [&](const char* key, float& out) {
    if (j.contains(key) && j[key].is_number()) out = j[key].get<float>();
  };
  if (j.contains("do_sample") && j["do_sample"].is_boolean()) g.do_sample = j["do_sample"];
  num("temperature", g.temperature);
  num("top_p", g.top_p);
  num("min_p", g.min_p);
  num("repetition_penalty", g.repetition_penalty);
  if (j.contains("top_k") && j["top_k"].is_number_integer()) g.top_k = j["top_k"];
  return g;
}

}  // namespace qwen3
