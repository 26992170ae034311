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
#include "model/lora.h"

namespace qwen3 {

// One projection's input and output rows for LoraRows::apply.
struct LoraIo {
  int target = 0;            // LoraTarget
  const float* x = nullptr;  // [n, ldx] the projection's f32 input
  int64_t ldx = 0;
  float* y = nullptr;  // [n, ldy] its output W x, to which the deltas are added
  int64_t ldy = 0;
};

class LoraRows {
 public:
  // stacks[t] for the n tokens of a chunk; nullptr or an empty stack: the base model alone.
  LoraRows(const LoraStack* const* stacks, int64_t n);
  bool active() const { return !groups_.empty(); }
  // Whether some token's stack adapts this projection of layer il.
  bool adapts(int il, int target) const;
  // Adds the deltas of layer il's adapted projections among `ios` (at most 3) to their outputs.
  void apply(int il, std::span<const LoraIo> ios, ThreadPool* pool) const;

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
