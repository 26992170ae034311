// Dispatch of the backward kernels (backward.h) and their splits over the thread pool.
#include "kernels/backward.h"

#include <algorithm>
#include <cstring>
#include <vector>

#include "core/error.h"
#include "core/file.h"
#include "core/half.h"

namespace qwen3::kernels {

const BackwardTable& backward_table_for(Isa isa) {
  QWEN3_CHECK(isa_supported(isa), "ISA %s is not available on this CPU", isa_name(isa));
  switch (isa) {
    case Isa::kAvx512:
      return avx512::kBackward;
    case Isa::kAvx2:
      return avx2::kBackward;
    case Isa::kScalar:
      break;
  }
  return scalar::kBackward;
}

const BackwardTable& backward_active() {
  static const BackwardTable& table = backward_table_for(active_isa());
  return table;
}

void matmul_nt(const float* x, int64_t ldx, int64_t n, const float* w, int64_t k_in, int64_t m, float* y,
               int64_t ldy, ThreadPool* pool) {
  const BackwardTable& k = backward_active();
  parallel_for(pool, n, [&](int64_t t0, int64_t t1) {
    k.matmul_nt(x + t0 * ldx, ldx, t1 - t0, w, k_in, m, y + t0 * ldy, ldy);
  });
}

void matmul_nn_acc(const float* dy, int64_t lddy, int64_t n, int64_t m, const float* w, int64_t ldw,
                   int64_t k_in, float* dx, int64_t lddx, ThreadPool* pool) {
  const BackwardTable& k = backward_active();
  parallel_for(pool, n, [&](int64_t t0, int64_t t1) {
    k.matmul_nn_acc(dy + t0 * lddy, lddy, t1 - t0, m, w, ldw, k_in, dx + t0 * lddx, lddx);
  });
}

// Each thread takes whole blocks of 4 rows of dW (the kernel's register block: x is read once per block),
// or, when dW has too few rows for that (LoRA's gA: r = 16 rows), a range of its columns; and the reduction
// over t runs in blocks of kTBlock rows, each block's product added to dW in turn, so a thread's share of x
// stays in cache across its row blocks. Neither changes any element's fused multiply-adds or their order. (A
// split of 16 rows into 8 chunks had every row read all of x from memory: gA took a tenth of a training
// step.)
void matmul_tn_acc(const float* dy, int64_t lddy, int64_t n, int64_t m, const float* x, int64_t ldx,
                   int64_t k_in, float* dw, int64_t lddw, ThreadPool* pool) {
  constexpr int64_t kTBlock = 64, kRowBlock = 4, kColBlock = 32;
  const BackwardTable& k = backward_active();
  const int threads = pool ? pool->size() : 1;
  const auto run = [&](int64_t j0, int64_t j1, int64_t c0, int64_t c1) {
    for (int64_t t0 = 0; t0 < n; t0 += kTBlock)
      k.matmul_tn_acc(dy + t0 * lddy, lddy, std::min(kTBlock, n - t0), j0, j1, x + t0 * ldx + c0, ldx,
                      c1 - c0, dw + c0, lddw);
  };
  const int64_t row_blocks = (m + kRowBlock - 1) / kRowBlock, col_blocks = (k_in + kColBlock - 1) / kColBlock;
  if (row_blocks >= 2 * threads || col_blocks < 2 * threads) {
    parallel_for(pool, row_blocks,
                 [&](int64_t b0, int64_t b1) { run(b0 * kRowBlock, std::min(m, b1 * kRowBlock), 0, k_in); });
  } else {
    parallel_for(
        pool, col_blocks,
        [&](int64_t b0, int64_t b1) { run(0, m, b0 * kColBlock, std::min(k_in, b1 * kColBlock)); }, 1);
  }
}

namespace {

// Tile `ti` of w as f32 rows [kTileRows][cols] (pack.h's tiled layouts): f32, f16 and bf16 read in one pass
// over the tile; quantised tiles row by row through row_to_f32.
void tile_to_rows(const Tensor& w, int64_t ti, int64_t nr, float* out) {
  const int64_t cols = w.cols;
  constexpr int R = kTileRows;
  if (!w.tiled) {
    for (int64_t r = 0; r < nr; ++r) row_to_f32(w, ti * R + r, out + r * cols);
    return;
  }
  const uint8_t* tile = w.tile(ti);
  switch (w.dtype) {
    case DType::kF32: {
      const float* p = reinterpret_cast<const float*>(tile);
      for (int64_t k = 0; k < cols; ++k)
        for (int64_t r = 0; r < nr; ++r) out[r * cols + k] = p[k * R + r];
      return;
    }
    case DType::kF16: {
      const uint16_t* p = reinterpret_cast<const uint16_t*>(tile);
      for (int64_t k = 0; k < cols; ++k)
        for (int64_t r = 0; r < nr; ++r) out[r * cols + k] = f16_to_f32(p[k * R + r]);
      return;
    }
    case DType::kBF16: {
      const uint16_t* p = reinterpret_cast<const uint16_t*>(tile);
      for (int64_t k2 = 0; k2 < cols; k2 += 2)
        for (int64_t r = 0; r < nr; ++r) {
          out[r * cols + k2] = bf16_to_f32(p[((k2 / 2) * R + r) * 2]);
          if (k2 + 1 < cols) out[r * cols + k2 + 1] = bf16_to_f32(p[((k2 / 2) * R + r) * 2 + 1]);
        }
      return;
    }
    default:
      for (int64_t r = 0; r < nr; ++r) row_to_f32(w, ti * R + r, out + r * cols);
  }
}

// Rows [r0, r0 + nb) of w (r0 a multiple of 16) as the bf16 tiles of their transpose: a tiled [w.cols, nb]
// bf16 matrix (pack.h: tile tc holds columns 16tc.. of w, element (c, j) of the band at ((j/2)*16 + c%16)*2 +
// j%2), w's values rounded to bf16 (exact for bf16). One job per tile of w, each writing its own pairs.
void transpose_band_bf16(const Tensor& w, int64_t r0, int64_t nb, uint16_t* out, ThreadPool* pool) {
  const int64_t cols = w.cols, ldp = nb + (nb & 1), tile_elems = int64_t{kTileRows} * ldp;
  const int64_t n_tiles = (nb + kTileRows - 1) / kTileRows;
  const BackwardTable& kb = backward_active();
  if (nb & 1)  // the pad of the last pair: zero
    for (int64_t c = 0; c < cols; ++c) out[(c / 16) * tile_elems + ((nb / 2) * 16 + c % 16) * 2 + 1] = 0;
  parallel_for(pool, n_tiles, [&](int64_t i0, int64_t i1) {
    thread_local std::vector<float> rows;
    for (int64_t i = i0; i < i1; ++i) {
      const int64_t ti = r0 / kTileRows + i, nr = std::min<int64_t>(kTileRows, nb - i * kTileRows);
      const int64_t jp0 = i * kTileRows / 2;  // the tile's first pair in the band
      if (w.tiled && w.dtype == DType::kBF16 && nr == kTileRows && cols % 16 == 0) {
        kb.transpose_tile_bf16(reinterpret_cast<const uint16_t*>(w.tile(ti)), cols, out + jp0 * 32,
                               tile_elems);
        continue;
      }
      if (w.tiled && w.dtype == DType::kBF16) {
        // a bf16 tile is [cols/2][16 rows][2]: element (r, k) at ((k/2)*16 + r)*2 + k%2
        const uint16_t* p = reinterpret_cast<const uint16_t*>(w.tile(ti));
        for (int64_t k = 0; k < cols; ++k) {
          uint16_t* o = out + (k / 16) * tile_elems + (jp0 * 16 + k % 16) * 2;
          const uint16_t* src = p + (k / 2) * 32 + (k & 1);
          for (int64_t r = 0; r < nr; ++r) o[(r / 2) * 32 + (r & 1)] = src[r * 2];
        }
        continue;
      }
      if (w.tiled && w.dtype == DType::kQ8_0 && nr == kTileRows) {
        kb.transpose_tile_q8_0(w.tile(ti), cols, out + jp0 * 32, tile_elems);
        continue;
      }
      if (w.tiled && w.dtype == DType::kQ8_0) {
        // a q8_0 tile: per 32-column block, [16] f16 scales, then 8 groups of [16 rows][4] bytes q + 128
        // (tiled_row_to_f32's values, without widening whole rows first)
        for (int64_t kb = 0; kb < cols / kQuantBlock; ++kb) {
          const uint8_t* blk = w.tile(ti) + kb * kTileRows * sizeof(BlockQ8_0);
          float d[kTileRows];
          for (int64_t r = 0; r < nr; ++r) {
            uint16_t h;
            std::memcpy(&h, blk + 2 * r, 2);
            d[r] = f16_to_f32(h);
          }
          for (int64_t j = 0; j < kQuantBlock; ++j) {
            const int64_t k = kb * kQuantBlock + j;
            uint16_t* o = out + (k / 16) * tile_elems + (jp0 * 16 + k % 16) * 2;
            const uint8_t* src = blk + 2 * kTileRows + (j / 4) * kTileRows * 4 + j % 4;
            for (int64_t r = 0; r < nr; ++r)
              o[(r / 2) * 32 + (r & 1)] = f32_to_bf16(d[r] * (src[r * 4] - 128));
          }
        }
        continue;
      }
      rows.resize(static_cast<size_t>(kTileRows * cols));
      tile_to_rows(w, ti, nr, rows.data());
      for (int64_t k = 0; k < cols; ++k) {
        uint16_t* o = out + (k / 16) * tile_elems + (jp0 * 16 + k % 16) * 2;
        for (int64_t r = 0; r < nr; ++r) o[(r / 2) * 32 + (r & 1)] = f32_to_bf16(rows[r * cols + k]);
      }
    }
  });
}

// dx += dy W in bf16 arithmetic: bands of kBand rows of w transposed into bf16 tiles, their columns of dy
// rounded to bf16 (or taken from dyb [n, lddyb], dy already rounded), multiplied by the forward pass's bf16
// kernel (kernels.h's vdpbf16ps arithmetic), each band's product added to dx in band order (add = false: the
// first band's written to dx directly).
void weight_backward_bf16(const Tensor& w, const float* dy, const uint16_t* dyb, int64_t lddyb, int64_t n,
                          float* dx, ThreadPool* pool, bool add) {
  constexpr int64_t kBand = 4096;  // rows of w per band: every layer matrix of Qwen3 in one, lm_head in 38
  const KernelTable& k = active();
  const int64_t rows = w.rows, cols = w.cols;
  const int64_t band = std::min(kBand, rows), ld = band + (band & 1);
  thread_local HugeVector<uint16_t> xb, wt;
  thread_local HugeVector<float> y;
  y.resize(static_cast<size_t>(n * cols));
  wt.resize(static_cast<size_t>(dtype_tile_bytes(DType::kBF16, band) / 2 * ((cols + 15) / 16)));
  uint16_t* t = wt.data();
  float* yp = y.data();
  for (int64_t r0 = 0; r0 < rows; r0 += kBand) {
    const int64_t nb = std::min(kBand, rows - r0);
    MatmulInput in;
    in.n_tok = n;
    if (dyb && nb % 2 == 0) {  // (an odd band needs its zero pad value: copied below)
      in.xb = dyb + r0;
      in.ldxb = lddyb;
    } else {
      xb.resize(static_cast<size_t>(n * ld));
      uint16_t* b = xb.data();
      parallel_for(pool, n, [&](int64_t t0, int64_t t1) {
        for (int64_t i = t0; i < t1; ++i) {
          if (dyb) {
            std::copy_n(dyb + i * lddyb + r0, nb, b + i * ld);
            if (nb & 1) b[i * ld + nb] = 0;
          } else {
            round_activations_bf16(k, dy + i * rows + r0, 1, nb, b + i * ld);
          }
        }
      });
      in.xb = b;
      in.ldxb = ld;
    }
    transpose_band_bf16(w, r0, nb, t, pool);
    Tensor wt_band;
    wt_band.dtype = DType::kBF16;
    wt_band.rows = cols;
    wt_band.cols = nb;
    wt_band.data = t;
    wt_band.tiled = true;
    wt_band.bf16_dot = true;
    if (!add && r0 == 0) {  // the first band's product is dx
      matmul_prepared(wt_band, in, dx, pool);
      continue;
    }
    matmul_prepared(wt_band, in, yp, pool);
    parallel_for(pool, n, [&](int64_t t0, int64_t t1) {
      for (int64_t i = t0; i < t1; ++i) k.add(dx + i * cols, yp + i * cols, cols);
    });
  }
}

}  // namespace

void weight_backward_rounded(const Tensor& w, const uint16_t* dyb, int64_t lddyb, int64_t n, float* dx,
                             ThreadPool* pool) {
  QWEN3_CHECK(weight_backward_rounds(w), "weight_backward_rounded: a %s matrix is multiplied exactly",
              dtype_name(w.dtype));
  if (n > 0 && w.rows > 0) weight_backward_bf16(w, nullptr, dyb, lddyb, n, dx, pool, true);
}

bool weight_backward_rounds(const Tensor& w) {
  return (w.dtype == DType::kBF16 && w.bf16_dot) || w.dtype == DType::kQ8_0 || w.dtype == DType::kQ4_0 ||
         is_k_quant(w.dtype);
}

// Exact: blocks of kTokBlock tokens, each job one block: it widens every tile of W in turn (16 rows to f32, a
// thread-local buffer) and adds the tile's share to its tokens' rows of dx. A block's dx rows (64 x cols
// floats) stay in cache across the tiles.
void weight_backward(const Tensor& w, const float* dy, int64_t n, float* dx, ThreadPool* pool, bool add) {
  if (n <= 0) return;
  if (w.rows > 0 && weight_backward_rounds(w))
    return weight_backward_bf16(w, dy, nullptr, 0, n, dx, pool, add);
  if (!add) std::fill_n(dx, n * w.cols, 0.0f);
  if (w.rows == 0) return;
  constexpr int64_t kTokBlock = 64;
  const BackwardTable& k = backward_active();
  const int64_t n_blocks = (n + kTokBlock - 1) / kTokBlock, cols = w.cols, rows = w.rows;
  // Few blocks (short sequences): split the columns instead, so both threads work; each column of dx is
  // still one thread's, summed over the rows in order.
  const int64_t n_col_jobs =
      n_blocks >= 4 || !pool ? 1 : std::max<int64_t>(1, std::min<int64_t>(8, cols / 64));
  parallel_for(pool, n_blocks * n_col_jobs, [&](int64_t j0, int64_t j1) {
    thread_local std::vector<float> tile;
    tile.resize(static_cast<size_t>(kTileRows * cols));
    for (int64_t j = j0; j < j1; ++j) {
      const int64_t b = j / n_col_jobs, c = j % n_col_jobs;
      const int64_t t0 = b * kTokBlock, nt = std::min(kTokBlock, n - t0);
      const int64_t c0 = cols * c / n_col_jobs, c1 = cols * (c + 1) / n_col_jobs;
      for (int64_t r0 = 0; r0 < rows; r0 += kTileRows) {
        const int64_t nr = std::min<int64_t>(kTileRows, rows - r0);
        tile_to_rows(w, r0 / kTileRows, nr, tile.data());
        // the tile's rows [nr, cols] from column c0: a matrix with leading dimension cols
        std::vector<float> sub;
        if (c0 != 0 || c1 != cols) {
          sub.resize(static_cast<size_t>(nr * (c1 - c0)));
          for (int64_t r = 0; r < nr; ++r)
            std::copy(tile.data() + r * cols + c0, tile.data() + r * cols + c1, sub.data() + r * (c1 - c0));
        }
        const float* wt = sub.empty() ? tile.data() : sub.data();
        k.matmul_nn_acc(dy + t0 * rows + r0, rows, nt, nr, wt, c1 - c0, c1 - c0, dx + t0 * cols + c0, cols);
      }
    }
  });
}

}  // namespace qwen3::kernels
