// Cache row formats and the choice of attention kernels (see attention.h).
#include "kernels/attention.h"

#include <cmath>
#include <cstring>

#include "core/error.h"
#include "core/half.h"

namespace qwen3::kernels {

size_t kv_row_bytes(DType t, int head_dim) {
  switch (t) {
    case DType::kF32:
    case DType::kF16:
    case DType::kBF16:
      return dtype_row_bytes(t, head_dim);
    case DType::kQ8_0:
      QWEN3_CHECK(head_dim % kQuantBlock == 0,
                  "a q8_0 KV cache needs head_dim to be a multiple of %d (this model has %d)", kQuantBlock,
                  head_dim);
      return dtype_row_bytes(t, head_dim);
    case DType::kQ4_0:
      break;
  }
  throw_error("KV cache type %s is not supported (use f32, f16, bf16 or q8_0)", dtype_name(t));
}

void kv_store_row(DType t, const float* src, int d, void* dst) {
  switch (t) {
    case DType::kF32:
      std::memcpy(dst, src, static_cast<size_t>(d) * 4);
      return;
    case DType::kF16: {
      uint16_t* p = static_cast<uint16_t*>(dst);
      for (int i = 0; i < d; ++i) p[i] = f32_to_f16(src[i]);
      return;
    }
    case DType::kBF16: {
      uint16_t* p = static_cast<uint16_t*>(dst);
      for (int i = 0; i < d; ++i) p[i] = f32_to_bf16(src[i]);
      return;
    }
    case DType::kQ8_0: {
      // GGUF's quantize_row_q8_0_ref: scale = max|x| / 127, q = round(x / scale).
      BlockQ8_0* b = static_cast<BlockQ8_0*>(dst);
      for (int k = 0; k < d / kQuantBlock; ++k) {
        const float* x = src + k * kQuantBlock;
        float amax = 0;
        for (int j = 0; j < kQuantBlock; ++j) amax = std::max(amax, std::fabs(x[j]));
        float scale = amax / 127.0f, inv = scale != 0 ? 1.0f / scale : 0.0f;
        b[k].scale = f32_to_f16(scale);
        for (int j = 0; j < kQuantBlock; ++j) b[k].q[j] = static_cast<int8_t>(std::round(x[j] * inv));
      }
      return;
    }
    case DType::kQ4_0:
      break;
  }
  throw_error("KV cache type %s is not supported", dtype_name(t));
}

void kv_load_row(DType t, const void* src, int d, float* dst) {
  switch (t) {
    case DType::kF32:
      std::memcpy(dst, src, static_cast<size_t>(d) * 4);
      return;
    case DType::kF16: {
      const uint16_t* p = static_cast<const uint16_t*>(src);
      for (int i = 0; i < d; ++i) dst[i] = f16_to_f32(p[i]);
      return;
    }
    case DType::kBF16: {
      const uint16_t* p = static_cast<const uint16_t*>(src);
      for (int i = 0; i < d; ++i) dst[i] = bf16_to_f32(p[i]);
      return;
    }
    case DType::kQ8_0: {
      const BlockQ8_0* b = static_cast<const BlockQ8_0*>(src);
      for (int k = 0; k < d / kQuantBlock; ++k) {
        float scale = f16_to_f32(b[k].scale);
        for (int j = 0; j < kQuantBlock; ++j)
          dst[k * kQuantBlock + j] = scale * static_cast<float>(b[k].q[j]);
      }
      return;
    }
    case DType::kQ4_0:
      break;
  }
  throw_error("KV cache type %s is not supported", dtype_name(t));
}

size_t attention_scratch_floats(int n_tok, int group, int head_dim) {
  size_t nq = static_cast<size_t>(n_tok) * group;
  return 2 * static_cast<size_t>(kAttnTile) * head_dim + 2 * kAttnTile + nq * (head_dim + 2);
}

const AttentionTable& attention_table_for(Isa isa) {
  QWEN3_CHECK(isa_supported(isa), "ISA %s is not available on this CPU", isa_name(isa));
  switch (isa) {
    case Isa::kAvx512:
      return avx512::kAttentionTable;
    case Isa::kAvx2:
      return avx2::kAttentionTable;
    case Isa::kScalar:
      break;
  }
  return scalar::kAttentionTable;
}

const AttentionTable& attention_active() {
  static const AttentionTable& table = attention_table_for(active_isa());
  return table;
}

}  // namespace qwen3::kernels
