#include "model/kv_cache.h"

#include <sys/mman.h>

#include <cerrno>
#include <cmath>
#include <cstring>
#include <string>

#include "core/error.h"
#include "kernels/attention.h"

namespace qwen3 {

void RopeTable::extend(const RopeFreqs& rope, int n_pos) {
  if (n_pos <= n_pos_) return;
  const std::vector<float>& inv_freq = rope.inv_freq;
  const float scale = rope.attention_scaling;
  half_ = inv_freq.size();
  cos_.resize(static_cast<size_t>(n_pos) * half_);
  sin_.resize(static_cast<size_t>(n_pos) * half_);
  for (int p = n_pos_; p < n_pos; ++p) {
    const float pos = static_cast<float>(p);
    for (size_t i = 0; i < half_; ++i) {
      // transformers: freqs = pos * inv_freq in f32; cos/sin of that f32 angle
      const float angle = pos * inv_freq[i];
      cos_[p * half_ + i] = static_cast<float>(std::cos(static_cast<double>(angle))) * scale;
      sin_[p * half_ + i] = static_cast<float>(std::sin(static_cast<double>(angle))) * scale;
    }
  }
  n_pos_ = n_pos;
}

KvCache::KvCache(const ModelConfig& c, int n_slots, int n_ctx, DType dtype)
    : n_layers_(c.num_hidden_layers),
      n_slots_(n_slots),
      n_ctx_(n_ctx),
      n_kv_heads_(c.num_key_value_heads),
      head_dim_(c.head_dim),
      dtype_(dtype) {
  QWEN3_CHECK(n_slots > 0 && n_ctx > 0, "KV cache needs at least one slot and one position");
  row_bytes_ = kernels::kv_row_bytes(dtype, head_dim_);
  // Whole K/V tiles per head (keys are transposed within tiles: kernels/attention.h).
  ctx_rows_ = static_cast<int>(kernels::kv_history_rows(n_ctx_));
  half_bytes_ = static_cast<size_t>(n_layers_) * n_slots_ * n_kv_heads_ * ctx_rows_ * row_bytes_;
  // Anonymous, private, no swap reservation: pages are committed on first write, i.e. as positions fill.
  void* p = ::mmap(nullptr, 2 * half_bytes_, PROT_READ | PROT_WRITE,
                   MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
  QWEN3_CHECK(p != MAP_FAILED, "cannot reserve %zu bytes for the KV cache: %s", 2 * half_bytes_,
              std::strerror(errno));
  base_ = static_cast<uint8_t*>(p);
}

KvCache::~KvCache() {
  if (base_) ::munmap(base_, 2 * half_bytes_);
}

void KvCache::store(int il, int slot, int kv_head, int pos, const float* k, const float* v) {
  kernels::kv_store_key(dtype_, k, head_dim_, keys(il, slot, kv_head), pos);
  kernels::kv_store_value(dtype_, v, head_dim_, values(il, slot, kv_head), pos);
}

DType parse_kv_type(const std::string& name) {
  for (DType t : {DType::kF32, DType::kF16, DType::kBF16, DType::kQ8_0})
    if (name == dtype_name(t)) return t;
  throw_error("KV cache type '%s': choose f32, f16, bf16 or q8_0", name.c_str());
}

}  // namespace qwen3
