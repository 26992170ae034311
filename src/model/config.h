// config.json and generation_config.json of a Hugging Face Qwen3 checkpoint. Field names are config.json's.
// Every field the forward pass uses is read, never derived (head_dim above all: Qwen3's is not
// hidden_size / num_attention_heads for most sizes).
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace qwen3 {

// config.json's rope_scaling, as transformers reads it (modeling_rope_utils.py). Only "default" (none) and
// "yarn" are supported; model/rope.h turns it into inverse frequencies and the attention scaling.
struct RopeScaling {
  std::string rope_type = "default";         // "default" | "yarn" ("rope_type", or the older "type")
  double factor = 1.0;                       // context extension factor s
  int original_max_position_embeddings = 0;  // the pre-training context; 0: max_position_embeddings
  double beta_fast = 32.0, beta_slow = 1.0;  // rotations bounding the interpolation ramp
  double attention_factor = 0.0;             // 0: derived from factor (and mscale, mscale_all_dim)
  double mscale = 0.0, mscale_all_dim = 0.0;
  bool truncate = true;  // floor/ceil the ramp bounds to whole dimensions
  bool is_yarn() const { return rope_type == "yarn"; }
};

struct ModelConfig {
  std::string model_type;  // "qwen3"
  int hidden_size = 0;
  int intermediate_size = 0;
  int num_hidden_layers = 0;
  int num_attention_heads = 0;
  int num_key_value_heads = 0;
  int head_dim = 0;
  int vocab_size = 0;
  int max_position_embeddings = 0;
  double rms_norm_eps = 1e-6;
  double rope_theta = 1e6;
  RopeScaling rope_scaling;
  bool tie_word_embeddings = false;
  std::string torch_dtype;  // as stored ("bfloat16"), informational
  int bos_token_id = -1;
  std::vector<int> eos_token_ids;

  // The longest context the model is run at: max_position_embeddings, or with YaRN the extended context
  // factor x original_max_position_embeddings when that is longer (vLLM's rule; Qwen3 with factor 4 over
  // 32,768: 131,072).
  int max_context() const;
};

struct GenerationConfig {
  std::vector<int> eos_token_ids;
  int pad_token_id = -1;
  bool do_sample = false;
  float temperature = 1.0f;
  int top_k = 50;
  float top_p = 1.0f;
  float min_p = 0.0f;
  float repetition_penalty = 1.0f;
};

// Parses config.json text; `path` names the file in error messages.
ModelConfig parse_model_config(const std::string& text, const std::string& path);
// config.json of a model directory, or the config a .gguf file's keys give (model/gguf_model.h).
ModelConfig load_model_config(const std::string& model_dir);
// A missing generation_config.json gives the defaults (plus the config's EOS ids).
GenerationConfig load_generation_config(const std::string& model_dir, const ModelConfig& config);

}  // namespace qwen3
