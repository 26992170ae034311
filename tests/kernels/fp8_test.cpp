// The f8_e4m3 matmul (kernels/matmul_fp8.h) on weights of random bytes, so that every e4m3 value (zeros,
// subnormals, the largest normals, both signs) is converted in registers: every ISA bit for bit against the
// scalar reference and the scalar reference against a float64 product of the exactly decoded weights; a NaN
// weight (0x7f, 0xff) makes its row NaN on every ISA; the tiled layout gives back each row. The random-value
// matrices of matmul_test.cpp cover the sizes, offsets and batch invariance.
#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <random>
#include <vector>

#include "core/file.h"
#include "core/fp8.h"
#include "core/half.h"
#include "kernels/kernels.h"
#include "kernels/matmul_fp8.h"
#include "kernels/pack.h"

namespace qwen3::kernels {
namespace {

std::vector<Isa> isas() {
  std::vector<Isa> v;
  for (Isa i : {Isa::kScalar, Isa::kAvx2, Isa::kAvx512})
    if (isa_supported(i)) v.push_back(i);
  return v;
}

// The exact value of e4m3 code b, from its definition.
double e4m3_value(uint8_t b) {
  const int e = (b >> 3) & 15, m = b & 7;
  const double v = e == 0 ? std::ldexp(m, -9) : std::ldexp(1.0 + m / 8.0, e - 7);
  return b & 0x80 ? -v : v;
}

struct Fp8Matrix {
  Tensor w;
  AlignedPtr<uint8_t> buf;
  std::vector<BlockF8E4M3> rows;  // row-major [rows][ceil(cols / 128)]
  int64_t nb = 0;
};

// Random bytes (NaN codes replaced by `nan_free`), one random power-of-two-ish scale per row block.
Fp8Matrix make(int64_t rows, int64_t cols, uint32_t seed, bool with_nan) {
  std::mt19937 rng(seed);
  Fp8Matrix m;
  m.nb = (cols + kFp8Block - 1) / kFp8Block;
  m.rows.resize(static_cast<size_t>(rows * m.nb));
  std::uniform_real_distribution<float> scale(0.001f, 0.01f);
  for (int64_t r = 0; r < rows; ++r)
    for (int64_t b = 0; b < m.nb; ++b) {
      BlockF8E4M3& blk = m.rows[r * m.nb + b];
      blk.scale = scale(rng);
      std::memset(blk.q, 0, kFp8Block);
      for (int64_t j = 0; j < std::min<int64_t>(kFp8Block, cols - b * kFp8Block); ++j) {
        uint8_t v = static_cast<uint8_t>(rng());
        if (!with_nan && (v & 0x7f) == 0x7f) v ^= 1;
        blk.q[j] = v;
      }
    }
  m.w.dtype = DType::kF8E4M3;
  m.w.rows = rows;
  m.w.cols = cols;
  m.w.tiled = true;
  m.buf = aligned_array<uint8_t>(m.w.bytes());
  m.w.data = m.buf.get();
  for (int64_t i = 0; i < m.w.n_tiles(); ++i) {
    const uint8_t* ptrs[kTileRows];
    const int n = static_cast<int>(std::min<int64_t>(kTileRows, rows - i * kTileRows));
    for (int r = 0; r < n; ++r)
      ptrs[r] = reinterpret_cast<const uint8_t*>(&m.rows[(i * kTileRows + r) * m.nb]);
    pack_tile(DType::kF8E4M3, ptrs, n, cols, m.buf.get() + i * dtype_tile_bytes(DType::kF8E4M3, cols));
  }
  return m;
}

std::vector<float> run(Isa isa, const Fp8Matrix& m, const std::vector<float>& x, int64_t n_tok,
                       ThreadPool* pool) {
  std::vector<float> y(static_cast<size_t>(n_tok * m.w.rows), -7.0f);
  matmul_with(table_for(isa), m.w, x.data(), n_tok, y.data(), m.w.rows, pool);
  return y;
}

TEST(Fp8Matmul, RandomBytesEveryIsaMatchesScalarAndFloat64) {
  ThreadPool pool(2);
  for (auto [rows, cols, n_tok] :
       {std::tuple{16, 128, 1}, std::tuple{33, 384, 1}, std::tuple{40, 1000, 1}, std::tuple{17, 250, 5},
        std::tuple{48, 640, 9}, std::tuple{20, 128, 70}, std::tuple{40, 256, 150}}) {
    SCOPED_TRACE(::testing::Message() << "rows " << rows << " cols " << cols << " n_tok " << n_tok);
    Fp8Matrix m = make(rows, cols, static_cast<uint32_t>(rows * 31 + cols), false);
    std::mt19937 rng(static_cast<uint32_t>(cols + n_tok));
    std::normal_distribution<float> g(0.0f, 1.0f);
    std::vector<float> x(static_cast<size_t>(n_tok * cols));
    for (auto& v : x) v = g(rng);
    const std::vector<float> ref = run(Isa::kScalar, m, x, n_tok, nullptr);
    int bad = 0;
    for (int64_t t = 0; t < n_tok; ++t)
      for (int64_t r = 0; r < rows; ++r) {
        double exact = 0, abs_sum = 0;  // weights exact, activations rounded to bf16 (the kernels' input)
        for (int64_t k = 0; k < cols; ++k) {
          const BlockF8E4M3& blk = m.rows[r * m.nb + k / kFp8Block];
          const double xb = bf16_to_f32(f32_to_bf16(x[t * cols + k]));
          const double p = e4m3_value(blk.q[k % kFp8Block]) * blk.scale * xb;
          exact += p;
          abs_sum += std::fabs(p);
        }
        const double err = std::fabs(ref[t * rows + r] - exact);
        bad += err > 2.0 * cols * std::ldexp(1.0, -24) * abs_sum + 1e-30;
      }
    EXPECT_EQ(bad, 0) << "scalar vs float64";
    for (Isa isa : isas()) {
      const std::vector<float> y = run(isa, m, x, n_tok, &pool);
      int diff = 0;
      for (size_t i = 0; i < y.size(); ++i) diff += std::memcmp(&y[i], &ref[i], 4) != 0;
      EXPECT_EQ(diff, 0) << isa_name(isa) << ": elements differing from the scalar reference";
    }
  }
}

TEST(Fp8Matmul, NanWeightGivesNanRowOnEveryIsa) {
  for (int64_t n_tok : {1, 3}) {
    Fp8Matrix m = make(16, 256, 5, false);
    m.rows[3 * m.nb + 1].q[17] = 0x7f;
    m.rows[9 * m.nb + 0].q[100] = 0xff;
    const uint8_t* ptrs[kTileRows];
    for (int r = 0; r < kTileRows; ++r) ptrs[r] = reinterpret_cast<const uint8_t*>(&m.rows[r * m.nb]);
    pack_tile(DType::kF8E4M3, ptrs, kTileRows, 256, m.buf.get());
    std::vector<float> x(static_cast<size_t>(n_tok * 256), 0.5f);
    for (Isa isa : isas()) {
      const std::vector<float> y = run(isa, m, x, n_tok, nullptr);
      for (int64_t t = 0; t < n_tok; ++t)
        for (int r = 0; r < 16; ++r)
          EXPECT_EQ(std::isnan(y[t * 16 + r]), r == 3 || r == 9) << isa_name(isa) << " row " << r;
    }
  }
}

TEST(Fp8Matmul, TiledRowsAreTheRowMajorRows) {
  Fp8Matrix m = make(37, 300, 9, true);
  std::vector<float> a(300), b(300);
  for (int64_t r = 0; r < 37; ++r) {
    row_to_f32_rowmajor(DType::kF8E4M3, &m.rows[r * m.nb], 300, a.data());
    tiled_row_to_f32(m.w, r, b.data());
    EXPECT_EQ(0, std::memcmp(a.data(), b.data(), a.size() * 4)) << "row " << r;
    for (int64_t k = 0; k < 300; ++k) {
      const BlockF8E4M3& blk = m.rows[r * m.nb + k / kFp8Block];
      const double v = e4m3_value(blk.q[k % kFp8Block]) * blk.scale;
      if ((blk.q[k % kFp8Block] & 0x7f) == 0x7f)
        EXPECT_TRUE(std::isnan(a[k]));
      else
        EXPECT_EQ(a[k], static_cast<float>(v)) << "row " << r << " col " << k;
    }
  }
}

}  // namespace
}  // namespace qwen3::kernels
