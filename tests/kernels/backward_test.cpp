// The backward kernels (kernels/backward.h) of every ISA this CPU has against float64 definitions, over sizes
// 0 .. 2 x 16 + odd tails and misaligned offsets, with tolerances from the inputs' norms; the axpy-form
// products give the scalar table's bits on every ISA; weight_backward against the widened matrix for every
// stored dtype and a range of token counts (its token/column splits), and its independence of thread count.
#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <random>
#include <vector>

#include "core/dtype.h"
#include "core/error.h"
#include "core/file.h"
#include "core/half.h"
#include "core/thread_pool.h"
#include "kernels/backward.h"
#include "kernels/pack.h"

namespace qwen3::kernels {
namespace {

std::vector<Isa> isas() {
  std::vector<Isa> out;
  for (Isa i : {Isa::kScalar, Isa::kAvx2, Isa::kAvx512})
    if (isa_supported(i)) out.push_back(i);
  return out;
}

std::vector<float> randv(std::mt19937& rng, size_t n) {
  std::normal_distribution<float> d(0.0f, 1.0f);
  std::vector<float> v(n);
  for (float& x : v) x = d(rng);
  return v;
}

// A tiled matrix of dtype t from f32 values (rounded or quantised on the way).
struct Tiled {
  Tensor tensor;
  AlignedPtr<uint8_t> buf;
};
Tiled tile_matrix(const std::vector<float>& f, int64_t rows, int64_t cols, DType t) {
  Tiled m;
  m.tensor.dtype = t;
  m.tensor.rows = rows;
  m.tensor.cols = cols;
  m.tensor.tiled = true;
  m.buf = aligned_array<uint8_t>(m.tensor.bytes() + 64);
  m.tensor.data = m.buf.get();
  const size_t row_bytes = dtype_row_bytes(t, cols);
  std::vector<uint8_t> rowmajor(row_bytes * rows + 1);
  for (int64_t r = 0; r < rows; ++r)
    row_from_f32(f.data() + r * cols, cols, t, rowmajor.data() + r * row_bytes);
  for (int64_t i = 0; i < m.tensor.n_tiles(); ++i) {
    const uint8_t* ptrs[kTileRows];
    const int n = static_cast<int>(std::min<int64_t>(kTileRows, rows - i * kTileRows));
    for (int r = 0; r < n; ++r) ptrs[r] = rowmajor.data() + (i * kTileRows + r) * row_bytes;
    pack_tile(t, ptrs, n, cols, m.buf.get() + i * dtype_tile_bytes(t, cols));
  }
  return m;
}

constexpr int kSizes[] = {0, 1, 3, 4, 7, 8, 15, 16, 17, 31, 32, 33, 47};

TEST(Backward, DotAndAxpy) {
  std::mt19937 rng(1);
  for (Isa isa : isas()) {
    const BackwardTable& k = backward_table_for(isa);
    for (int n : kSizes)
      for (int off : {0, 1, 3}) {
        std::vector<float> a = randv(rng, n + off), b = randv(rng, n + off), y = randv(rng, n + off);
        double want = 0, norm = 0;
        for (int i = 0; i < n; ++i) {
          want += static_cast<double>(a[off + i]) * b[off + i];
          norm += std::fabs(static_cast<double>(a[off + i]) * b[off + i]);
        }
        EXPECT_NEAR(k.dot(a.data() + off, b.data() + off, n), want, 1e-6 * norm + 1e-30)
            << isa_name(isa) << " n=" << n;
        std::vector<float> y0 = y;
        k.axpy(0.37f, a.data() + off, y.data() + off, n);
        for (int i = 0; i < n; ++i) EXPECT_EQ(y[off + i], y0[off + i] + a[off + i] * 0.37f);
        for (int i = 0; i < off; ++i) EXPECT_EQ(y[i], y0[i]) << "wrote before the start";
      }
  }
}

TEST(Backward, MatrixProductsMatchFloat64AndTheScalarBits) {
  std::mt19937 rng(2);
  const BackwardTable& ref = backward_table_for(Isa::kScalar);
  for (Isa isa : isas()) {
    const BackwardTable& k = backward_table_for(isa);
    for (int n : {1, 3, 5})
      for (int m : {1, 4, 7, 16})
        for (int kin : kSizes) {
          const int ld = kin + 3;  // a leading dimension wider than the row
          std::vector<float> x = randv(rng, n * ld), w = randv(rng, m * kin + 1),
                             dy = randv(rng, n * (m + 2));
          // y = x W^T
          std::vector<float> y(n * (m + 2), -7.0f);
          k.matmul_nt(x.data(), ld, n, w.data(), kin, m, y.data(), m + 2);
          for (int t = 0; t < n; ++t)
            for (int j = 0; j < m; ++j) {
              double want = 0, norm = 0;
              for (int i = 0; i < kin; ++i) {
                want += static_cast<double>(x[t * ld + i]) * w[j * kin + i];
                norm += std::fabs(static_cast<double>(x[t * ld + i]) * w[j * kin + i]);
              }
              EXPECT_NEAR(y[t * (m + 2) + j], want, 1e-6 * norm + 1e-30) << isa_name(isa);
            }
          // dx += dy W, W with a leading dimension wider than its rows
          std::vector<float> wl(m * (kin + 1) + 1, 9.0f);
          for (int j = 0; j < m; ++j)
            for (int i = 0; i < kin; ++i) wl[j * (kin + 1) + i] = w[j * kin + i];
          std::vector<float> dx = randv(rng, n * ld), dx0 = dx, dxr = dx;
          k.matmul_nn_acc(dy.data(), m + 2, n, m, wl.data(), kin + 1, kin, dx.data(), ld);
          ref.matmul_nn_acc(dy.data(), m + 2, n, m, wl.data(), kin + 1, kin, dxr.data(), ld);
          EXPECT_EQ(0, std::memcmp(dx.data(), dxr.data(), dx.size() * 4)) << isa_name(isa) << " nn bits";
          for (int t = 0; t < n; ++t)
            for (int i = 0; i < ld; ++i) {
              double want = dx0[t * ld + i], norm = std::fabs(want);
              if (i < kin)
                for (int j = 0; j < m; ++j) {
                  want += static_cast<double>(dy[t * (m + 2) + j]) * w[j * kin + i];
                  norm += std::fabs(static_cast<double>(dy[t * (m + 2) + j]) * w[j * kin + i]);
                }
              EXPECT_NEAR(dx[t * ld + i], want, 1e-6 * norm + 1e-30) << isa_name(isa);
            }
          // dW += dy^T x over rows [1, m), dW with a leading dimension kin + 2 (the gap untouched)
          const int ldw = kin + 2;
          std::vector<float> dw = randv(rng, m * ldw), dw0 = dw, dwr = dw;
          k.matmul_tn_acc(dy.data(), m + 2, n, 1, m, x.data(), ld, kin, dw.data(), ldw);
          ref.matmul_tn_acc(dy.data(), m + 2, n, 1, m, x.data(), ld, kin, dwr.data(), ldw);
          EXPECT_EQ(0, std::memcmp(dw.data(), dwr.data(), dw.size() * 4)) << isa_name(isa) << " tn bits";
          for (int j = 0; j < m; ++j)
            for (int i = 0; i < ldw; ++i) {
              double want = dw0[j * ldw + i], norm = std::fabs(want);
              if (j >= 1 && i < kin)
                for (int t = 0; t < n; ++t) {
                  want += static_cast<double>(dy[t * (m + 2) + j]) * x[t * ld + i];
                  norm += std::fabs(static_cast<double>(dy[t * (m + 2) + j]) * x[t * ld + i]);
                }
              EXPECT_NEAR(dw[j * ldw + i], want, 1e-6 * norm + 1e-30) << isa_name(isa);
            }
        }
  }
}

// bf16 products (attention's in training on a rounding base): every ISA gives the scalar table's bits, which
// are the products of the bf16 values summed to within f32 rounding of float64; the gap between the rows and
// the columns past m untouched. Sizes across the 8-row and 32-column register blocks and their tails.
TEST(Backward, MatmulBf16AccMatchesFloat64AndTheScalarBits) {
  std::mt19937 rng(5);
  const BackwardTable& ref = backward_table_for(Isa::kScalar);
  for (Isa isa : isas()) {
    const BackwardTable& k = backward_table_for(isa);
    for (int n : {1, 3, 8, 13})
      for (int m : {1, 16, 17, 32, 45, 70})
        for (int kk : {2, 32, 130}) {
          const int lda = kk + 6, ldb = 2 * m + 10, ldc = m + 3;
          std::vector<uint16_t> a(n * lda), bp(kk / 2 * ldb);
          const std::vector<float> af = randv(rng, a.size()), bf = randv(rng, bp.size());
          for (size_t i = 0; i < a.size(); ++i) a[i] = f32_to_bf16(af[i]);
          for (size_t i = 0; i < bp.size(); ++i) bp[i] = f32_to_bf16(bf[i]);
          std::vector<float> c = randv(rng, n * ldc), c0 = c, cr = c;
          k.matmul_bf16_acc(a.data(), lda, n, kk, bp.data(), ldb, m, c.data(), ldc);
          ref.matmul_bf16_acc(a.data(), lda, n, kk, bp.data(), ldb, m, cr.data(), ldc);
          EXPECT_EQ(0, std::memcmp(c.data(), cr.data(), c.size() * 4))
              << isa_name(isa) << " n " << n << " m " << m << " k " << kk;
          for (int t = 0; t < n; ++t)
            for (int j = 0; j < ldc; ++j) {
              double want = c0[t * ldc + j], norm = std::fabs(want);
              if (j < m)
                for (int q = 0; q < kk; ++q) {
                  const double v = static_cast<double>(bf16_to_f32(a[t * lda + q])) *
                                   bf16_to_f32(bp[q / 2 * ldb + 2 * j + q % 2]);
                  want += v;
                  norm += std::fabs(v);
                }
              EXPECT_NEAR(c[t * ldc + j], want, 1e-6 * norm + 1e-30) << isa_name(isa);
            }
        }
  }
}

// dS rows from a pair row of bf16 probabilities: each ISA the scalar bits, which are the definition's.
TEST(Backward, DsoftmaxPairsMatchesTheDefinition) {
  std::mt19937 rng(6);
  const BackwardTable& ref = backward_table_for(Isa::kScalar);
  for (Isa isa : isas())
    for (int n : {1, 15, 16, 33, 100})
      for (int odd : {0, 1}) {
        std::vector<uint32_t> pw(n);
        const std::vector<float> p0 = randv(rng, n), p1 = randv(rng, n);
        for (int j = 0; j < n; ++j)
          pw[j] = f32_to_bf16(p0[j]) | static_cast<uint32_t>(f32_to_bf16(p1[j])) << 16;
        std::vector<float> x = randv(rng, n + 1), x0 = x, xr = x;
        backward_table_for(isa).dsoftmax_pairs(pw.data(), odd, x.data(), n, 0.3f, 0.125f);
        ref.dsoftmax_pairs(pw.data(), odd, xr.data(), n, 0.3f, 0.125f);
        EXPECT_EQ(0, std::memcmp(x.data(), xr.data(), x.size() * 4)) << isa_name(isa) << " n " << n;
        for (int j = 0; j < n; ++j) {
          const float p = bf16_to_f32(static_cast<uint16_t>(odd ? pw[j] >> 16 : pw[j] & 0xffff));
          EXPECT_EQ(x[j], p * (x0[j] - 0.3f) * 0.125f) << isa_name(isa) << " j " << j;
        }
        EXPECT_EQ(x[n], x0[n]);
      }
}

TEST(Backward, RmsNormAndSiluGradientsMatchTheDefinitions) {
  std::mt19937 rng(3);
  for (Isa isa : isas()) {
    const BackwardTable& k = backward_table_for(isa);
    for (int n : kSizes) {
      if (n == 0) continue;
      std::vector<float> x = randv(rng, n), w = randv(rng, n), dy = randv(rng, n), dx = randv(rng, n);
      std::vector<float> dx0 = dx;
      const float eps = 1e-6f;
      k.rmsnorm_backward(x.data(), w.data(), dy.data(), n, eps, dx.data());
      double ss = 0, gx = 0;
      for (int i = 0; i < n; ++i) {
        ss += static_cast<double>(x[i]) * x[i];
        gx += static_cast<double>(dy[i]) * w[i] * x[i];
      }
      const double r = 1.0 / std::sqrt(ss / n + eps);
      for (int i = 0; i < n; ++i) {
        const double want = dx0[i] + r * dy[i] * w[i] - x[i] * r * r * r * gx / n;
        EXPECT_NEAR(dx[i], want, 1e-5 * (std::fabs(dx0[i]) + r * std::fabs(dy[i] * w[i]) + 1))
            << isa_name(isa);
      }
      std::vector<float> g = randv(rng, n), u = randv(rng, n), dh = randv(rng, n), dg(n), du(n);
      for (float& v : g) v *= 4;
      k.silu_mul_backward(g.data(), u.data(), dh.data(), n, dg.data(), du.data());
      for (int i = 0; i < n; ++i) {
        const double s = 1.0 / (1.0 + std::exp(-static_cast<double>(g[i])));
        EXPECT_NEAR(du[i], dh[i] * g[i] * s, 1e-5 * std::fabs(dh[i] * g[i]) + 1e-30);
        EXPECT_NEAR(dg[i], dh[i] * u[i] * s * (1 + g[i] * (1 - s)),
                    1e-5 * std::fabs(dh[i] * u[i]) * 2 + 1e-30);
      }
    }
  }
}

// exp_affine of every ISA: the scalar table's bits, and within 4 ulp (relative 2^-21) of exp in double over
// the sizes with their tails, for the arguments of a softmax (x * a - b <= 0) and a few positive ones.
TEST(Backward, ExpAffineMatchesExpAndTheScalarBits) {
  std::mt19937 rng(8);
  const BackwardTable& ref = backward_table_for(Isa::kScalar);
  for (Isa isa : isas()) {
    const BackwardTable& k = backward_table_for(isa);
    for (int n : kSizes) {
      std::vector<float> x = randv(rng, n + 1);
      for (float& v : x) v *= 20;
      const float a = 0.088f, b = 1.5f;
      std::vector<float> y = x, yr = x;
      k.exp_affine(y.data() + 1, n, a, b);
      ref.exp_affine(yr.data() + 1, n, a, b);
      EXPECT_EQ(0, std::memcmp(y.data(), yr.data(), y.size() * 4)) << isa_name(isa) << " n=" << n;
      EXPECT_EQ(y[0], x[0]);
      for (int i = 1; i <= n; ++i) {
        const double want = std::exp(static_cast<double>(x[i] * a - b));
        EXPECT_NEAR(y[i], want, want * 0x1p-21) << isa_name(isa) << " x=" << x[i];
      }
    }
  }
}

// softmax_affine of every ISA against softmax in double: each value within 2^-20 relative (the exp's 4 ulp
// and the sum's rounding) plus its argument's rounding, the returned log-sum-exp within 1e-6; with c scaling
// the row (the loss's form) and a row long enough for several of the sum's blocks.
TEST(Backward, SoftmaxAffineMatchesSoftmaxInDouble) {
  std::mt19937 rng(9);
  for (Isa isa : isas()) {
    const BackwardTable& k = backward_table_for(isa);
    std::vector<int> sizes(std::begin(kSizes) + 1, std::end(kSizes));  // a row has at least one value
    sizes.push_back(5000);
    for (int n : sizes)
      for (float c : {1.0f, 0.25f}) {
        std::vector<float> x = randv(rng, n);
        for (float& v : x) v *= 20;
        const float a = 0.088f;
        std::vector<float> y = x;
        const float lse = k.softmax_affine(y.data(), n, a, c);
        double mx = -INFINITY, s = 0;
        for (float v : x) mx = std::max(mx, static_cast<double>(v * a));
        for (float v : x) s += std::exp(static_cast<double>(v * a) - mx);
        EXPECT_NEAR(lse, mx + std::log(s), 1e-6 * std::max(1.0, std::fabs(mx)))
            << isa_name(isa) << " n=" << n;
        for (int i = 0; i < n; ++i) {
          // the exp's 4 ulp and the sum's rounding, plus the f32 rounding of its argument x * a - max
          const double arg = static_cast<double>(x[i] * a) - mx, want = c * std::exp(arg) / s;
          ASSERT_NEAR(y[i], want, want * (0x1p-20 + std::fabs(arg) * 0x1p-23))
              << isa_name(isa) << " n=" << n << " i=" << i;
        }
      }
  }
}

// transpose_tile_bf16 of every ISA against pack.h's layouts element by element (it only moves bits), with
// gaps between the output blocks left untouched.
TEST(Backward, TransposeTileBf16MovesEveryValue) {
  std::mt19937 rng(6);
  for (Isa isa : isas()) {
    const BackwardTable& k = backward_table_for(isa);
    for (int64_t cols : {16, 32, 80}) {
      std::vector<uint16_t> tile(16 * cols);
      for (uint16_t& v : tile) v = static_cast<uint16_t>(rng());
      const int64_t stride = 256 + 32;
      std::vector<uint16_t> out(cols / 16 * stride, 0xabcd);
      k.transpose_tile_bf16(tile.data(), cols, out.data(), stride);
      for (int64_t c = 0; c < cols; ++c)
        for (int64_t r = 0; r < 16; ++r)
          ASSERT_EQ(out[(c / 16) * stride + ((r / 2) * 16 + c % 16) * 2 + r % 2],
                    tile[((c / 2) * 16 + r) * 2 + c % 2])
              << isa_name(isa) << " cols " << cols << " (" << r << ", " << c << ")";
      for (int64_t kt = 0; kt < cols / 16; ++kt)
        for (int64_t i = 256; i < stride; ++i) ASSERT_EQ(out[kt * stride + i], 0xabcd) << isa_name(isa);
    }
  }
}

// transpose_tile_q8_0 of every ISA against the definition: value (r, c) = bf16(d[r] * (q - 128)) at its place
// in the transposed bf16 tiles (scales of every magnitude an f16 holds, subnormals, infinities and NaNs
// included).
TEST(Backward, TransposeTileQ8_0MatchesTheDequantisedValues) {
  std::mt19937 rng(7);
  std::uniform_real_distribution<float> mag(-24.0f, 15.0f);
  for (Isa isa : isas()) {
    const BackwardTable& k = backward_table_for(isa);
    for (int64_t cols : {32, 96}) {
      std::vector<uint8_t> tile(cols / 32 * 16 * sizeof(BlockQ8_0));
      for (uint8_t& v : tile) v = static_cast<uint8_t>(rng());
      for (int64_t kb = 0; kb < cols / 32; ++kb)
        for (int r = 0; r < 16; ++r) {
          const uint16_t h = f32_to_f16((rng() & 1 ? -1.0f : 1.0f) * std::exp2(mag(rng)));
          std::memcpy(tile.data() + kb * 16 * sizeof(BlockQ8_0) + 2 * r, &h, 2);
        }
      const uint16_t inf = 0x7c00, nan = 0x7e01, neg_nan = 0xfd02;  // (inf * 0 is a NaN too)
      std::memcpy(tile.data() + 2 * 3, &inf, 2);
      std::memcpy(tile.data() + 2 * 6, &nan, 2);
      std::memcpy(tile.data() + 2 * 11, &neg_nan, 2);
      const int64_t stride = 256 + 32;
      std::vector<uint16_t> out(cols / 16 * stride, 0xabcd);
      k.transpose_tile_q8_0(tile.data(), cols, out.data(), stride);
      for (int64_t c = 0; c < cols; ++c)
        for (int64_t r = 0; r < 16; ++r) {
          const uint8_t* blk = tile.data() + (c / 32) * 16 * sizeof(BlockQ8_0);
          uint16_t h;
          std::memcpy(&h, blk + 2 * r, 2);
          const int q = blk[32 + (c % 32 / 4) * 64 + r * 4 + c % 4] - 128;
          ASSERT_EQ(out[(c / 16) * stride + ((r / 2) * 16 + c % 16) * 2 + r % 2],
                    f32_to_bf16(f16_to_f32(h) * q))
              << isa_name(isa) << " cols " << cols << " (" << r << ", " << c << ")";
        }
      for (int64_t kt = 0; kt < cols / 16; ++kt)
        for (int64_t i = 256; i < stride; ++i) ASSERT_EQ(out[kt * stride + i], 0xabcd) << isa_name(isa);
    }
  }
}

// weight_backward against float64 sums over the widened matrix, every stored dtype (bf16 with and without
// bf16_dot): exact f32 products within 1e-6 of the row's norm; where it rounds (weight_backward_rounds), of
// dy and W rounded to bf16 within 1e-5 (f32 sums of bf16 products), and then not within 2e-5 of the exact
// ones (the rounding is really there). The same bits on 1 and 2 threads, and from dy rounded beforehand
// (weight_backward_rounded); with add = false the product itself, whatever dx held.
void check_weight_backward(int64_t rows, int64_t cols, const std::vector<int>& ns, uint32_t seed) {
  std::mt19937 rng(seed);
  std::vector<float> wf = randv(rng, rows * cols);
  auto bf16r = [](double v) { return static_cast<double>(bf16_to_f32(f32_to_bf16(static_cast<float>(v)))); };
  for (DType dt : {DType::kF32, DType::kBF16, DType::kF16, DType::kQ8_0, DType::kQ4_0})
    for (bool bf16_dot : {false, true}) {
      if (bf16_dot && dt != DType::kBF16) continue;
      Tiled pm = tile_matrix(wf, rows, cols, dt);
      pm.tensor.bf16_dot = bf16_dot;
      const bool rounds = weight_backward_rounds(pm.tensor);
      EXPECT_EQ(rounds, bf16_dot || dt == DType::kQ8_0 || dt == DType::kQ4_0) << dtype_name(dt);
      std::vector<float> widened(rows * cols);
      for (int64_t r = 0; r < rows; ++r) row_to_f32(pm.tensor, r, widened.data() + r * cols);
      for (int n : ns) {
        std::vector<float> dy = randv(rng, n * rows), dx1(n * cols, 0.5f), dx2 = dx1;
        ThreadPool one(1), two(2);
        weight_backward(pm.tensor, dy.data(), n, dx1.data(), &one);
        weight_backward(pm.tensor, dy.data(), n, dx2.data(), &two);
        EXPECT_EQ(0, std::memcmp(dx1.data(), dx2.data(), dx1.size() * 4)) << dtype_name(dt) << " n=" << n;
        {  // add = false: dx = dy W whatever dx held (NaN here), the values added to zeros give
          std::vector<float> from_zero(n * cols, 0.0f), written(n * cols, NAN);
          weight_backward(pm.tensor, dy.data(), n, from_zero.data(), &two);
          weight_backward(pm.tensor, dy.data(), n, written.data(), &two, false);
          for (size_t i = 0; i < written.size(); ++i)
            ASSERT_EQ(from_zero[i], written[i]) << dtype_name(dt) << " n=" << n << " i=" << i;
        }
        if (rounds) {  // dy rounded beforehand (rows 2 values apart more than their width): the same bits
          const int64_t ld = rows + (rows & 1) + 2;
          std::vector<uint16_t> dyb(n * ld, 0x7fc0);  // NaN between the rows: must not be read
          for (int t = 0; t < n; ++t) active().round_bf16(dy.data() + t * rows, rows, dyb.data() + t * ld);
          std::vector<float> dx3(n * cols, 0.5f);
          weight_backward_rounded(pm.tensor, dyb.data(), ld, n, dx3.data(), &two);
          EXPECT_EQ(0, std::memcmp(dx1.data(), dx3.data(), dx1.size() * 4)) << dtype_name(dt) << " n=" << n;
        } else {
          EXPECT_THROW(weight_backward_rounded(pm.tensor, nullptr, rows, n, dx2.data(), &two), Error);
        }
        double far = 0;  // the largest distance from the exact product, relative to the norm
        for (int t = 0; t < n; ++t)
          for (int64_t i = 0; i < cols; ++i) {
            double want = 0.5, exact = 0.5, norm = 0.5;
            for (int64_t j = 0; j < rows; ++j) {
              const double g = dy[t * rows + j], v = widened[j * cols + i];
              want += rounds ? bf16r(g) * bf16r(v) : g * v;
              exact += g * v;
              norm += std::fabs(g * v);
            }
            ASSERT_NEAR(dx1[t * cols + i], want, (rounds ? 1e-5 : 1e-6) * norm)
                << dtype_name(dt) << (bf16_dot ? " bf16_dot" : "") << " n=" << n;
            far = std::max(far, std::fabs(dx1[t * cols + i] - exact) / norm);
          }
        if (rounds) {
          EXPECT_GT(far, 2e-5) << dtype_name(dt) << " n=" << n;
        }
      }
    }
}

// The pool's matmul_tn_acc (rows of dW in blocks of 4, or column ranges when dW has few rows; the reduction
// in blocks of tokens) gives the bits of one call of the active table's kernel over everything, on 1 and 2
// threads: LoRA's gA shape (16 rows, wide), its gB shape (many rows, 16 wide), 7 rows (rank 7: split by
// columns) and a ragged one.
TEST(Backward, PooledMatmulTnAccIsTheKernelsBits) {
  std::mt19937 rng(11);
  const BackwardTable& k = backward_active();
  struct Shape {
    int64_t n, m, k_in;
  };
  for (const Shape& sh : {Shape{150, 16, 1000}, Shape{150, 300, 16}, Shape{150, 7, 1000}, Shape{70, 7, 45}}) {
    const std::vector<float> dy = randv(rng, sh.n * sh.m), x = randv(rng, sh.n * sh.k_in);
    const std::vector<float> dw0 = randv(rng, sh.m * sh.k_in);
    std::vector<float> want = dw0, one_t = dw0, two_t = dw0;
    k.matmul_tn_acc(dy.data(), sh.m, sh.n, 0, sh.m, x.data(), sh.k_in, sh.k_in, want.data(), sh.k_in);
    ThreadPool one(1), two(2);
    matmul_tn_acc(dy.data(), sh.m, sh.n, sh.m, x.data(), sh.k_in, sh.k_in, one_t.data(), sh.k_in, &one);
    matmul_tn_acc(dy.data(), sh.m, sh.n, sh.m, x.data(), sh.k_in, sh.k_in, two_t.data(), sh.k_in, &two);
    EXPECT_EQ(0, std::memcmp(want.data(), one_t.data(), want.size() * 4)) << sh.m << "x" << sh.k_in;
    EXPECT_EQ(0, std::memcmp(want.data(), two_t.data(), want.size() * 4)) << sh.m << "x" << sh.k_in;
    EXPECT_NE(0, std::memcmp(want.data(), dw0.data(), want.size() * 4));
  }
}

TEST(Backward, WeightBackwardEveryDtypeAndThreadCount) {
  check_weight_backward(40, 64, {1, 2, 5, 64, 70, 300}, 4);  // 3 tiles (the last partial), two quant blocks
  check_weight_backward(39, 64, {1, 5, 70}, 5);              // odd rows: the pad of the last pair
}

TEST(Backward, WeightBackwardInBands) {
  check_weight_backward(4099, 64, {3, 37}, 5);  // bands of 4096 rows, the last odd (a padded pair)
}

}  // namespace
}  // namespace qwen3::kernels
