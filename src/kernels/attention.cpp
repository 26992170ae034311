// Cache row formats and the choice of attention kernels (see attention.h).
#include "kernels/attention.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <vector>

#include "core/error.h"
#include "core/half.h"

namespace qwen3::kernels {

size_t kv_row_bytes(DType t, int head_dim) {
  switch (t) {
    case DType::kF32:
    case DType::kF16:
      return dtype_row_bytes(t, head_dim);
    case DType::kBF16:  // padded to whole element pairs (attention.h)
      return dtype_row_bytes(t, head_dim + head_dim % 2);
    case DType::kQ8_0:
      QWEN3_CHECK(head_dim % kQuantBlock == 0,
                  "a q8_0 KV cache needs head_dim to be a multiple of %d (this model has %d)", kQuantBlock,
                  head_dim);
      return dtype_row_bytes(t, head_dim);
    case DType::kF8E4M3:
    case DType::kQ4_0:
    case DType::kQ2_K:
    case DType::kQ3_K:
    case DType::kQ4_K:
    case DType::kQ5_K:
    case DType::kQ6_K:
    case DType::kQ4_1:
    case DType::kQ5_0:
    case DType::kQ5_1:
      break;
  }
  throw_error("KV cache type %s is not supported (use f32, f16, bf16 or q8_0)", dtype_name(t));
}

void kv_store_row(DType t, const float* src, int d, void* dst) {
  switch (t) {
    case DType::kF32:
      std::memcpy(dst, src, static_cast<size_t>(d) * 4);
      return;
    case DType::kF16:  // F16C where the CPU has it; the same bits as f32_to_f16 (tests/kernels)
      active().to_f16(src, d, static_cast<uint16_t*>(dst));
      return;
    case DType::kBF16: {  // nearest even, denormals to zero (as the bf16 path reads them), every ISA alike
      uint16_t* p = static_cast<uint16_t*>(dst);
      active().round_bf16(src, d, p);
      if (d % 2) p[d] = 0;
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
    case DType::kF8E4M3:
    case DType::kQ4_0:
    case DType::kQ2_K:
    case DType::kQ3_K:
    case DType::kQ4_K:
    case DType::kQ5_K:
    case DType::kQ6_K:
    case DType::kQ4_1:
    case DType::kQ5_0:
    case DType::kQ5_1:
      break;
  }
  throw_error("KV cache type %s is not supported", dtype_name(t));
}

void kv_store_key(DType t, const float* src, int d, void* keys, int pos) {
  const size_t rb = kv_row_bytes(t, d);
  uint8_t* base = static_cast<uint8_t*>(keys);
  if (!kv_keys_in_tiles(t)) return kv_store_row(t, src, d, base + static_cast<size_t>(pos) * rb);
  uint8_t* tile = base + static_cast<size_t>(pos - pos % kAttnTile) * rb;
  const int jt = pos % kAttnTile;
  if (t == DType::kBF16) return attention_active().store_key_bf16(src, d, tile, jt);
  // The row as kv_store_row makes it, then each element to its lane of the tile.
  thread_local std::vector<uint8_t> buf;
  buf.resize(rb);
  kv_store_row(t, src, d, buf.data());
  if (t == DType::kF32) {
    const float* r = reinterpret_cast<const float*>(buf.data());
    for (int i = 0; i < d; ++i) reinterpret_cast<float*>(tile)[i * kAttnTile + jt] = r[i];
  } else {
    const uint16_t* r = reinterpret_cast<const uint16_t*>(buf.data());
    for (int i = 0; i < d; ++i) reinterpret_cast<uint16_t*>(tile)[i * kAttnTile + jt] = r[i];
  }
}

void kv_load_key(DType t, const void* keys, int d, int pos, float* dst) {
  const size_t rb = kv_row_bytes(t, d);
  const uint8_t* base = static_cast<const uint8_t*>(keys);
  if (!kv_keys_in_tiles(t)) return kv_load_row(t, base + static_cast<size_t>(pos) * rb, d, dst);
  std::vector<uint8_t> row(rb);
  const uint8_t* tile = base + static_cast<size_t>(pos - pos % kAttnTile) * rb;
  const int jt = pos % kAttnTile;
  for (int i = 0; i < d; ++i) {
    const size_t at = t == DType::kBF16 ? (static_cast<size_t>(i / 2) * kAttnTile + jt) * 2 + i % 2
                                        : static_cast<size_t>(i) * kAttnTile + jt;
    const size_t es = t == DType::kF32 ? 4 : 2;
    std::memcpy(row.data() + i * es, tile + at * es, es);
  }
  kv_load_row(t, row.data(), d, dst);
}

void kv_store_value(DType t, const float* src, int d, void* values, int pos) {
  const size_t rb = kv_row_bytes(t, d);
  uint8_t* base = static_cast<uint8_t*>(values);
  if (t != DType::kBF16) return kv_store_row(t, src, d, base + static_cast<size_t>(pos) * rb);
  attention_active().store_value_bf16(src, d, base + static_cast<size_t>(pos - pos % kAttnTile) * rb,
                                      pos % kAttnTile);
}

void kv_load_value(DType t, const void* values, int d, int pos, float* dst) {
  const size_t rb = kv_row_bytes(t, d);
  const uint8_t* base = static_cast<const uint8_t*>(values);
  if (t != DType::kBF16) return kv_load_row(t, base + static_cast<size_t>(pos) * rb, d, dst);
  std::vector<uint16_t> row(rb / 2);
  const uint16_t* pair =
      reinterpret_cast<const uint16_t*>(base + static_cast<size_t>(pos - pos % kAttnTile) * rb) +
      static_cast<size_t>(pos % kAttnTile / 2) * (rb / 2) * 2 + pos % 2;
  for (size_t i = 0; i < rb / 2; ++i) row[i] = pair[2 * i];
  kv_load_row(t, row.data(), d, dst);
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
    case DType::kF8E4M3:
    case DType::kQ4_0:
    case DType::kQ2_K:
    case DType::kQ3_K:
    case DType::kQ4_K:
    case DType::kQ5_K:
    case DType::kQ6_K:
    case DType::kQ4_1:
    case DType::kQ5_0:
    case DType::kQ5_1:
      break;
  }
  throw_error("KV cache type %s is not supported", dtype_name(t));
}

void kv_quantize_query(const float* q, int d, int8_t* qi, float* qs, int32_t* qsum) {
  for (int b = 0; b < d / kQuantBlock; ++b) {
    BlockQ8_0 blk;
    kv_store_row(DType::kQ8_0, q + b * kQuantBlock, kQuantBlock, &blk);
    qs[b] = f16_to_f32(blk.scale);
    int32_t sum = 0;
    for (int j = 0; j < kQuantBlock; ++j) {
      qi[b * kQuantBlock + j] = blk.q[j];
      sum += blk.q[j];
    }
    qsum[b] = sum;
  }
}

void kv_q8_split_row(const void* row, int d, int8_t* qi, float* scales, int scale_stride) {
  const BlockQ8_0* blk = static_cast<const BlockQ8_0*>(row);
  for (int b = 0; b < d / kQuantBlock; ++b) {
    scales[b * scale_stride] = f16_to_f32(blk[b].scale);
    std::memcpy(qi + b * kQuantBlock, blk[b].q, kQuantBlock);
  }
}

namespace {

// Carves a scratch into regions, each starting 64-B aligned relative to it: take(floats) -> offset.
struct ScratchCarver {
  size_t at = 0;
  size_t take(size_t floats) {
    const size_t off = at;
    at += (floats + 15) / 16 * 16;
    return off;
  }
};

}  // namespace

Q8Layout q8_layout(int nq, int d) {
  const size_t nb = static_cast<size_t>(d / kQuantBlock), n = static_cast<size_t>(nq), T = kAttnTile;
  ScratchCarver c;
  auto take = [&c](size_t floats) { return c.take(floats); };
  Q8Layout l;
  l.qi = take(n * d / 4);
  l.qs = take(n * nb);
  l.qsum = take(n * nb);
  l.kt = take(T * d / 4);
  l.ks = take(nb * T);
  l.vt = take(T * d / 2);
  l.vs = take(nb * T);
  l.pm = take(nb * T);
  l.pw = take(nb * T);
  l.s = take(4 * T);         // runs of up to 4 queries
  l.p16 = take(2 * nb * T);  // int16 [4][nb][T]
  l.acc = take(n * d);
  l.run_max = take(n);
  l.run_sum = take(n);
  l.total = c.at;
  return l;
}

Bf16Layout bf16_layout(int nq, int d) {
  const size_t n = static_cast<size_t>(nq), T = kAttnTile;
  ScratchCarver c;
  Bf16Layout l;
  l.qb = c.take(n * static_cast<size_t>(d + d % 2) / 2);
  l.pb = c.take(8 * T / 2);
  l.acc = c.take(n * d);
  l.run_max = c.take(n);
  l.run_sum = c.take(16 * n);
  l.total = c.at;
  return l;
}

size_t attention_scratch_floats(int n_tok, int group, int head_dim) {
  size_t nq = static_cast<size_t>(n_tok) * group;
  size_t f = 2 * static_cast<size_t>(kAttnTile) * head_dim + 8 * kAttnTile + nq * (head_dim + 2);
  if (head_dim % kQuantBlock == 0) f = std::max(f, q8_layout(n_tok * group, head_dim).total);
  return std::max(f, bf16_layout(n_tok * group, head_dim).total);
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
