// Scalar reference kernels: the definition of what every SIMD kernel must compute (kernels.h states the
// arithmetic), the fallback on CPUs without AVX2. Every multiply-add is std::fma so that the SIMD kernels,
// which use fused multiply-add lanes, produce the same bits. Covered by tests/kernels/matmul_test.cpp.
#include <algorithm>
#include <cmath>
#include <cstring>

#include "core/half.h"
#include "kernels/elementwise_impl.h"
#include "kernels/kernels.h"
#include "kernels/matmul_fp8.h"
#include "kernels/matmul_k.h"
#include "kernels/pack.h"
#include "kernels/quant_k.h"
#include "kernels/quant_legacy.h"

namespace qwen3::kernels::scalar {

namespace {

constexpr int R = kTileRows;

// Weight (row r of the tile, column k) of a float-dtype tile.
float tile_weight(DType t, const uint8_t* tile, int r, int64_t k) {
  uint16_t h;
  switch (t) {
    case DType::kF32: {
      float f;
      std::memcpy(&f, tile + (k * R + r) * 4, 4);
      return f;
    }
    case DType::kF16:
      std::memcpy(&h, tile + (k * R + r) * 2, 2);
      return f16_to_f32(h);
    default:  // bf16 column pairs
      std::memcpy(&h, tile + (((k / 2) * R + r) * 2 + (k & 1)) * 2, 2);
      return bf16_to_f32(h);
  }
}

void matmul_float(const Tensor& w, const MatmulInput& in, int64_t tile_begin, int64_t tile_end, float* y,
                  int64_t ldy) {
  for (int64_t ti = tile_begin; ti < tile_end; ++ti) {
    const uint8_t* tile = w.tile(ti);
    const int n_rows = static_cast<int>(std::min<int64_t>(R, w.rows - ti * R));
    for (int64_t t = 0; t < in.n_tok; ++t) {
      const float* x = in.x + t * in.ldx;
      const uint16_t* xb = in.xb ? in.xb + t * in.ldxb : nullptr;
      for (int r = 0; r < n_rows; ++r) {
        float acc = 0;
        if (in.xb) {  // bf16 activations: vdpbf16ps's steps: the pair's odd product, then its even one
          for (int64_t k = 0; k < w.cols; k += 2) {
            const float w_odd = k + 1 < w.cols ? tile_weight(w.dtype, tile, r, k + 1) : 0.0f;
            acc = std::fma(w_odd, bf16_to_f32(xb[k + 1]), acc);
            acc = std::fma(tile_weight(w.dtype, tile, r, k), bf16_to_f32(xb[k]), acc);
          }
        } else {
          for (int64_t k = 0; k < w.cols; ++k) acc = std::fma(tile_weight(w.dtype, tile, r, k), x[k], acc);
        }
        y[t * ldy + ti * R + r] = acc;
      }
    }
  }
}

// Integer dot product of row r of block b with 32 quantised activations (exact), from the tiled bytes.
int32_t block_dot(DType t, const uint8_t* blk, int r, const int8_t* xq) {
  int32_t sum = 0;
  const uint8_t* q = blk + 2 * R;
  if (t == DType::kQ8_0) {
    for (int j = 0; j < kQuantBlock; ++j) sum += (q[(j / 4) * R * 4 + r * 4 + j % 4] - 128) * xq[j];
  } else {
    for (int g = 0; g < 4; ++g)
      for (int i = 0; i < 4; ++i) {
        const uint8_t v = q[g * R * 4 + r * 4 + i];
        sum += ((v & 0x0f) - 8) * xq[8 * g + i] + ((v >> 4) - 8) * xq[8 * g + 4 + i];
      }
  }
  return sum;
}

void matmul_quant(const Tensor& w, const MatmulInput& in, int64_t tile_begin, int64_t tile_end, float* y,
                  int64_t ldy) {
  const int64_t nb = w.cols / kQuantBlock;
  const size_t block_bytes = w.dtype == DType::kQ8_0 ? R * sizeof(BlockQ8_0) : R * sizeof(BlockQ4_0);
  for (int64_t ti = tile_begin; ti < tile_end; ++ti) {
    const uint8_t* tile = w.tile(ti);
    const int n_rows = static_cast<int>(std::min<int64_t>(R, w.rows - ti * R));
    for (int64_t t = 0; t < in.n_tok; ++t) {
      for (int r = 0; r < n_rows; ++r) {
        float acc = 0;
        for (int64_t b = 0; b < nb; ++b) {
          const uint8_t* blk = tile + b * block_bytes;
          uint16_t s;
          std::memcpy(&s, blk + 2 * r, 2);
          const int32_t dot = block_dot(w.dtype, blk, r, in.xq + t * w.cols + b * kQuantBlock);
          acc = std::fma(static_cast<float>(dot), f16_to_f32(s) * in.xd[t * nb + b], acc);
        }
        y[t * ldy + ti * R + r] = acc;
      }
    }
  }
}

void matmul_tiles(const Tensor& w, const MatmulInput& in, int64_t tile_begin, int64_t tile_end, float* y,
                  int64_t ldy) {
  if (w.dtype == DType::kF8E4M3)
    matmul_fp8_tiles(w, in, tile_begin, tile_end, y, ldy);
  else if (is_k_quant(w.dtype))
    matmul_k_tiles(w, in, tile_begin, tile_end, y, ldy);
  else if (is_legacy_quant(w.dtype))
    matmul_legacy_tiles(w, in, tile_begin, tile_end, y, ldy);
  else if (w.dtype == DType::kQ8_0 || w.dtype == DType::kQ4_0)
    matmul_quant(w, in, tile_begin, tile_end, y, ldy);
  else
    matmul_float(w, in, tile_begin, tile_end, y, ldy);
}

}  // namespace

void matmul_k_tiles(const Tensor& w, const MatmulInput& in, int64_t tile_begin, int64_t tile_end, float* y,
                    int64_t ldy) {
  const int64_t nb = w.cols / kSuperBlock, ng = w.cols / kKGroup;
  const size_t bb = dtype_row_bytes(w.dtype, kSuperBlock);
  for (int64_t ti = tile_begin; ti < tile_end; ++ti) {
    const uint8_t* tile = w.tile(ti);
    const int n_rows = static_cast<int>(std::min<int64_t>(R, w.rows - ti * R));
    for (int64_t t = 0; t < in.n_tok; ++t) {
      for (int r = 0; r < n_rows; ++r) {
        float acc = 0;
        for (int64_t b = 0; b < nb; ++b) {
          const uint8_t* blk = tile + (b * R + r) * bb;
          int32_t isum, msum;
          superblock_dot_k(w.dtype, blk, in.xq + t * w.cols + b * kSuperBlock,
                           in.xc + t * ng + b * (kSuperBlock / kKGroup), &isum, &msum);
          uint16_t d, dmin;
          superblock_scales_k(w.dtype, blk, &d, &dmin);
          const float dx = in.xd[t * nb + b];
          acc = std::fma(static_cast<float>(isum), f16_to_f32(d) * dx, acc);
          if (k_quant_has_min(w.dtype)) acc = std::fma(static_cast<float>(-msum), f16_to_f32(dmin) * dx, acc);
        }
        y[t * ldy + ti * R + r] = acc;
      }
    }
  }
}

void round_bf16(const float* x, int64_t n, uint16_t* out) {
  for (int64_t i = 0; i < n; ++i) {
    uint32_t bits;
    std::memcpy(&bits, &x[i], 4);
    // vdpbf16ps treats denormal inputs as zero: flush them here so that every ISA sees the same values.
    out[i] = (bits & 0x7f800000u) == 0 ? static_cast<uint16_t>((bits >> 16) & 0x8000u) : f32_to_bf16(x[i]);
  }
}

void to_f16(const float* x, int64_t n, uint16_t* out) {
  for (int64_t i = 0; i < n; ++i) out[i] = f32_to_f16(x[i]);
}

void quantize_act(const float* x, int64_t n, int8_t* xq, float* xd, int32_t* xs) {
  quantize_activations(x, 1, n, xq, xd, xs);
}

const KernelTable kTable = {matmul_tiles,
                            nullptr,
                            round_bf16,
                            to_f16,
                            quantize_row_q8_0,
                            quantize_act,
                            quantize_activations_k,
                            silu_mul_lanes<4>,
                            rmsnorm_lanes<4>,
                            rope_neox_lanes<4>,
                            add_lanes<4>,
                            add_scaled_lanes<4>};

}  // namespace qwen3::kernels::scalar
