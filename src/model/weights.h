// The table that binds Hugging Face tensor names to the fields of ModelWeights, with the shape config.json
// implies for each. One table serves loading (weights.cpp), synthesis (cli/cmd_synth.cpp) and checks.
#pragma once

#include <string>
#include <vector>

#include "model/config.h"
#include "model/model.h"

namespace qwen3 {

struct WeightSpec {
  std::string name;                      // Hugging Face name, e.g. "model.layers.3.self_attn.q_norm.weight"
  int64_t rows = 0, cols = 0;            // rows = 0 for a 1-D tensor of `cols` values
  Tensor* matrix = nullptr;              // bound matrix, or
  std::vector<float>* vector = nullptr;  // bound f32 vector (norm weights)
  bool required = true;                  // lm_head.weight is optional when embeddings are tied
};

// The full table for a config. Pointers refer into `w`, which must outlive the specs (pass nullptr to get
// names and shapes only).
std::vector<WeightSpec> weight_specs(const ModelConfig& config, ModelWeights* w);

// Binds the loaded tensors of `model.files` to `model.weights`, checking names, shapes and dtypes.
void bind_weights(Model& model, const LoadOptions& options);

}  // namespace qwen3
