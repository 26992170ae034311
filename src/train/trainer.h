// The fine-tuning loop of `qwen3 finetune`: examples shuffled per epoch (seeded), packed whole into
// micro-batches of up to batch_tokens tokens, grad_accum micro-batches per optimiser step with the loss
// averaged over every labelled token of the step, gradient clipping, AdamW with warmup and a schedule,
// checkpoints with optimiser state, resume, and a validation loss. Deterministic for a seed and thread count.
// Tests: tests/train/finetune_test.cpp (through the command).
#pragma once

#include <cmath>
#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "core/thread_pool.h"
#include "model/model.h"
#include "train/lora_params.h"
#include "train/optimizer.h"
#include "train/train_data.h"

namespace qwen3 {

struct TrainWorkspace;  // train/train_step.h

struct FinetuneOptions {
  LoraTrainConfig lora;
  int epochs = 1;
  int64_t steps = 0;  // > 0: this many optimiser steps (cycling through epochs), instead of epochs
  double lr = 2e-4;
  int64_t batch_tokens = 2048;
  int grad_accum = 1;
  int64_t warmup = 0;
  LrSchedule schedule = LrSchedule::kCosine;
  AdamW adamw;
  double clip = 1.0;          // max gradient norm; 0 = no clipping
  bool checkpointing = true;  // activation checkpointing (train_step.h)
  uint64_t seed = 0;
  int64_t save_every = 0;  // checkpoint every N steps into out/checkpoint-N (0: none)
  std::string out;         // the adapter directory
  std::string resume;      // a checkpoint directory to continue from
  std::string base_model;  // written as base_model_name_or_path
  ThreadPool* pool = nullptr;
};

struct StepReport {
  int64_t step = 0, total_steps = 0;  // 1-based step
  double loss = 0, lr = 0, grad_norm = 0, tokens_per_s = 0, eta_s = 0;
};

struct FinetuneResult {
  int64_t steps = 0;
  double loss_first = NAN, loss_last = NAN, val_loss = NAN, tokens_per_s = 0;
  int64_t tokens = 0;
};

// Trains and writes the adapter (and checkpoints) to options.out; on_step (optional) after every step.
FinetuneResult finetune(const Model& model, const std::vector<TrainExample>& train,
                        const std::vector<TrainExample>& val, const FinetuneOptions& options,
                        const std::function<void(const StepReport&)>& on_step = nullptr);

// The mean loss per labelled token of the examples with the adapter (no gradients); ws: buffers to reuse
// (finetune's own, so that validation after training needs no more memory), or null.
double evaluate_loss(const Model& model, LoraParams& p, const std::vector<TrainExample>& examples,
                     int64_t batch_tokens, ThreadPool* pool, TrainWorkspace* ws = nullptr);

}  // namespace qwen3
