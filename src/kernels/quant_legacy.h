// ggml's Q4_1, Q5_0 and Q5_1 (core/dtype.h has the blocks): the value of every stored bit (dequantize_row_*,
// ggml's dequantize_row_q4_1/q5_0/q5_1), ggml's reference quantisers (quantize_row_*_ref), the tiled layout
// the kernels stream, and the matmul kernels of each ISA. Tests: tests/kernels/matmul_test.cpp (every ISA
// bitwise against the scalar reference) and tests/quant/test_legacy.py (the decoding against
// tools/reference/kquants.py, a NumPy decoder written from the block spec).
//
// Tiled layout (pack.h): per 32-column block, the 16 rows' fields side by side: [16] f16 d, then (Q4_1,
// Q5_1) [16] f16 m, then (Q5_0, Q5_1) [16] u32 qh, then [16][16] bytes qs, each row's bytes as stored. The
// tile holds exactly the bytes of its rows; padding rows are zeros.
//
// Arithmetic for a weight row and a token's activations, quantised per 32 values as for q8_0/q4_0
// (quantize_activations: xq int8, dx_b = amax / 127, xs_b the block's sum of xq): per block b in order,
//   isum = sum_j q_j xq_j + c_b   (q the stored unsigned 4- or 5-bit value; c_b = -16 xs_b for Q5_0, else 0)
//   y = fma(float(isum), d * dx_b, y);   Q4_1/Q5_1 then: y = fma(float(xs_b), m * dx_b, y)
// from y = 0. The integers are exact, so every ISA gives the same bits.
#pragma once

#include <cstdint>

#include "kernels/kernels.h"

namespace qwen3::kernels {

// Byte offsets of the fields inside one tiled block (16 rows x 32 columns); 0 where the type has none.
struct LegacyTileLayout {
  int m, qh, qs, bytes;
};
LegacyTileLayout legacy_tile_layout(DType t);

// One row of n values (a multiple of 32) to f32, as ggml's dequantize_row_*.
void dequantize_row_legacy(DType t, const void* row, int64_t n, float* out);
// ggml's quantize_row_*_ref: the same scales, the same rounding.
void quantize_row_legacy(DType t, const float* x, int64_t n, void* out);

// pack.h's pack_tile and tiled_row_to_f32 for these types.
void pack_tile_legacy(DType t, const uint8_t* const* rows, int n_rows, int64_t cols, uint8_t* tile);
void tiled_row_to_f32_legacy(DType t, const uint8_t* tile, int r, int64_t cols, float* out);

// The activation blocks' sums xs_b (quantize_act's) turned into MatmulInput::xc in place: -16 xs_b for Q5_0,
// xs_b for Q4_1/Q5_1 (the rule above).
void legacy_input_corrections(DType t, int32_t* xc, int64_t n_blocks);

// sum_j q_j xq_j of row r of a tiled block (the rule's integer without c_b): the scalar reference.
int32_t legacy_block_dot(DType t, const uint8_t* blk, int r, const int8_t* xq);

namespace scalar {
void matmul_legacy_tiles(const Tensor& w, const MatmulInput& in, int64_t tile_begin, int64_t tile_end,
                         float* y, int64_t ldy);
}
namespace avx2 {
void matmul_legacy_tiles(const Tensor& w, const MatmulInput& in, int64_t tile_begin, int64_t tile_end,
                         float* y, int64_t ldy);
}
namespace avx512 {
void matmul_legacy_tiles(const Tensor& w, const MatmulInput& in, int64_t tile_begin, int64_t tile_end,
                         float* y, int64_t ldy);
}

}  // namespace qwen3::kernels
