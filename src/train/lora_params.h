// The trainable state of LoRA fine-tuning: for each adapted projection of each layer, A [r, in] and B [out,
// r] in f32 with their gradients and AdamW moments, initialised as PEFT does (A Kaiming-uniform with a =
// sqrt(5), i.e. U(-1/sqrt(in), 1/sqrt(in)); B zero), and written as a PEFT adapter (adapter_config.json +
// adapter_model.safetensors, tensor names base_model.model.model.layers.N.self_attn.q_proj.lora_A.weight).
// Tests: tests/train/ (names, shapes and config against PEFT's documented format; gradients).
#pragma once

#include <array>
#include <cstdint>
#include <string>
#include <vector>

#include "model/config.h"
#include "model/lora.h"

namespace qwen3 {

struct LoraTrainConfig {
  int rank = 16;
  float alpha = 32;
  bool rslora = false;                       // scaling alpha / sqrt(r) instead of alpha / r
  std::array<bool, kLoraTargets> targets{};  // which projections get an adapter
  float scaling() const;
};

// "all-linear" (every projection; PEFT's shorthand) or a comma-separated list of names (q_proj,v_proj, ...).
// Throws naming an unknown module.
std::array<bool, kLoraTargets> parse_train_targets(const std::string& spec);

struct LoraModuleParams {
  int64_t in = 0, out = 0;
  std::vector<float> a, b;            // [r, in], [out, r] row-major
  std::vector<float> ga, gb;          // gradients, same shapes
  std::vector<float> ma, va, mb, vb;  // AdamW's first and second moments
  bool active() const { return in > 0; }
};

struct LoraParams {
  LoraTrainConfig config;
  std::vector<std::array<LoraModuleParams, kLoraTargets>> layers;  // [num_hidden_layers][LoraTarget]
  LoraModuleParams* find(int il, int target) {
    LoraModuleParams& m = layers[il][target];
    return m.active() ? &m : nullptr;
  }
  const LoraModuleParams* find(int il, int target) const {
    const LoraModuleParams& m = layers[il][target];
    return m.active() ? &m : nullptr;
  }
  int64_t n_params() const;
};

// Shapes from the model config; A from `seed` (Kaiming-uniform), B zero, gradients and moments zero.
LoraParams make_lora_params(const ModelConfig& model, const LoraTrainConfig& config, uint64_t seed);
void zero_grads(LoraParams& p);

// PEFT's tensor name of one matrix (a = lora_A, else lora_B).
std::string peft_tensor_name(int il, int target, bool a);

// One f32 matrix of the trainable state under its safetensors name: an adapter's lora_A/lora_B, or one of
// AdamW's moments of it ("<PEFT name>.exp_avg", ".exp_avg_sq").
struct StoredMatrix {
  std::string name;
  std::vector<int64_t> shape;  // [r, in] (A) or [out, r] (B)
  std::vector<float>* values;
};
// Every adapted projection's matrices in PEFT's order (layer by layer, the forward pass's modules, A then
// B): the adapter's weights, or (moments) their exp_avg and exp_avg_sq.
std::vector<StoredMatrix> stored_matrices(LoraParams& p, bool moments);
// Writes them as F32 tensors of one safetensors file; reads them back, each present as F32 of its shape
// (throws naming the file and the tensor).
void write_stored_matrices(const std::string& path, const std::vector<StoredMatrix>& matrices,
                           const std::vector<std::pair<std::string, std::string>>& metadata);
void read_stored_matrices(const std::string& path, const std::vector<StoredMatrix>& matrices);

// Writes adapter_config.json and adapter_model.safetensors into dir (created if needed). base_model is
// written as base_model_name_or_path.
void write_peft_adapter(const LoraParams& p, const std::string& dir, const std::string& base_model);
// Reads the A and B matrices of an adapter written by write_peft_adapter (or PEFT) into p, whose config and
// shapes must match: every adapted module must be present. Throws naming the file and the problem.
void read_peft_adapter(LoraParams& p, const std::string& dir);

}  // namespace qwen3
