// The optimiser side of fine-tuning, as transformers' Trainer does it: gradient clipping by the global L2
// norm (max_grad_norm), torch.optim.AdamW (decoupled weight decay, bias-corrected moments; betas 0.9/0.999,
// eps 1e-8), and the learning-rate schedules of transformers.get_scheduler with linear warmup (the lr of step
// s, 0-based, is lr * lambda(s): the first warmup step has lr 0).
// Tests: tests/train/optimizer_test.cpp.
#pragma once

#include <cstdint>
#include <string>

#include "core/thread_pool.h"
#include "train/lora_params.h"

namespace qwen3 {

enum class LrSchedule { kCosine, kLinear, kConstant };
LrSchedule parse_lr_schedule(const std::string& name);  // cosine | linear | constant

// lr * lambda(step) for step in [0, total_steps).
double scheduled_lr(LrSchedule schedule, double lr, int64_t step, int64_t warmup, int64_t total_steps);

struct AdamW {
  double beta1 = 0.9, beta2 = 0.999, eps = 1e-8, weight_decay = 0.0;
};

// The global L2 norm of every LoRA gradient (in double).
double grad_norm(const LoraParams& p);
// Scales every gradient by `factor`.
void scale_grads(LoraParams& p, float factor);
// One AdamW update of every matrix with its gradient; step is 1-based (bias correction). The matrices are
// split over the pool (the same values on any number of threads).
void adamw_update(LoraParams& p, const AdamW& opt, double lr, int64_t step, ThreadPool* pool = nullptr);

}  // namespace qwen3
