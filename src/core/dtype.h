// The element types of weights and caches: a runtime tag (DType), GGUF's quantised block layouts and the
// bytes a row takes. Shared by the file formats (formats/), the kernels and the model; the tiled layout the
// kernels repack matrices into is theirs (kernels/tensor.h). bf16/f16 conversion: core/half.h.
#pragma once

#include <cstddef>
#include <cstdint>

namespace qwen3 {

enum class DType : uint8_t {
  kF32,
  kF16,
  kBF16,
  kQ8_0,
  kQ4_0,
  kQ4_K,
  kQ5_K,
  kQ6_K,
  kF8E4M3,
  kQ4_1,
  kQ5_0,
  kQ5_1,
  kQ2_K,
  kQ3_K
};

// GGUF-compatible block quantisation: 32 values per block, one f16 scale.
constexpr int kQuantBlock = 32;
struct BlockQ8_0 {
  uint16_t scale;  // f16
  int8_t q[kQuantBlock];
};
struct BlockQ4_0 {
  uint16_t scale;  // f16
  uint8_t
      q[kQuantBlock / 2];  // low nibbles: values 0..15, high nibbles: values 16..31; value = (nibble-8)*scale
};
static_assert(sizeof(BlockQ8_0) == 34 && sizeof(BlockQ4_0) == 18);

// ggml's other 32-value blocks (ggml-common.h). Byte j of qs holds value j (low nibble) and j + 16 (high);
// bit j of the little-endian 32-bit qh is the fifth bit of value j.
struct BlockQ4_1 {
  uint16_t d, m;  // f16: value = nibble * d + m
  uint8_t qs[kQuantBlock / 2];
};
struct BlockQ5_0 {
  uint16_t d;  // f16: value = (nibble | fifth bit << 4) - 16) * d
  uint8_t qh[4];
  uint8_t qs[kQuantBlock / 2];
};
struct BlockQ5_1 {
  uint16_t d, m;  // f16: value = (nibble | fifth bit << 4) * d + m
  uint8_t qh[4];
  uint8_t qs[kQuantBlock / 2];
};
static_assert(sizeof(BlockQ4_1) == 20 && sizeof(BlockQ5_0) == 22 && sizeof(BlockQ5_1) == 24);

// ggml's k-quants: super-blocks of 256 values in sub-blocks of 32 (Q4_K, Q5_K) or 16 (Q2_K, Q3_K, Q6_K),
// exactly as ggml-common.h lays them out (kernels/quant_k.h gives the value of every stored bit).
constexpr int kSuperBlock = 256;
struct BlockQ2_K {
  uint8_t scales[16];  // sub-block j (16 values): 4-bit scale (low nibble), 4-bit min (high nibble)
  uint8_t qs[64];      // 2-bit values: value 128h + 32s + l in bits 2s..2s+1 of qs[32h + l]
  uint16_t d, dmin;    // f16 super-block scales of the sub-block scales and mins
};
struct BlockQ3_K {
  uint8_t hmask[32];   // the third bit: value 128h + 32s + l in bit 4h + s of hmask[l] (set: +0, clear: -4)
  uint8_t qs[64];      // the low 2 bits, as Q2_K's
  uint8_t scales[12];  // 16 x 6-bit scales (stored + 32), packed (quant_k.h)
  uint16_t d;          // f16
};
static_assert(sizeof(BlockQ2_K) == 84 && sizeof(BlockQ3_K) == 110);
struct BlockQ4_K {
  uint16_t d, dmin;    // f16 super-block scales of the 6-bit sub-block scales and mins
  uint8_t scales[12];  // 8 x (6-bit scale, 6-bit min), packed (ggml's get_scale_min_k4)
  uint8_t qs[128];     // 4-bit values: 64-value chunk c in qs[32c..32c+31], low nibbles then high nibbles
};
struct BlockQ5_K {
  uint16_t d, dmin;
  uint8_t scales[12];
  uint8_t qh[32];   // the fifth bit: bit 2c (low nibbles) and 2c+1 (high nibbles) of chunk c
  uint8_t qs[128];  // the low 4 bits, as Q4_K's
};
struct BlockQ6_K {
  uint8_t ql[128];    // low 4 bits
  uint8_t qh[64];     // high 2 bits
  int8_t scales[16];  // one per 16 values
  uint16_t d;         // f16
};
static_assert(sizeof(BlockQ4_K) == 144 && sizeof(BlockQ5_K) == 176 && sizeof(BlockQ6_K) == 210);

// FP8 E4M3 weights (Qwen's fine-grained FP8 checkpoints, compressed-tensors FP8; core/fp8.h) with an f32
// scale per row and block of 128 columns: value = e4m3(q[j]) * scale. A row is ceil(cols / 128) blocks, the
// last one padded with zero bytes; the kernels' tiled layout keeps the blocks' scales apart (kernels/pack.h).
// 132 bytes per 128 values: 1.03 bytes a weight (q8_0: 1.06).
constexpr int kFp8Block = 128;
struct BlockF8E4M3 {
  float scale;
  uint8_t q[kFp8Block];
};
static_assert(sizeof(BlockF8E4M3) == 132);

// Values per block of a dtype: 1 for f32/f16/bf16, 32 for q8_0/q4_0, 256 for the k-quants. A row of a block
// type has a whole number of blocks. f8_e4m3: 1, as any width is allowed (its last block is padded).
int dtype_block_values(DType t);
inline bool is_k_quant(DType t) {
  return t == DType::kQ2_K || t == DType::kQ3_K || t == DType::kQ4_K || t == DType::kQ5_K ||
         t == DType::kQ6_K;
}
// q4_1, q5_0, q5_1: kernels/quant_legacy.h.
inline bool is_legacy_quant(DType t) {
  return t == DType::kQ4_1 || t == DType::kQ5_0 || t == DType::kQ5_1;
}

const char* dtype_name(DType t);
// Bytes taken by one row of `cols` values (cols must be a multiple of dtype_block_values).
size_t dtype_row_bytes(DType t, int64_t cols);

}  // namespace qwen3
