// A loaded Qwen3 model: its config, its weights bound by their Hugging Face names, and the storage that owns
// them. The weight structs mirror the transformers module tree (Qwen3ForCausalLM → model.layers[il] →
// self_attn, mlp, norms), so a name in a checkpoint maps to exactly one field (see weights.cpp for the
// table).
#pragma once

#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "core/file.h"
#include "formats/safetensors.h"
#include "kernels/tensor.h"
#include "model/config.h"
#include "model/lora.h"
#include "model/rope.h"

namespace qwen3 {

struct LayerWeights {
  // self_attn
  Tensor q_proj;                      // [num_attention_heads * head_dim, hidden_size]
  Tensor k_proj;                      // [num_key_value_heads * head_dim, hidden_size]
  Tensor v_proj;                      // [num_key_value_heads * head_dim, hidden_size]
  Tensor o_proj;                      // [hidden_size, num_attention_heads * head_dim]
  std::vector<float> q_norm, k_norm;  // [head_dim], applied per head before RoPE
  // mlp (SwiGLU)
  Tensor gate_proj;                                              // [intermediate_size, hidden_size]
  Tensor up_proj;                                                // [intermediate_size, hidden_size]
  Tensor down_proj;                                              // [hidden_size, intermediate_size]
  std::vector<float> input_layernorm, post_attention_layernorm;  // [hidden_size]
};

struct ModelWeights {
  Tensor embed_tokens;      // [vocab_size, hidden_size]
  Tensor lm_head;           // [vocab_size, hidden_size]; the same buffer as embed_tokens when tied
  std::vector<float> norm;  // [hidden_size]
  std::vector<LayerWeights> layers;
};

struct LoadOptions {
  MapMode map_mode = MapMode::kRead;  // anonymous memory by default (see core/file.h)
  std::optional<DType> dtype;  // convert every matrix to this dtype at load (f32, f16, bf16, q8_0, q4_0)
  // The token embedding table and lm_head (one matrix when tied) in this dtype instead (--embed-dtype): e.g.
  // q8_0 for an FP8 checkpoint, whose bf16 table is a third of the model.
  std::optional<DType> embed_dtype;
  // bf16 matrices multiply bf16-rounded activations (vdpbf16ps; what transformers and llama.cpp do with a
  // bf16 model; ~2x faster prompt processing); false: f32 activations, the exact computation
  // (kernels/kernels.h).
  bool bf16_dot = true;
  std::function<void(size_t, size_t)> progress;  // bytes of weights read so far, of the total
};

struct Model {
  std::string dir;  // the model directory, or the GGUF file
  ModelConfig config;
  GenerationConfig generation;
  ModelWeights weights;
  // Number of real token ids: the tokenizer's size when tokenizer.json is present, else vocab_size. Rows at
  // and beyond it are padding (151669..151935 for Qwen3) and are never chosen.
  int n_vocab_tokens = 0;
  RopeFreqs rope;  // inverse frequencies and attention scaling of the config's RoPE (model/rope.h)
  // LoRA adapters applied at run time to every token (--lora DIR[:SCALE]), unless a forward call names
  // others (ForwardOptions::lora, Batch::lora); null: none. The weights above stay the base model's.
  std::shared_ptr<const LoraStack> lora;
  // --lora-dtype: how adapters loaded for this model keep f32 matrices (lora_bf16 below).
  LoraDtype lora_dtype = LoraDtype::kAuto;

  // Storage: the safetensors files, and buffers made at load (converted or realigned tensors).
  SafetensorsSet files;
  std::vector<AlignedPtr<uint8_t>> owned;
  bool weights_in_files = false;  // some matrices were tiled in place inside `files` (which must then stay)

  // Written by `qwen3 synth` (safetensors metadata "qwen3cpp.synthetic"): the weights are random.
  bool synthetic() const { return files.metadata.count("qwen3cpp.synthetic") > 0; }

  DType matrix_dtype() const {
    return weights.layers.empty() ? weights.embed_tokens.dtype : weights.layers[0].q_proj.dtype;
  }
  size_t weight_bytes() const;  // bytes of all weights as held in memory
  // Whether adapters loaded for this model keep their f32 matrices as bf16 (load_lora_adapter): kAuto does
  // unless the base's matrices are f32, where an adapter's rounding would be the largest error left.
  bool lora_bf16() const {
    return lora_dtype == LoraDtype::kBF16 ||
           (lora_dtype == LoraDtype::kAuto && matrix_dtype() != DType::kF32);
  }
};

// Loads config.json, generation_config.json, the safetensors (single or sharded) and tokenizer size from a
// Hugging Face-layout directory, or the same from one GGUF file (a path ending in .gguf). Throws qwen3::Error
// naming file and problem on any malformed input.
std::unique_ptr<Model> load_model(const std::string& dir, const LoadOptions& options = {});

// The GGUF part of load_model (model/gguf_model.cpp): config, generation settings, vocabulary size and the
// file's tensors under their Hugging Face names in m.files, for bind_weights.
void open_gguf_model(Model& m, const std::string& path, MapMode mode,
                     const std::function<void(size_t, size_t)>& progress);

// Number of tokens in tokenizer.json (max id of vocab and added tokens + 1), or 0 if there is no
// tokenizer.json.
int tokenizer_size_from_json(const std::string& dir);

}  // namespace qwen3
