#include "model/model.h"

#include <cmath>

#include <nlohmann/json.hpp>

#include "core/error.h"
#include "core/log.h"
#include "core/timer.h"
#include "model/weights.h"

namespace qwen3 {

size_t Model::weight_bytes() const {
  size_t total = weights.embed_tokens.bytes() + weights.norm.size() * 4;
  if (weights.lm_head.data != weights.embed_tokens.data) total += weights.lm_head.bytes();
  for (const auto& l : weights.layers) {
    for (const Tensor* t :
         {&l.q_proj, &l.k_proj, &l.v_proj, &l.o_proj, &l.gate_proj, &l.up_proj, &l.down_proj})
      total += t->bytes();
    total +=
        (l.q_norm.size() + l.k_norm.size() + l.input_layernorm.size() + l.post_attention_layernorm.size()) *
        4;
  }
  return total;
}

std::vector<float> rope_inv_freq(double theta, int head_dim) {
  // transformers: 1.0 / (base ** (torch.arange(0, dim, 2).float() / dim)), in float32.
  std::vector<float> inv(head_dim / 2);
  for (int i = 0; i < head_dim / 2; ++i) {
    float exponent = static_cast<float>(2 * i) / static_cast<float>(head_dim);
    inv[i] = static_cast<float>(1.0 / std::pow(theta, static_cast<double>(exponent)));
  }
  return inv;
}

int tokenizer_size_from_json(const std::string& dir) {
  std::string path = dir + "/tokenizer.json";
  if (!file_exists(path)) return 0;
  nlohmann::json j;
  try {
    j = nlohmann::json::parse(read_text_file(path));
  } catch (const nlohmann::json::exception& e) {
    throw_error("%s: malformed JSON: %s", path.c_str(), e.what());
  }
  int64_t max_id = -1;
  if (j.contains("model") && j["model"].is_object() && j["model"].contains("vocab") &&
      j["model"]["vocab"].is_object())
    for (auto& [tok, id] : j["model"]["vocab"].items())
      if (id.is_number_integer()) max_id = std::max<int64_t>(max_id, id.get<int64_t>());
  if (j.contains("added_tokens") && j["added_tokens"].is_array())
    for (auto& t : j["added_tokens"])
      if (t.is_object() && t.contains("id") && t["id"].is_number_integer())
        max_id = std::max<int64_t>(max_id, t["id"].get<int64_t>());
  return static_cast<int>(max_id + 1);
}

std::unique_ptr<Model> load_model(const std::string& dir, const LoadOptions& options) {
  auto model = std::make_unique<Model>();
  model->dir = dir;
  model->config = load_model_config(dir);
  model->generation = load_generation_config(dir, model->config);
  double t0 = now_seconds();
  model->files = load_safetensors_dir(dir, options.map_mode, options.progress);
  double t1 = now_seconds();
  {
    ThreadPool pool(physical_core_count());
    bind_weights(*model, options, &pool);
  }
  QWEN3_LOG_DEBUG("%s: read the weights in %.3f s, converted and tiled them in %.3f s", dir.c_str(), t1 - t0,
                  now_seconds() - t1);
  // The norms now live in f32 vectors and the matrices in tiles, packed in place in the file buffers or
  // copied out of them (conversions, mapped files): in the second case the file buffers can go.
  model->files.tensors.clear();
  if (!model->weights_in_files) model->files.files.clear();
  int n_tok = tokenizer_size_from_json(dir);
  model->n_vocab_tokens = n_tok > 0 && n_tok < model->config.vocab_size ? n_tok : model->config.vocab_size;
  model->rope_inv_freq = rope_inv_freq(model->config.rope_theta, model->config.head_dim);
  return model;
}

}  // namespace qwen3
