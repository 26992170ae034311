// The FP8 E4M3 matmul kernels of each ISA: KernelTable::matmul_tiles's contract (kernels.h) for tiled
// f8_e4m3 weights and bf16 activations (MatmulInput::xb, [n_tok, ldxb] with ldxb = cols rounded up to 128
// and the pad zero: prepare_input).
//
// Tile layout (pack.h): per block b of 128 columns, 2,112 bytes: the 16 rows' f32 scales, then 32 groups of
// 64 bytes; group g holds columns 4g..4g+3 of the 16 rows, column 4g + 2p + c of row r at byte
// 16 (r / 4) + 8 p + 2 (r % 4) + c (fp8_group_byte): the order in which vpunpcklbw/vpunpckhbw of the bytes'
// bf16 halves give, per 32-bit lane r, row r's bf16 pair (4g, 4g+1) (p = 0) and (4g+2, 4g+3) (p = 1).
//
// Arithmetic, per output (row, token), the same on every ISA (scalar::matmul_fp8_tiles is the reference):
// weights e4m3 -> bf16 exactly (core/fp8.h); per block b four partial sums s[c], c = 2 (g % 2) + p, each
// from 0, over g = 0..31 in order: s[c] = fma(w[k+1], x[k+1], s[c]); s[c] = fma(w[k], x[k], s[c]) with
// k = 128 b + 4 g + 2 p (vdpbf16ps's steps: odd product first); then y = fma((s0 + s1) + (s2 + s3),
// scale[row, b], y) from y = 0. Four chains per block hide vdpbf16ps's latency when a single token streams
// the weights. Tests: tests/kernels/fp8_test.cpp (every ISA bit for bit against the scalar reference).
#pragma once

#include "kernels/kernels.h"

namespace qwen3::kernels {

constexpr int kFp8Groups = kFp8Block / 4;
// Bytes of one 128-column block of a tile: 16 scales and 16 x 128 values.
constexpr size_t kFp8TileBlock = kTileRows * sizeof(BlockF8E4M3);

// Offset of (row r, column j of the block) among a tile block's 2,048 value bytes (after the scales).
constexpr int fp8_group_byte(int r, int j) {
  return (j / 4) * 64 + 16 * (r / 4) + 8 * ((j % 4) / 2) + 2 * (r % 4) + (j % 2);
}

// Activation row width the kernels read: cols rounded up to whole 128-column blocks.
inline int64_t fp8_padded_cols(int64_t cols) {
  return (cols + kFp8Block - 1) / kFp8Block * kFp8Block;
}

namespace scalar {
void matmul_fp8_tiles(const Tensor& w, const MatmulInput& in, int64_t tile_begin, int64_t tile_end, float* y,
                      int64_t ldy);
}
namespace avx2 {
void matmul_fp8_tiles(const Tensor& w, const MatmulInput& in, int64_t tile_begin, int64_t tile_end, float* y,
                      int64_t ldy);
}
namespace avx512 {
void matmul_fp8_tiles(const Tensor& w, const MatmulInput& in, int64_t tile_begin, int64_t tile_end, float* y,
                      int64_t ldy);
}

}  // namespace qwen3::kernels
