// The Qwen3 forward pass (transformers' modeling_qwen3.py, eager attention, f32 arithmetic).
//
// One entry point serves prompt processing, decoding and continuous batching: a Batch is any list of tokens,
// each with its position and the KV-cache slot of the sequence it belongs to. A prompt is a batch of
// consecutive positions in one slot; a decode step of a server is one token from each of several slots; both
// can be mixed. Keys and values of the whole batch are written to the cache before attention, and each token
// attends to its own slot's positions 0..pos, so causality follows from positions alone.
#pragma once

#include <cstdint>
#include <functional>
#include <vector>

#include "core/thread_pool.h"
#include "model/kv_cache.h"
#include "model/lora.h"
#include "model/model.h"

namespace qwen3 {

struct Batch {
  std::vector<int32_t> tokens;     // [n] token ids
  std::vector<int32_t> positions;  // [n] position of each token in its sequence
  std::vector<int32_t> slots;      // [n] KV-cache slot of each token's sequence
  std::vector<uint8_t> logits;     // [n] 1 = return the logits after this token
  // [n] the LoRA adapters each token runs with (nullptr: the base model alone), or empty:
  // ForwardOptions::lora (else Model::lora) for every token. The caller keeps the stacks alive during
  // forward().
  std::vector<const LoraStack*> lora;

  void add(int32_t token, int32_t position, int32_t slot, bool want_logits) {
    tokens.push_back(token);
    positions.push_back(position);
    slots.push_back(slot);
    logits.push_back(want_logits ? 1 : 0);
  }
  size_t size() const { return tokens.size(); }
  size_t n_outputs() const;
  void clear() { *this = Batch{}; }
};

// Called with every intermediate when set: name, layer (-1 outside layers), data [n_tok, width].
using TraceFn =
    std::function<void(const char* name, int il, const float* data, int64_t n_tok, int64_t width)>;

struct ForwardOptions {
  ThreadPool* pool = nullptr;
  TraceFn trace;                // off by default
  int max_chunk = 512;          // tokens processed together; bounds activation memory
  DType kv_type = DType::kF32;  // cache dtype for the helpers below that make their own cache
  // Adapters for every token of a batch without its own (Batch::lora); null: the model's (Model::lora).
  const LoraStack* lora = nullptr;
};

// Runs the batch through the model, filling the cache. Writes the logits of the tokens marked in
// batch.logits, in batch order, to `logits` ([n_outputs, vocab_size], vocab_size from config.json). Throws on
// a token id, position or slot out of range.
void forward(const Model& model, KvCache& cache, const Batch& batch, float* logits,
             const ForwardOptions& options);

// Index of the largest logit among the real token ids (padded vocabulary rows are never chosen).
int32_t argmax_token(const Model& model, const float* logits);

struct GreedyResult {
  std::vector<float> prompt_logits;  // [vocab_size] after the last prompt token (when asked for)
  std::vector<int32_t> tokens;       // generated ids
  double prompt_seconds = 0, decode_seconds = 0;
};

// Prefills `prompt` as one batch in a fresh cache, then decodes n_predict tokens greedily one at a time.
// on_token (optional) sees each token as it is chosen.
GreedyResult generate_greedy(const Model& model, const std::vector<int32_t>& prompt, int n_predict,
                             const ForwardOptions& options, bool keep_prompt_logits,
                             const std::function<void(int32_t)>& on_token = nullptr);

}  // namespace qwen3
