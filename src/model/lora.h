// LoRA adapters (Hu et al. 2021) applied at run time on top of a resident base model, never merged into it:
// y = W x + s B (A x) for each adapted projection, computed in f32 whatever the base dtype (A [r, in] and
// B [out, r] stored in f32, or in the adapter file's own bf16/f16, widened exactly), so one base model serves
// many adapters, even several in one batch (S-LoRA/Punica's per-row gather: model/lora_apply.cpp).
//
// Read from what PEFT saves (adapter_config.json + adapter_model.safetensors: lora_alpha, r, target_modules
// as a list, a regex or "all-linear", use_rslora, rank_pattern/alpha_pattern, layers_to_transform) and from
// llama.cpp's GGUF adapters (general.type = adapter, adapter.type = lora, adapter.lora.alpha). Every problem
// (another architecture or shape, an unknown module, a missing tensor, DoRA) is one Error line naming the
// file and the problem, thrown before anything is kept: an adapter loads whole or not at all.
// Tests: tests/lora/ (against tools/reference/qwen3_ref.py --lora, float64).
#pragma once

#include <array>
#include <cstdint>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "core/file.h"
#include "kernels/tensor.h"
#include "model/config.h"

namespace qwen3 {

// The seven linear projections of a Qwen3 decoder layer an adapter may target, in the forward pass's order.
enum LoraTarget : int { kLoraQ, kLoraK, kLoraV, kLoraO, kLoraGate, kLoraUp, kLoraDown, kLoraTargets };
// "q_proj", …, "down_proj"; and the module path under a layer ("self_attn.q_proj", "mlp.down_proj").
const char* lora_target_name(int target);
const char* lora_target_path(int target);
// {out, in} of the projection in a base model of this config (B [out, r], A [r, in]).
std::pair<int64_t, int64_t> lora_target_shape(const ModelConfig& config, int target);

// One adapted projection of one layer: delta(x) = scale * B (A x).
struct LoraMatrix {
  Tensor a;  // [rank, in] tiled (kernels/pack.h): f32, or bf16/f16 as the file stores them
  Tensor b;  // [out, rank] tiled, the same
  int rank = 0;
  float scale = 0;  // lora_alpha / r, or lora_alpha / sqrt(r) with use_rslora (per-module patterns applied)
};

struct LoraAdapter {
  std::string path;  // the directory or .gguf file it came from
  // [num_hidden_layers][kLoraTargets]; a null `a.data` = the projection is not adapted in that layer.
  std::vector<std::array<LoraMatrix, kLoraTargets>> layers;
  // PEFT's modules_to_save: whole replacements of the base model's tensors (null `data`: not replaced),
  // [vocab_size, hidden_size] each in the file's float dtype; embed_tokens row-major, lm_head tiled. They
  // replace, whatever the stack's multiplier.
  Tensor embed_tokens, lm_head;
  std::vector<AlignedPtr<float>> owned;  // the matrices' buffers
  size_t bytes = 0;                      // of the matrices
  int n_matrices = 0;                    // adapted projections (pairs A, B), and replaced tensors
  int max_rank = 0;

  const LoraMatrix* find(int il, int target) const {
    const LoraMatrix& m = layers[il][target];
    return m.a.data ? &m : nullptr;
  }
};

// Reads a PEFT adapter directory or a llama.cpp GGUF LoRA adapter for a base model of this config. Throws
// qwen3::Error with one line naming the file and the problem. `f32_as_bf16`: A and B matrices the file holds
// in f32 (or as GGUF blocks) are kept rounded to bf16 (nearest even), as vLLM keeps adapters in the model's
// dtype: half the bytes a decode step reads for them; the products stay f32 (Model::lora_bf16 decides).
std::shared_ptr<const LoraAdapter> load_lora_adapter(const std::string& path, const ModelConfig& config,
                                                     bool f32_as_bf16 = false);

// --lora-dtype: how adapter matrices stored in f32 are kept. kAuto: bf16 unless the base model's weights are
// f32 (there the adapter stays exact); kFile: as the file stores them; kBF16: bf16.
enum class LoraDtype { kAuto, kFile, kBF16 };
LoraDtype parse_lora_dtype(const std::string& s);  // "auto", "file", "bf16"; throws otherwise

// Adapters applied together to a token, in order, each with the user's multiplier (--lora DIR:SCALE):
// y = W x + sum_k m_k s_k B_k (A_k x).
struct LoraStack {
  std::vector<std::pair<std::shared_ptr<const LoraAdapter>, float>> parts;
  // The identity of the stack for cache reuse: K/V computed under one stack is never reused under another.
  std::string key;
  bool empty() const { return parts.empty(); }
  // Throws when two adapters of the stack replace the same module (modules_to_save).
  void add(std::shared_ptr<const LoraAdapter> adapter, float multiplier);
  // The replacement of embed_tokens / lm_head some adapter of the stack carries, or null.
  const Tensor* embed_tokens() const;
  const Tensor* lm_head() const;
};

// Merging (qwen3 quantize --lora; adapters with modules_to_save are refused there): the projection a Hugging
// Face tensor name is
// ("model.layers.3.mlp.up_proj.weight"
// -> il 3, kLoraUp), false for any other tensor; and the stack's delta for it, [out, in] row-major f32:
// sum over the stack of m s B A (empty when no adapter of the stack adapts it).
bool lora_target_of(const std::string& hf_name, int* il, int* target);
std::vector<float> lora_delta(const LoraStack& stack, int il, int target);

// A `--lora` value: DIR, or DIR:SCALE when the text after the last ':' is a number (a path holding ':' can
// be given as DIR:1). NAME=DIR[:SCALE] names the adapter (qwen3 serve); name is empty otherwise.
struct LoraSpec {
  std::string name, path;
  float scale = 1;
};
LoraSpec parse_lora_spec(const std::string& value);

}  // namespace qwen3
