// The table that binds Hugging Face tensor names to the fields of ModelWeights, with the shape config.json
// implies for each. One table serves loading (weights.cpp), synthesis (cli/cmd_synth.cpp) and checks.
#pragma once

#include <string>
#include <vector>

#include "core/thread_pool.h"
#include "model/config.h"
#include "model/model.h"

namespace qwen3 {

struct WeightSpec {
  std::string name;                      // Hugging Face name, e.g. "model.layers.3.self_attn.q_norm.weight"
  int64_t rows = 0, cols = 0;            // rows = 0 for a 1-D tensor of `cols` values
  Tensor* matrix = nullptr;              // bound matrix, or
  std::vector<float>* vector = nullptr;  // bound f32 vector (norm weights)
  bool required = true;                  // lm_head.weight is optional when embeddings are tied
  // A matrix earlier in the table that the forward pass multiplies together with this one and which must
  // therefore have the same dtype once loaded: gate_proj for up_proj (kernels::matmul_gate_up_silu).
  // q/k/v need none: kernels::matmul_shared_input runs a mixed set one matrix at a time.
  const Tensor* same_dtype_as = nullptr;
};

// The full table for a config. Pointers refer into `w`, which must outlive the specs (pass nullptr to get
// names and shapes only).
std::vector<WeightSpec> weight_specs(const ModelConfig& config, ModelWeights* w);

// Metadata key of a quantised model (qwen3 quantize): "q8_0" or "q4_0", the dtype of its U8 matrices, which
// hold GGUF blocks row by row ([rows, cols / 32 * block bytes]).
inline constexpr const char* kQuantizationKey = "qwen3.quantization";

// Binds the loaded tensors of `model.files` to `model.weights`, checking names, shapes and dtypes, and
// converts every matrix to the tiled layout of the kernels (in its dtype or options.dtype), packing tiles on
// the pool. options.map_mode is how the files were opened: a matrix is tiled in place in a file read into
// memory when its dtype stays; from a mapped file it is copied out and its pages are dropped as it goes.
void bind_weights(Model& model, const LoadOptions& options, ThreadPool* pool = nullptr);

}  // namespace qwen3
