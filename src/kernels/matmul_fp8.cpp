// The scalar FP8 E4M3 matmul: the reference of matmul_fp8.h's arithmetic, which the AVX2 and AVX-512
// kernels reproduce bit for bit (tests/kernels/fp8_test.cpp), and the fallback on CPUs without them.
#include <algorithm>
#include <cmath>
#include <cstring>

#include "core/fp8.h"
#include "core/half.h"
#include "kernels/matmul_fp8.h"

namespace qwen3::kernels::scalar {

void matmul_fp8_tiles(const Tensor& w, const MatmulInput& in, int64_t tile_begin, int64_t tile_end, float* y,
                      int64_t ldy) {
  constexpr int R = kTileRows;
  const int64_t nb = (w.cols + kFp8Block - 1) / kFp8Block;
  for (int64_t ti = tile_begin; ti < tile_end; ++ti) {
    const uint8_t* tile = w.tile(ti);
    const int n_rows = static_cast<int>(std::min<int64_t>(R, w.rows - ti * R));
    for (int64_t t = 0; t < in.n_tok; ++t) {
      const uint16_t* xb = in.xb + t * in.ldxb;
      for (int r = 0; r < n_rows; ++r) {
        float acc = 0;
        for (int64_t b = 0; b < nb; ++b) {
          const uint8_t* blk = tile + b * kFp8TileBlock;
          const uint8_t* q = blk + R * 4;
          float scale;
          std::memcpy(&scale, blk + 4 * r, 4);
          float s[4] = {0, 0, 0, 0};
          for (int g = 0; g < kFp8Groups; ++g) {
            for (int p = 0; p < 2; ++p) {
              const int j = 4 * g + 2 * p;
              const int64_t k = b * kFp8Block + j;
              float& sc = s[2 * (g % 2) + p];
              sc = std::fma(bf16_to_f32(fp8_e4m3_to_bf16(q[fp8_group_byte(r, j + 1)])),
                            bf16_to_f32(xb[k + 1]), sc);
              sc = std::fma(bf16_to_f32(fp8_e4m3_to_bf16(q[fp8_group_byte(r, j)])), bf16_to_f32(xb[k]), sc);
            }
          }
          acc = std::fma((s[0] + s[1]) + (s[2] + s[3]), scale, acc);
        }
        y[t * ldy + ti * R + r] = acc;
      }
    }
  }
}

}  // namespace qwen3::kernels::scalar
