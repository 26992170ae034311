// The key/value cache: for each layer, sequence slot and KV head, the keys and values of every cached
// position, in the cache's dtype (f32, f16, bf16 or q8_0; formats and layout in kernels/attention.h). Layout
// [layer][slot][kv_head][position][row], so decode attention reads each head's history as one contiguous run.
// The memory is reserved up front as one anonymous mapping and committed by the kernel page by page as
// positions fill (a 32k-token context costs address space, not RAM, until used).
//
// The cache also holds the RoPE cos/sin table of the positions used so far (RopeTable), since it is the
// per-context state the forward pass may extend.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "core/dtype.h"
#include "model/config.h"
#include "model/rope.h"

namespace qwen3 {

// cos/sin of pos * inv_freq[i] for positions [0, size()), computed as transformers does (angle in f32,
// cos/sin rounded to f32, then multiplied by the attention scaling in f32), grown on demand.
class RopeTable {
 public:
  void extend(const RopeFreqs& rope, int n_pos);  // ensures positions [0, n_pos)
  int size() const { return n_pos_; }
  const float* cos(int pos) const { return cos_.data() + static_cast<size_t>(pos) * half_; }  // [d/2]
  const float* sin(int pos) const { return sin_.data() + static_cast<size_t>(pos) * half_; }  // [d/2]

 private:
  int n_pos_ = 0;
  size_t half_ = 0;
  std::vector<float> cos_, sin_;
};

class KvCache {
 public:
  // dtype: f32 (exact, the default of the library), f16, bf16 or q8_0 (head_dim a multiple of 32).
  KvCache(const ModelConfig& config, int n_slots, int n_ctx, DType dtype = DType::kF32);
  ~KvCache();
  KvCache(const KvCache&) = delete;
  KvCache& operator=(const KvCache&) = delete;

  int n_slots() const { return n_slots_; }
  int n_ctx() const { return n_ctx_; }
  DType dtype() const { return dtype_; }
  int head_dim() const { return head_dim_; }
  size_t row_bytes() const { return row_bytes_; }
  // History of one head (layout in kernels/attention.h: tiles of 32 positions, keys transposed within
  // them), n_ctx rounded up to whole tiles.
  uint8_t* keys(int il, int slot, int kv_head) { return base_ + offset(il, slot, kv_head); }
  uint8_t* values(int il, int slot, int kv_head) { return base_ + half_bytes_ + offset(il, slot, kv_head); }
  // Converts and stores the key and value rows (f32 [head_dim]) of one position.
  void store(int il, int slot, int kv_head, int pos, const float* k, const float* v);
  // Bytes reserved (address space) and bytes of K and V per cached position of one sequence (all layers).
  size_t bytes() const { return 2 * half_bytes_; }
  size_t bytes_per_position() const { return 2 * row_bytes_ * n_layers_ * n_kv_heads_; }

  RopeTable& rope() { return rope_; }

 private:
  size_t offset(int il, int slot, int kv_head) const {
    return ((static_cast<size_t>(il) * n_slots_ + slot) * n_kv_heads_ + kv_head) * ctx_rows_ * row_bytes_;
  }
  int n_layers_, n_slots_, n_ctx_, n_kv_heads_, head_dim_;
  int ctx_rows_ = 0;  // rows per head: n_ctx in whole tiles
  DType dtype_;
  size_t row_bytes_, half_bytes_;
  uint8_t* base_ = nullptr;  // keys then values
  RopeTable rope_;
};

// "f32", "f16", "bf16", "q8_0" -> DType; throws naming the accepted values otherwise.
DType parse_kv_type(const std::string& name);

}  // namespace qwen3
