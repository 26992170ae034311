#include "model/kv_cache.h"

#include "core/error.h"

namespace qwen3 {

KvCache::KvCache(const ModelConfig& c, int n_slots, int n_ctx)
    : n_layers_(c.num_hidden_layers),
      n_slots_(n_slots),
      n_ctx_(n_ctx),
      n_kv_heads_(c.num_key_value_heads),
      head_dim_(c.head_dim) {
  QWEN3_CHECK(n_slots > 0 && n_ctx > 0, "KV cache needs at least one slot and one position");
  n_elems_ = static_cast<size_t>(n_layers_) * n_slots_ * n_kv_heads_ * n_ctx_ * head_dim_;
  k_ = aligned_array<float>(n_elems_);
  v_ = aligned_array<float>(n_elems_);
}

}  // namespace qwen3
