// The key/value cache: for each layer, sequence slot and KV head, the keys and values of every cached
// position. Layout [layer][slot][kv_head][position][head_dim], f32, so that decode attention reads each
// head's history as one contiguous run. Memory is reserved up front but only touched (committed) as positions
// fill.
#pragma once

#include <cstdint>

#include "core/file.h"
#include "model/config.h"

namespace qwen3 {

class KvCache {
 public:
  KvCache(const ModelConfig& config, int n_slots, int n_ctx);

  int n_slots() const { return n_slots_; }
  int n_ctx() const { return n_ctx_; }
  // [n_ctx, head_dim] history of one head.
  float* keys(int il, int slot, int kv_head) { return k_.get() + offset(il, slot, kv_head); }
  float* values(int il, int slot, int kv_head) { return v_.get() + offset(il, slot, kv_head); }
  size_t bytes() const { return 2 * n_elems_ * sizeof(float); }

 private:
  size_t offset(int il, int slot, int kv_head) const {
    return ((static_cast<size_t>(il) * n_slots_ + slot) * n_kv_heads_ + kv_head) * n_ctx_ * head_dim_;
  }
  int n_layers_, n_slots_, n_ctx_, n_kv_heads_, head_dim_;
  size_t n_elems_;
  AlignedPtr<float> k_, v_;
};

}  // namespace qwen3
