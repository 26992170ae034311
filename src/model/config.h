// config.json and generation_config.json of a Hugging Face Qwen3 checkpoint. Field names are config.json's.
// Every field the forward pass uses is read, never derived (head_dim above all: Qwen3's is not
// hidden_size / num_attention_heads for most sizes).
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace qwen3 {

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
  bool tie_word_embeddings = false;
  std::string torch_dtype;  // as stored ("bfloat16"), informational
  int bos_token_id = -1;
  std::vector<int> eos_token_ids;
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
