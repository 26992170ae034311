// ggml's k-quants (Q4_K, Q5_K, Q6_K: core/dtype.h has the block structs): the value of every stored bit
// (dequantize_row_*, ggml's dequantize_row_q*_K with the same float operations in the same order, so the
// same bits), ggml's reference quantisers (quantize_row_*_ref: make_qkx2_quants for Q4_K/Q5_K, make_qx_quants
// for Q6_K), and the 8-bit activations the k-quant matmul kernels read (ggml's q8_K in spirit: one scale per
// 256 values). Portable code; tests: tests/kernels/quant_k_test.cpp (against tools/reference/kquants.py, a
// NumPy decoder written from the block spec) and matmul_test.cpp.
//
// The matmul arithmetic for a k-quant weight row w and a token's activations x (kernels.h): x is quantised
// per 256-value super-block b to xq = round_nearest_even(x / dx_b), dx_b = amax / 127 (f32), with the sums
// xs_g of each 16 values of xq. Per super-block the weight gives two exact integers:
//   Q4_K/Q5_K: isum = sum_j sc_j * sum_{i in sub-block j} q_i xq_i,  msum = sum_j m_j * (xs_2j + xs_2j+1)
//   Q6_K:      isum = sum_g sc_g * (sum_{i in group g} q_i xq_i - 32 xs_g),  msum = 0
// (q the stored unsigned values, sc/m the 6-bit or int8 sub-block scales and mins), and
//   y = fma(float(isum), d * dx_b, y);  then for Q4_K/Q5_K  y = fma(float(-msum), dmin * dx_b, y)
// from y = 0, super-block after super-block. Every ISA computes the same integers, so the same bits.
#pragma once

#include <cstdint>

#include "core/dtype.h"

namespace qwen3::kernels {

// Values per group of activation sums (xs above).
constexpr int kKGroup = 16;

// ggml's get_scale_min_k4 for all eight sub-blocks at once: scales[j] and mins[j], 6 bits each.
void unpack_scales_k4(const uint8_t* packed, uint8_t* scales, uint8_t* mins);

// One row of n values (n a multiple of 256) to f32, as ggml's dequantize_row_q*_K.
void dequantize_row_q4_k(const BlockQ4_K* b, int64_t n, float* out);
void dequantize_row_q5_k(const BlockQ5_K* b, int64_t n, float* out);
void dequantize_row_q6_k(const BlockQ6_K* b, int64_t n, float* out);

// ggml's quantize_row_q*_K_ref: the same search for scales and mins, the same rounding.
void quantize_row_q4_k(const float* x, int64_t n, BlockQ4_K* out);
void quantize_row_q5_k(const float* x, int64_t n, BlockQ5_K* out);
void quantize_row_q6_k(const float* x, int64_t n, BlockQ6_K* out);

// One row of n activations (n a multiple of 256) for the k-quant kernels: xq [n] int8, xd [n / 256] scales,
// xs [n / 16] group sums (the rule above). The same code for every ISA.
void quantize_activations_k(const float* x, int64_t n, int8_t* xq, float* xd, int32_t* xs);

// The two integers of one super-block (the rule above) of the stored block `blk` of dtype t against 256
// quantised activations and their 16 group sums: the scalar reference of the SIMD kernels.
void superblock_dot_k(DType t, const uint8_t* blk, const int8_t* xq, const int32_t* xs, int32_t* isum,
                      int32_t* msum);
// The f16 super-block scale d and (Q4_K/Q5_K; 0 for Q6_K) dmin of a stored block.
void superblock_scales_k(DType t, const uint8_t* blk, uint16_t* d, uint16_t* dmin);

}  // namespace qwen3::kernels
