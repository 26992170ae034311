// LoRA deltas in the forward pass (model/lora.h): y += m s B (A x) for each adapted projection, in f32, over
// the tokens of a step. Tokens are grouped by the stack of adapters they run with and each group's rows are
// gathered, multiplied and added back to its own rows only (S-LoRA/Punica's per-row gather), so sequences
// with different adapters share one batch, and a row's result does not depend on the group it lands in nor on
// the other rows: the matmul kernels' per-row arithmetic (kernels.h) and a fixed order of the adapters' adds.
// Tests: tests/lora/ (solo vs mixed batches, and the NumPy reference).
#pragma once

#include <cstdint>
#include <span>
#include <vector>

#include "core/thread_pool.h"
#include "kernels/kernels.h"
#include "model/lora.h"

namespace qwen3 {

// One projection of a group sharing an input, for LoraRows::matmul: its base weights, LoRA target and output
// [n, w->rows].
struct LoraProj {
  const Tensor* w = nullptr;
  int target = 0;  // LoraTarget
  float* y = nullptr;
};

class LoraRows {
 public:
  // stacks[t] for the n tokens of a chunk; nullptr or an empty stack: the base model alone.
  LoraRows(const LoraStack* const* stacks, int64_t n);
  bool active() const { return !groups_.empty(); }
  // Whether some token's stack adapts this projection of layer il.
  bool adapts(int il, int target) const;
  // y = x W^T plus the deltas, for layer il's projections `ps` (at most 3) sharing the f32 input x [n, ldx];
  // `prepared`: x already in the form ps[0]'s kernels read (a norm's int8 output), or null. One parallel
  // section (lora_apply.cpp); each row's result is the base matmul's bits plus each adapter's delta of the
  // row's stack added in stack order, whatever the other rows run.
  void matmul(int il, std::span<const LoraProj> ps, const float* x, int64_t ldx,
              const kernels::MatmulInput* prepared, ThreadPool* pool) const;

 private:
  struct Group {
    const LoraStack* stack = nullptr;
    std::vector<int32_t> rows;  // chunk rows, ascending
    bool all = false;           // every row of the chunk (no gather)
  };
  std::vector<Group> groups_;
  int64_t n_ = 0;
};

}  // namespace qwen3
