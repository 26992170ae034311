// ggml's k-quants (Q2_K, Q3_K, Q4_K, Q5_K, Q6_K: core/dtype.h has the block structs): the value of every
// stored bit (dequantize_row_*, ggml's dequantize_row_q*_K with the same float operations in the same order,
// so the same bits), ggml's reference quantisers (quantize_row_*_ref: make_qkx2_quants for Q2_K/Q4_K/Q5_K,
// make_q3_quants for Q3_K, make_qx_quants for Q6_K), and the 8-bit activations the k-quant matmul kernels
// read (ggml's q8_K in spirit: one scale per 256 values). Portable code (Q2_K/Q3_K in quant_k_low.cpp);
// tests: tests/quant/test_kquants.py (against tools/reference/kquants.py, a NumPy decoder written from the
// block spec) and tests/kernels/matmul_test.cpp.
//
// The values: Q2_K/Q4_K/Q5_K  d * sc_j * q - dmin * m_j  (q unsigned, sc_j and m_j the sub-block's 4- or
// 6-bit scale and min); Q3_K  d * (sc_j - 32) * (q - 4)  (q = 3 bits, 0..7: the low 2 bits and the hmask bit
// at 4); Q6_K  d * sc_g * (q - 32)  (int8 scales).
//
// The matmul arithmetic for a k-quant weight row w and a token's activations x (kernels.h): x is quantised
// per 256-value super-block b to xq = round_nearest_even(x / dx_b), dx_b = amax / 127 (f32), with the sums
// xs_g of each 16 values of xq. Per super-block the weight gives two exact integers:
//   Q4_K/Q5_K: isum = sum_j sc_j * sum_{i in sub-block j} q_i xq_i,  msum = sum_j m_j * (xs_2j + xs_2j+1)
//   Q2_K:      isum = sum_g sc_g * sum_{i in group g} q_i xq_i,      msum = sum_g m_g * xs_g
//   Q3_K:      isum = sum_g (sc_g - 32) * (sum_{i in group g} q_i xq_i - 4 xs_g),  msum = 0
//   Q6_K:      isum = sum_g sc_g * (sum_{i in group g} q_i xq_i - 32 xs_g),  msum = 0
// (q the stored unsigned values, sc/m the sub-block scales and mins), and
//   y = fma(float(isum), d * dx_b, y);  then where there are mins  y = fma(float(-msum), dmin * dx_b, y)
// from y = 0, super-block after super-block. Every ISA computes the same integers, so the same bits.
#pragma once

#include <cstdint>
#include <cstring>

#include "core/dtype.h"

namespace qwen3::kernels {

// Values per group of activation sums (xs above).
constexpr int kKGroup = 16;

// ggml's get_scale_min_k4 for all eight sub-blocks at once: scales[j] and mins[j], 6 bits each.
void unpack_scales_k4(const uint8_t* packed, uint8_t* scales, uint8_t* mins);

// Whether the type has sub-block mins (the dmin term above): Q2_K, Q4_K, Q5_K.
constexpr bool k_quant_has_min(DType t) {
  return t == DType::kQ2_K || t == DType::kQ4_K || t == DType::kQ5_K;
}

// ggml's Q3_K scale unpacking: the 16 6-bit scales (still + 32) of the 12 packed bytes. Scale j has its low
// nibble in byte j (j < 8) or the high nibble of byte j - 8, its top 2 bits at bit 2 (j / 4) of byte
// 8 + j % 4. Four scales per 32-bit word, s[w] holding scales 4w..4w+3 (inline: the kernels keep s in
// registers).
inline void unpack_scales_q3_k(const uint8_t* packed, uint32_t* s) {
  uint32_t a[3];
  std::memcpy(a, packed, 12);
  constexpr uint32_t lo4 = 0x0f0f0f0f, lo2 = 0x03030303;
  s[0] = (a[0] & lo4) | ((a[2] & lo2) << 4);  // scales 0-3
  s[1] = (a[1] & lo4) | (((a[2] >> 2) & lo2) << 4);
  s[2] = ((a[0] >> 4) & lo4) | (((a[2] >> 4) & lo2) << 4);
  s[3] = ((a[1] >> 4) & lo4) | (((a[2] >> 6) & lo2) << 4);  // scales 12-15
}
inline void unpack_scales_q3_k(const uint8_t* packed, uint8_t* scales) {
  uint32_t s[4];
  unpack_scales_q3_k(packed, s);
  std::memcpy(scales, s, 16);
}

// One row of n values (n a multiple of 256) to f32, as ggml's dequantize_row_q*_K.
void dequantize_row_q2_k(const BlockQ2_K* b, int64_t n, float* out);
void dequantize_row_q3_k(const BlockQ3_K* b, int64_t n, float* out);
void dequantize_row_q4_k(const BlockQ4_K* b, int64_t n, float* out);
void dequantize_row_q5_k(const BlockQ5_K* b, int64_t n, float* out);
void dequantize_row_q6_k(const BlockQ6_K* b, int64_t n, float* out);

// ggml's quantize_row_q*_K_ref: the same search for scales and mins, the same rounding.
void quantize_row_q2_k(const float* x, int64_t n, BlockQ2_K* out);
void quantize_row_q3_k(const float* x, int64_t n, BlockQ3_K* out);
void quantize_row_q4_k(const float* x, int64_t n, BlockQ4_K* out);
void quantize_row_q5_k(const float* x, int64_t n, BlockQ5_K* out);
void quantize_row_q6_k(const float* x, int64_t n, BlockQ6_K* out);

// One row of n activations (n a multiple of 256) for the k-quant kernels: xq [n] int8, xd [n / 256] scales,
// xs [n / 16] group sums (the rule above). The reference of KernelTable::quantize_act_k (the same bytes on
// every ISA).
void quantize_activations_k(const float* x, int64_t n, int8_t* xq, float* xd, int32_t* xs);

// The two integers of one super-block (the rule above) of the stored block `blk` of dtype t against 256
// quantised activations and their 16 group sums: the scalar reference of the SIMD kernels.
void superblock_dot_k(DType t, const uint8_t* blk, const int8_t* xq, const int32_t* xs, int32_t* isum,
                      int32_t* msum);
// The f16 super-block scale d and (Q2_K/Q4_K/Q5_K; else 0) dmin of a stored block.
void superblock_scales_k(DType t, const uint8_t* blk, uint16_t* d, uint16_t* dmin);

}  // namespace qwen3::kernels
