// The k-quant (Q4_K, Q5_K, Q6_K) matmul kernels of each ISA: KernelTable::matmul_tiles's contract
// (kernels.h) for tiled k-quant weights (pack.h) and the activations quantize_activations_k gives
// (MatmulInput: xq int8 [n_tok, cols], xd [n_tok, cols / 256] scales, xc [n_tok, cols / 16] group sums).
// quant_k.h states the arithmetic; every ISA gives the scalar reference's bits
// (tests/kernels/matmul_test.cpp).
#pragma once

#include "kernels/kernels.h"

namespace qwen3::kernels {
namespace scalar {
void matmul_k_tiles(const Tensor& w, const MatmulInput& in, int64_t tile_begin, int64_t tile_end, float* y,
                    int64_t ldy);
}
namespace avx2 {
void matmul_k_tiles(const Tensor& w, const MatmulInput& in, int64_t tile_begin, int64_t tile_end, float* y,
                    int64_t ldy);
}
namespace avx512 {
void matmul_k_tiles(const Tensor& w, const MatmulInput& in, int64_t tile_begin, int64_t tile_end, float* y,
                    int64_t ldy);
}
}  // namespace qwen3::kernels
