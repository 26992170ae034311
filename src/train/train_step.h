// The training pass of LoRA fine-tuning: the Qwen3 forward pass over a packed batch with LoRA deltas on the
// adapted projections, keeping every activation the backward pass needs, the causal language-model loss on
// the labelled positions, and the backward pass into the LoRA gradients (the base weights stay frozen in
// their stored dtype: f32, bf16, q8_0, q4_0; their products are the inference kernels', kernels.h, and their
// input gradients dx += dy W are kernels::weight_backward).
//
// Semantics: PEFT's LoraLayer with lora_dropout 0, y = x W^T + s (x A^T) B^T; a batch packs whole sequences,
// each attending only to itself from position 0 (seq_start); the loss is sum over labelled positions of
// -log softmax(logits)[label] over all vocab_size logits, scaled by loss_scale for the gradients. Shapes: n
// tokens, D hidden_size, H/KV heads, d head_dim, F intermediate_size, r rank.
// Tests: tests/train/ (gradients and loss against tools/reference/lora_train_ref.py in float64).
#pragma once

#include <cstdint>
#include <memory>
#include <vector>

#include "core/thread_pool.h"
#include "model/model.h"
#include "train/lora_params.h"

namespace qwen3 {

struct TrainBatch {
  std::vector<int32_t> tokens;     // [n]
  std::vector<int32_t> seq_start;  // [n] index in the batch of the first token of the token's sequence
  std::vector<int32_t> labels;     // [n] the token this position must predict, or -1 (no loss)

  // Appends a sequence: mask[t] = 1 makes ids[t] a target predicted at position t - 1.
  void add_sequence(const std::vector<int32_t>& ids, const std::vector<uint8_t>& mask);
  size_t size() const { return tokens.size(); }
  int64_t n_labels() const;
};

// The buffers of a training pass (activations, gradients, the loss's logits), sized by the first call and
// reused by the next ones: fresh ones cost their page faults again every step (about 0.7 s of a 5 s
// 512-token step of the 0.6B model on these machines, the loss's buffers alone).
struct TrainWorkspace {
  TrainWorkspace();
  ~TrainWorkspace();
  struct Buffers;
  std::unique_ptr<Buffers> buffers;
};

struct TrainStepOptions {
  ThreadPool* pool = nullptr;
  TrainWorkspace* workspace = nullptr;  // null: buffers of this call only
  bool backward = true;                 // false: the loss only (validation)
  float loss_scale = 1;                 // gradients are d(loss_sum * loss_scale)
  // Activation checkpointing: the forward pass keeps only each layer's input ([n, D] per layer) and the
  // backward pass recomputes one layer's activations at a time (one more forward pass of compute; the same
  // results, bit for bit). Off: every layer's activations are kept.
  bool checkpointing = false;
  // Where the base's products round their inputs to bf16 (kernels::weight_backward_rounds: a bf16 base with
  // bf16 activations, q8_0, q4_0, k-quants) attention's backward rounds its operands to bf16 too, as bf16
  // autocast does (the forward pass stays f32); true keeps it in f32 (tests).
  bool exact_attention = false;
  // Called with the logits [vocab_size] of the batch's last token when set (the compatibility check with
  // inference: `qwen3 eval --lora` must give the same).
  std::vector<float>* last_logits = nullptr;
};

// Runs the batch; adds the gradients to p's ga/gb (unless !backward); returns the loss summed over the
// labelled positions.
double train_step(const Model& model, LoraParams& p, const TrainBatch& batch,
                  const TrainStepOptions& options);

}  // namespace qwen3
