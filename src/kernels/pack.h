// Weight conversion at load: GGUF-compatible Q8_0/Q4_0 quantisation of rows, conversion between dtypes, and
// the tiled layout the matmul kernels read. Portable code (no ISA flags); tested in
// tests/kernels/pack_test.cpp.
//
// Tiled layout: rows are grouped in tiles of kTileRows = 16 (the last tile padded with zero rows); a tile
// stores, for each step of the reduction, the 16 rows side by side, so one 512-bit load gives one step of 16
// output rows and each SIMD lane accumulates one row:
//   f32   [cols][16] f32                         (64 B per column)
//   f16   [cols][16] f16
//   bf16  [ceil(cols/2)][16][2] bf16             (column pairs, as vdpbf16ps would want; odd cols: zero pad)
//   q8_0  per 32-column block: [16] f16 scales, then 8 groups of [16 rows][4] uint8 = q + 128
//         (group g holds columns 4g..4g+3 of the block; unsigned so that vpdpbusd can take it directly)
//   q4_0  per 32-column block: [16] f16 scales, then 4 groups of [16 rows][4] bytes; byte i of group g holds
//         column 8g+i in its low nibble and column 8g+4+i in its high nibble, nibble = q + 8 (GGUF's value)
//   f8_e4m3  per 128-column block: [16] f32 scales, then 32 groups of 64 bytes, each 4 columns of the 16
//         rows in the order the kernels unpack them (kernels/matmul_fp8.h); the last block zero-padded
//   q4_K/q5_K/q6_K  per 256-column super-block: the 16 rows' ggml blocks as stored, one after another
//         (so a tile is one sequential stream; padding rows are zero blocks, which add nothing)
//   q4_1/q5_0/q5_1  per 32-column block: the 16 rows' d, m, qh and qs fields side by side (quant_legacy.h)
// The tile holds exactly the bytes of its 16 rows in the row-major dtype (bf16 with even cols), so tiled and
// row-major tensors have the same size.
#pragma once

#include <cstdint>

#include "kernels/tensor.h"

namespace qwen3::kernels {

// ggml's quantize_row_q8_0_ref / quantize_row_q4_0_ref, value for value (n a multiple of 32):
//   Q8_0: d = amax / 127, q = roundf(x * (1/d));  Q4_0: d = m / -8 with m the value of largest magnitude,
//   q = min(15, (int8)(x * (1/d) + 8.5)). The scale is stored as f16.
void quantize_row_q8_0(const float* x, int64_t n, BlockQ8_0* out);
void quantize_row_q4_0(const float* x, int64_t n, BlockQ4_0* out);

// f8_e4m3 with one scale per 128 values of the row (the last block may be partial): scale = amax / 448
// (1 for an all-zero block), q = e4m3(x / scale) (nearest even, saturating: core/fp8.h).
void quantize_row_fp8(const float* x, int64_t n, BlockF8E4M3* out);

// One row-major row of dtype `from` (f32/f16/bf16 values or GGUF blocks) to f32.
void row_to_f32_rowmajor(DType from, const void* row, int64_t n, float* out);
// f32 values to one row-major row of dtype `to` (rounding to nearest even, or quantising as above).
void row_from_f32(const float* x, int64_t n, DType to, void* out);

// Packs up to 16 row-major rows of dtype t (rows[i] for i < n_rows, n_rows <= 16) into one tile.
void pack_tile(DType t, const uint8_t* const* rows, int n_rows, int64_t cols, uint8_t* tile);

// Row r of a tiled tensor to f32.
void tiled_row_to_f32(const Tensor& w, int64_t r, float* out);

}  // namespace qwen3::kernels
