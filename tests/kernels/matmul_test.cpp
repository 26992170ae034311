// The matmul kernels of every ISA this CPU runs, for every weight dtype, against (1) the scalar reference,
// bit for bit (kernels.h defines one sequence of fused multiply-adds per output element), and (2) a float64
// product of the dequantised weights within a bound derived from the dtype and the input norms; plus batch
// invariance (a token's row does not change with n_tok, its neighbours or the thread count), sizes 0 ... 2 x
// the tile height with odd tails, and misaligned activation/output pointers. f8_e4m3 (matmul_fp8.h) with
// every byte value but NaN among its weights: tests/core/fp8_test.cpp has the conversions, NaN included.
#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <random>
#include <vector>

#include "core/file.h"
#include "kernels/kernels.h"
#include "kernels/pack.h"
#include "kernels/quant_k.h"

namespace qwen3::kernels {
namespace {

// Every weight dtype; bf16 twice: f32 activations (exact) and bf16 activations (Tensor::bf16_dot).
struct Variant {
  DType t;
  bool bf16_dot;
};
constexpr Variant kVariants[] = {{DType::kF32, false},    {DType::kF16, false},  {DType::kBF16, false},
                                 {DType::kBF16, true},    {DType::kQ8_0, false}, {DType::kQ4_0, false},
                                 {DType::kQ4_K, false},   {DType::kQ5_K, false}, {DType::kQ6_K, false},
                                 {DType::kF8E4M3, false}, {DType::kQ4_1, false}, {DType::kQ5_0, false},
                                 {DType::kQ5_1, false},   {DType::kQ2_K, false}, {DType::kQ3_K, false}};
const char* variant_name(const Variant& v) {
  return v.bf16_dot ? "bf16 (bf16 activations)" : dtype_name(v.t);
}

bool is_quant(DType t) {
  return dtype_block_values(t) > 1;
}

std::vector<Isa> isas() {
  std::vector<Isa> v;
  for (Isa i : {Isa::kScalar, Isa::kAvx2, Isa::kAvx512})
    if (isa_supported(i)) v.push_back(i);
  return v;
}

// A tiled matrix of random values in dtype t, and its dequantised values [rows, cols].
struct TestMatrix {
  Tensor w;
  AlignedPtr<uint8_t> buf;
  std::vector<float> values;
};

TestMatrix make_matrix(DType t, int64_t rows, int64_t cols, uint32_t seed) {
  std::mt19937 rng(seed);
  std::uniform_real_distribution<float> u(-1.0f, 1.0f);
  TestMatrix m;
  m.w.dtype = t;
  m.w.rows = rows;
  m.w.cols = cols;
  m.w.tiled = true;
  m.buf = aligned_array<uint8_t>(m.w.bytes() + 64);
  m.w.data = m.buf.get();
  const size_t row_bytes = dtype_row_bytes(t, cols);
  std::vector<uint8_t> rowmajor(row_bytes * rows + 1);
  std::vector<float> f(cols);
  for (int64_t r = 0; r < rows; ++r) {
    for (auto& v : f) v = u(rng) * (1.0f + static_cast<float>(r % 3));  // varied row scales
    row_from_f32(f.data(), cols, t, rowmajor.data() + r * row_bytes);
  }
  for (int64_t i = 0; i < m.w.n_tiles(); ++i) {
    const uint8_t* ptrs[kTileRows];
    int n = static_cast<int>(std::min<int64_t>(kTileRows, rows - i * kTileRows));
    for (int r = 0; r < n; ++r) ptrs[r] = rowmajor.data() + (i * kTileRows + r) * row_bytes;
    pack_tile(t, ptrs, n, cols, m.buf.get() + i * dtype_tile_bytes(t, cols));
  }
  m.values.resize(static_cast<size_t>(rows * cols));
  for (int64_t r = 0; r < rows; ++r) {
    row_to_f32_rowmajor(t, rowmajor.data() + r * row_bytes, cols, f.data());
    std::vector<float> tiled(cols);
    tiled_row_to_f32(m.w, r, tiled.data());
    EXPECT_EQ(0, std::memcmp(f.data(), tiled.data(), cols * 4)) << dtype_name(t) << " row " << r;
    std::copy(f.begin(), f.end(), m.values.begin() + r * cols);
  }
  return m;
}

std::vector<float> random_activations(int64_t n, uint32_t seed) {
  std::mt19937 rng(seed);
  std::normal_distribution<float> g(0.0f, 1.0f);
  std::vector<float> x(n);
  for (auto& v : x) v = g(rng);
  return x;
}

// Runs one ISA's matmul with x at element offset `x_off` and y written with stride ldy at offset `y_off`.
std::vector<float> run(Isa isa, const TestMatrix& m, const std::vector<float>& x, int64_t n_tok,
                       int64_t x_off, int64_t ldy, int64_t y_off, ThreadPool* pool) {
  std::vector<float> xs(x_off + x.size());
  std::copy(x.begin(), x.end(), xs.begin() + x_off);
  std::vector<float> y(y_off + n_tok * ldy, -7.0f);
  matmul_with(table_for(isa), m.w, xs.data() + x_off, n_tok, y.data() + y_off, ldy, pool);
  std::vector<float> out(n_tok * m.w.rows);
  for (int64_t t = 0; t < n_tok; ++t)
    for (int64_t o = 0; o < m.w.rows; ++o) out[t * m.w.rows + o] = y[y_off + t * ldy + o];
  // Nothing outside the output rows may be written.
  for (int64_t t = 0; t < n_tok; ++t)
    for (int64_t o = m.w.rows; o < ldy && y_off + t * ldy + o < static_cast<int64_t>(y.size()); ++o)
      EXPECT_EQ(y[y_off + t * ldy + o], -7.0f) << "wrote past row " << m.w.rows;
  return out;
}

// |y - exact| bound: accumulation rounding (cols fused steps, each at most one rounding of the running sum,
// bounded by eps x sum |w x|) plus, for q8_0/q4_0, the activation quantisation error (half a step, amax/254,
// per value of each 32-block, times |w|), for bf16 the activations' rounding to bf16.
std::vector<double> tolerances(const TestMatrix& m, const std::vector<float>& x, int64_t n_tok) {
  const int64_t R = m.w.rows, K = m.w.cols;
  std::vector<double> tol(n_tok * R);
  const double eps = std::ldexp(1.0, -24);
  for (int64_t t = 0; t < n_tok; ++t)
    for (int64_t o = 0; o < R; ++o) {
      double abs_sum = 0, quant = 0;
      for (int64_t k = 0; k < K; ++k) abs_sum += std::fabs(double{m.values[o * K + k]} * x[t * K + k]);
      const int bs = dtype_block_values(m.w.dtype);  // the activations' quantisation block
      if (is_quant(m.w.dtype))
        for (int64_t b = 0; b < K / bs; ++b) {
          double amax = 0, wsum = 0;
          for (int j = 0; j < bs; ++j) {
            amax = std::max(amax, std::fabs(double{x[t * K + b * bs + j]}));
            wsum += std::fabs(double{m.values[o * K + b * bs + j]});
          }
          quant += wsum * amax / 254.0 * 1.001;
        }
      // bf16 weights take bf16-rounded activations: at most half a bf16 step (2^-8 relative) per value.
      // (f8_e4m3 weights too: kernels/matmul_fp8.h)
      if (m.w.bf16_dot || m.w.dtype == DType::kF8E4M3) quant += abs_sum * std::ldexp(1.0, -8) * 1.001;
      tol[t * R + o] = 2.0 * K * eps * abs_sum + quant + 1e-30;
    }
  return tol;
}

void check_one(Variant v, int64_t rows, int64_t cols, int64_t n_tok, ThreadPool* pool) {
  const DType t = v.t;
  SCOPED_TRACE(::testing::Message() << variant_name(v) << " rows " << rows << " cols " << cols << " n_tok "
                                    << n_tok);
  TestMatrix m = make_matrix(t, rows, cols, static_cast<uint32_t>(rows * 1000 + cols * 7 + n_tok));
  m.w.bf16_dot = v.bf16_dot;
  std::vector<float> x = random_activations(n_tok * cols, static_cast<uint32_t>(rows + cols + n_tok));
  std::vector<float> ref = run(Isa::kScalar, m, x, n_tok, 0, rows, 0, nullptr);
  // (2) scalar reference against float64
  auto tol = tolerances(m, x, n_tok);
  double max_abs = 0, max_rel = 0;
  int bad = 0;
  for (int64_t tt = 0; tt < n_tok; ++tt)
    for (int64_t o = 0; o < rows; ++o) {
      double exact = 0;
      for (int64_t k = 0; k < cols; ++k) exact += double{m.values[o * cols + k]} * x[tt * cols + k];
      double err = std::fabs(ref[tt * rows + o] - exact);
      max_abs = std::max(max_abs, err);
      max_rel = std::max(max_rel, err / (std::fabs(exact) + 1e-30));
      bad += err > tol[tt * rows + o];
    }
  EXPECT_EQ(bad, 0) << "scalar vs float64: max abs error " << max_abs << ", max rel error " << max_rel;
  // (1) every ISA, misaligned and strided, bit for bit equal to the scalar reference
  for (Isa isa : isas()) {
    for (auto [x_off, y_off, pad] : {std::tuple{0, 0, 0}, std::tuple{1, 3, 5}, std::tuple{3, 1, 16}}) {
      auto y = run(isa, m, x, n_tok, x_off, rows + pad, y_off, pool);
      double worst = 0;
      int diff = 0;
      for (size_t i = 0; i < y.size(); ++i) {
        diff += std::memcmp(&y[i], &ref[i], 4) != 0;
        worst = std::max(worst, static_cast<double>(std::fabs(y[i] - ref[i])));
      }
      EXPECT_EQ(diff, 0) << isa_name(isa) << " x_off " << x_off << " y_off " << y_off << ": " << diff
                         << " elements differ from the scalar reference, max abs difference " << worst;
    }
  }
}

TEST(Matmul, EveryIsaAndDtypeMatchesScalarAcrossSizes) {
  ThreadPool pool(2);
  for (Variant v : kVariants) {
    const DType t = v.t;
    std::vector<int64_t> cols_list = is_k_quant(t) ? std::vector<int64_t>{256, 512, 768}
                                     : is_quant(t)
                                         ? std::vector<int64_t>{32, 64, 96, 320}
                                         : std::vector<int64_t>{1, 2, 3, 15, 16, 17, 31, 32, 33, 100};
    for (int64_t rows : {1, 2, 15, 16, 17, 31, 32, 33, 47, 63, 79})
      for (int64_t cols : cols_list)
        for (int64_t n_tok : {1, 7}) check_one(v, rows, cols, n_tok, rows % 2 ? &pool : nullptr);
    for (int64_t n_tok : {2, 4, 5, 6, 9, 13, 16, 53})
      check_one(v, 40, is_k_quant(t) ? 256 : is_quant(t) ? 64 : 48, n_tok, &pool);
    // Rows as long as the 0.6B model's down projection's (3072) and an odd number of blocks (65), over
    // whole and partial last tiles: tile pairs larger than L1.
    if (is_quant(t) && !is_k_quant(t))
      for (int64_t cols : {2080, 3072})
        for (int64_t rows : {33, 40}) check_one(v, rows, cols, 9, &pool);
    if (is_k_quant(t)) {
      for (int64_t cols : {2816, 3072}) check_one(v, 33, cols, 9, &pool);
      // more tokens than a token block (128) of the SIMD kernels' prompt path, with a partial last one
      check_one(v, 47, 512, 131, &pool);
    }
    // f8_e4m3: whole and partial 128-column blocks, and more tokens than a kernel's token block (64, 128).
    if (t == DType::kF8E4M3) {
      for (int64_t cols : {127, 128, 129, 256, 300, 1024})
        for (int64_t n_tok : {1, 3, 4, 9}) check_one(v, 33, cols, n_tok, &pool);
      check_one(v, 17, 200, 131, &pool);
    }
  }
}

TEST(Matmul, ZeroTokensWritesNothing) {
  TestMatrix m = make_matrix(DType::kBF16, 16, 32, 1);
  std::vector<float> y(4, 1.0f);
  for (Isa isa : isas()) matmul_with(table_for(isa), m.w, nullptr, 0, y.data(), 16, nullptr);
  EXPECT_EQ(y, std::vector<float>(4, 1.0f));
}

// A token's output row must be the same bits alone (n_tok = 1) as in a batch of N, whatever the other
// tokens, the token's place in the batch and the thread count.
TEST(Matmul, BatchInvariantForEveryIsaAndDtype) {
  ThreadPool pool2(2), pool3(3);
  const int64_t rows = 80, N = 61;  // more than one token block of the SIMD kernels
  for (Variant v : kVariants) {
    const int64_t cols = is_k_quant(v.t) ? 256 : 128;
    TestMatrix m = make_matrix(v.t, rows, cols, 99);
    m.w.bf16_dot = v.bf16_dot;
    std::vector<float> x = random_activations(N * cols, 5);
    for (Isa isa : isas()) {
      SCOPED_TRACE(::testing::Message() << variant_name(v) << " " << isa_name(isa));
      auto batched = run(isa, m, x, N, 0, rows, 0, &pool2);
      auto batched3 = run(isa, m, x, N, 0, rows, 0, &pool3);
      EXPECT_EQ(0, std::memcmp(batched.data(), batched3.data(), batched.size() * 4)) << "thread count";
      for (int64_t tok = 0; tok < N; ++tok) {
        std::vector<float> one(x.begin() + tok * cols, x.begin() + (tok + 1) * cols);
        auto alone = run(isa, m, one, 1, 0, rows, 0, nullptr);
        EXPECT_EQ(0, std::memcmp(alone.data(), batched.data() + tok * rows, rows * 4)) << "token " << tok;
      }
      // The same token among different neighbours, at another position of a smaller batch.
      std::vector<float> x2 = random_activations(5 * cols, 77);
      std::copy(x.begin() + 7 * cols, x.begin() + 8 * cols, x2.begin() + 3 * cols);
      auto other = run(isa, m, x2, 5, 0, rows, 0, nullptr);
      EXPECT_EQ(0, std::memcmp(other.data() + 3 * rows, batched.data() + 7 * rows, rows * 4));
    }
  }
}

// ggml's rounding rules, value by value, on hand-picked blocks (ties, zero blocks, negative extremes).
TEST(Quantize, MatchesGgmlRules) {
  std::vector<float> x(32, 0.0f);
  BlockQ8_0 q8;
  BlockQ4_0 q4;
  quantize_row_q8_0(x.data(), 32, &q8);
  EXPECT_EQ(q8.scale, 0);
  for (int j = 0; j < 32; ++j) EXPECT_EQ(q8.q[j], 0);
  for (int j = 0; j < 32; ++j) x[j] = static_cast<float>(j - 16) / 16.0f;  // extreme -1 at j = 0
  quantize_row_q8_0(x.data(), 32, &q8);
  EXPECT_EQ(q8.q[0], -127);
  EXPECT_EQ(q8.q[16], 0);
  EXPECT_EQ(q8.q[31], static_cast<int8_t>(std::round(15.0f / 16.0f * (1.0f / (1.0f / 127.0f)))));
  quantize_row_q4_0(x.data(), 32, &q4);
  // m = -1 -> d = 1/8, id = 8: x = -1 -> 0 (nibble), x = 0 -> 8, x = 15/16 -> min(15, (int)(7.5 + 8.5)) = 15
  EXPECT_EQ(q4.q[0] & 0x0f, 0);
  EXPECT_EQ(q4.q[0] >> 4, 8);
  EXPECT_EQ(q4.q[15] >> 4, 15);
  // x = 1/16 -> 0.5 + 8.5 = 9 (ggml rounds half up through truncation)
  EXPECT_EQ(q4.q[1] >> 4, 9);
}

// Hand-picked float bit patterns followed by 5000 random ones (every class of float shows up).
std::vector<float> floats_from_bits(std::vector<uint32_t> bits, uint32_t seed) {
  std::mt19937 rng(seed);
  for (int i = 0; i < 5000; ++i) bits.push_back(static_cast<uint32_t>(rng()));
  std::vector<float> x(bits.size());
  std::memcpy(x.data(), bits.data(), bits.size() * 4);
  return x;
}

// Every ISA's float -> 16-bit conversion `convert` (a KernelTable member) gives the reference's bits, over
// the whole input and over short lengths that exercise the vector tails.
void expect_every_isa_converts_like(void (*const KernelTable::*convert)(const float*, int64_t, uint16_t*),
                                    const std::vector<float>& x, const std::vector<uint16_t>& ref) {
  for (Isa isa : isas())
    for (int64_t n : {static_cast<int64_t>(x.size()), int64_t{15}, int64_t{17}, int64_t{9}, int64_t{1}}) {
      std::vector<uint16_t> got(n, 0x1234);
      (table_for(isa).*convert)(x.data(), n, got.data());
      EXPECT_EQ(0, std::memcmp(got.data(), ref.data(), n * 2)) << isa_name(isa) << " n " << n;
    }
}

// Every ISA's bf16 rounding gives the scalar rule's bits: ties both ways, denormals, infinities, NaN, values
// that round up into the next binade or to infinity, and random values; odd lengths exercise the tails.
TEST(RoundBf16, EveryIsaMatchesTheScalarRule) {
  const std::vector<float> x =
      floats_from_bits({0x3f808000u, 0x3f818000u, 0x3f80c000u, 0x3f807fffu, 0x00000001u, 0x807fffffu,
                        0x00800000u, 0x80800000u, 0x7f800000u, 0xff800000u, 0x7fc00001u, 0xff800001u,
                        0x3fffffffu, 0x7f7fffffu, 0x00000000u, 0x80000000u, 0x7f7f8000u},
                       3);
  // Expected values of a few: ties to even, denormals to signed zero, quiet NaN, overflow to infinity.
  std::vector<uint16_t> ref(x.size());
  scalar::round_bf16(x.data(), static_cast<int64_t>(x.size()), ref.data());
  EXPECT_EQ(ref[0], 0x3f80);  // tie, even below
  EXPECT_EQ(ref[1], 0x3f82);  // tie, odd below: up
  EXPECT_EQ(ref[2], 0x3f81);
  EXPECT_EQ(ref[3], 0x3f80);
  EXPECT_EQ(ref[4], 0x0000);
  EXPECT_EQ(ref[5], 0x8000);
  EXPECT_EQ(ref[6], 0x0080);
  EXPECT_EQ(ref[10], 0x7fc0);
  EXPECT_EQ(ref[11], 0xffc0);
  EXPECT_EQ(ref[12], 0x4000);  // rounds up into the next binade
  EXPECT_EQ(ref[13], 0x7f80);  // rounds up to infinity
  expect_every_isa_converts_like(&KernelTable::round_bf16, x, ref);
}

// Every ISA's f16 conversion (F16C) gives f32_to_f16's bits: ties, subnormal results, overflow, NaN payloads.
TEST(ToF16, EveryIsaMatchesTheScalarRule) {
  const std::vector<float> x =
      floats_from_bits({0x33000000u, 0x33000001u, 0x387fe000u, 0x38800000u, 0x477ff000u, 0x477fefffu,
                        0x7f800000u, 0xff800000u, 0x7fc00000u, 0x7f812345u, 0xffa00001u, 0x3f801000u,
                        0x3f803000u, 0x00000001u, 0x80000000u, 0x3c000000u},
                       4);
  std::vector<uint16_t> ref(x.size());
  scalar::to_f16(x.data(), static_cast<int64_t>(x.size()), ref.data());
  EXPECT_EQ(ref[0], 0x0000);   // half the smallest subnormal: tie to even zero
  EXPECT_EQ(ref[1], 0x0001);   // just above: the smallest subnormal
  EXPECT_EQ(ref[4], 0x7c00);   // 65520 rounds to infinity
  EXPECT_EQ(ref[5], 0x7bff);   // just below stays 65504
  EXPECT_EQ(ref[11], 0x3c00);  // tie, even below
  EXPECT_EQ(ref[12], 0x3c02);  // tie, odd below: up
  expect_every_isa_converts_like(&KernelTable::to_f16, x, ref);
}

// Every ISA's activation quantiser gives quantize_activations' bytes: random rows of several magnitudes, a
// zero block, ties at half steps; rows of whole groups of 16 blocks (the AVX-512 form's unit), with a
// remainder, and shorter than a group.
class QuantizeActivations : public ::testing::TestWithParam<int64_t> {};
TEST_P(QuantizeActivations, EveryIsaQuantisesLikeTheScalarCode) {
  const int64_t n = GetParam(), nb = n / kQuantBlock;
  std::vector<float> x = random_activations(n, 21);
  for (int64_t i = 0; i < n; ++i) x[i] *= std::ldexp(1.0f, static_cast<int>(i / 97) - 5);
  for (int j = 0; j < kQuantBlock; ++j) x[64 + j] = 0.0f;                                // zero block
  for (int j = 0; j < kQuantBlock; ++j) x[128 + j] = static_cast<float>(j - 16) * 0.5f;  // halves
  x[128 + 31] = 127.0f;
  std::vector<int8_t> q_ref(n), q(n);
  std::vector<float> d_ref(nb), d(nb);
  std::vector<int32_t> s_ref(nb), sums(nb);
  quantize_activations(x.data(), 1, n, q_ref.data(), d_ref.data(), s_ref.data());
  for (Isa isa : isas()) {
    table_for(isa).quantize_act(x.data(), n, q.data(), d.data(), sums.data());
    EXPECT_EQ(q, q_ref) << isa_name(isa);
    EXPECT_EQ(0, std::memcmp(d.data(), d_ref.data(), nb * 4)) << isa_name(isa);
    EXPECT_EQ(sums, s_ref) << isa_name(isa);
  }
}
INSTANTIATE_TEST_SUITE_P(RowLengths, QuantizeActivations, ::testing::Values(1024, 1120, 480));

// The same for the k-quant kernels' activations (quantize_activations_k: one scale per 256 values, sums of
// 16).
TEST(QuantizeActivationsK, EveryIsaQuantisesLikeTheScalarCode) {
  for (int64_t n : {256, 1024, 3072}) {
    const int64_t nb = n / kSuperBlock, ng = n / kKGroup;
    std::vector<float> x = random_activations(n, 23);
    for (int64_t i = 0; i < n; ++i) x[i] *= std::ldexp(1.0f, static_cast<int>(i / 97) - 5);
    if (n > 256) {
      for (int j = 0; j < kSuperBlock; ++j) x[256 + j] = 0.0f;  // a zero super-block
      for (int j = 0; j < kSuperBlock; ++j) x[512 + j] = static_cast<float>(j % 64 - 32) * 0.5f;  // halves
      x[512 + 255] = 127.0f;
    }
    std::vector<int8_t> q_ref(n), q(n);
    std::vector<float> d_ref(nb), d(nb);
    std::vector<int32_t> s_ref(ng), sums(ng);
    quantize_activations_k(x.data(), n, q_ref.data(), d_ref.data(), s_ref.data());
    for (Isa isa : isas()) {
      table_for(isa).quantize_act_k(x.data(), n, q.data(), d.data(), sums.data());
      EXPECT_EQ(q, q_ref) << isa_name(isa) << " n " << n;
      EXPECT_EQ(0, std::memcmp(d.data(), d_ref.data(), nb * 4)) << isa_name(isa) << " n " << n;
      EXPECT_EQ(sums, s_ref) << isa_name(isa) << " n " << n;
    }
  }
}

// Matrices sharing one input in one call give each matrix's own matmul() bits, for every dtype form.
TEST(Matmul, SharedInputEqualsSeparateCalls) {
  ThreadPool pool(2);
  for (Variant v : kVariants) {
    SCOPED_TRACE(variant_name(v));
    const int64_t K = is_k_quant(v.t) ? 256 : 64;
    TestMatrix a = make_matrix(v.t, 48, K, 1), b = make_matrix(v.t, 17, K, 2), c = make_matrix(v.t, 80, K, 3);
    for (TestMatrix* m : {&a, &b, &c}) m->w.bf16_dot = v.bf16_dot;
    for (int64_t n_tok : {1, 9}) {
      std::vector<float> x = random_activations(n_tok * K, 8);
      std::vector<float> ya(n_tok * 48), yb(n_tok * 17), yc(n_tok * 80);
      const Tensor* ws[] = {&a.w, &b.w, &c.w};
      float* ys[] = {ya.data(), yb.data(), yc.data()};
      matmul_shared_input(ws, ys, 3, x.data(), n_tok, &pool);
      const std::vector<float>* got[] = {&ya, &yb, &yc};
      for (int i = 0; i < 3; ++i) {
        std::vector<float> want(got[i]->size());
        matmul(*ws[i], x.data(), n_tok, want.data(), nullptr);
        EXPECT_EQ(0, std::memcmp(want.data(), got[i]->data(), want.size() * 4)) << "matrix " << i;
      }
    }
  }
}

// The down projection's fused input (silu(gate) * up formed a row at a time before its conversion) gives
// the bits of silu_mul then matmul, for every dtype form.
// The MLP's gate/up with SiLU (matmul_gate_up_silu: on AVX-512 one register block per pair of gate and up
// tiles, only h stored; elsewhere both matmuls and silu_mul) on every ISA: the bits of silu_mul over the two
// matmuls, for a single token and for prompts, with a partial last tile (40 rows) and a token count that
// leaves a partial register block.
TEST(Matmul, GateUpSiluEqualsSiluMulOfTheTwoMatmuls) {
  ThreadPool pool(2);
  for (Isa isa : isas())
    for (Variant v : kVariants) {
      SCOPED_TRACE(::testing::Message() << isa_name(isa) << " " << variant_name(v));
      const KernelTable& k = table_for(isa);
      const int64_t K = is_k_quant(v.t) ? 256 : 96;
      TestMatrix gate = make_matrix(v.t, 40, K, 4), up = make_matrix(v.t, 40, K, 5);
      gate.w.bf16_dot = up.w.bf16_dot = v.bf16_dot;
      for (int64_t n_tok : {1, 7, 33}) {
        const std::vector<float> x = random_activations(n_tok * K, 9);
        std::vector<float> g(n_tok * 40), u(n_tok * 40), want(n_tok * 40);
        matmul_with(k, gate.w, x.data(), n_tok, g.data(), 40, nullptr);
        matmul_with(k, up.w, x.data(), n_tok, u.data(), 40, nullptr);
        k.silu_mul(g.data(), u.data(), n_tok * 40, want.data());
        std::vector<float> h(n_tok * 40, std::nanf("")), up_buf(n_tok * 40);
        matmul_gate_up_silu_with(k, gate.w, up.w, x.data(), n_tok, h.data(), up_buf.data(), &pool);
        EXPECT_EQ(0, std::memcmp(want.data(), h.data(), want.size() * 4)) << n_tok << " tokens";
      }
    }
}

// A producer's int8 input (quantize_input_row, in row segments of 32-block multiples, as attention writes
// o_proj's) multiplied by matmul_prepared: the same bits as matmul on the f32 rows, and the same integers
// and scales as quantize_activations, the corrections -offset * block sum.
TEST(Matmul, PreparedInt8InputEqualsMatmul) {
  ThreadPool pool(2);
  for (DType t : {DType::kQ8_0, DType::kQ4_0}) {
    SCOPED_TRACE(dtype_name(t));
    TestMatrix m = make_matrix(t, 40, 128, 4);
    ASSERT_TRUE(reads_int8_input(m.w));
    for (int64_t n_tok : {1, 7}) {
      const std::vector<float> x = random_activations(n_tok * 128, 11);
      std::vector<int8_t> xq(n_tok * 128), want_q(n_tok * 128);
      std::vector<float> xd(n_tok * 4), want_d(n_tok * 4);
      std::vector<int32_t> xc(n_tok * 4), want_s(n_tok * 4);
      for (int64_t r = 0; r < n_tok * 128; r += 64)  // two segments per row
        quantize_input_row(t, x.data() + r, 64, xq.data() + r, xd.data() + r / 32, xc.data() + r / 32);
      quantize_activations(x.data(), n_tok, 128, want_q.data(), want_d.data(), want_s.data());
      EXPECT_EQ(want_q, xq);
      EXPECT_EQ(want_d, xd);
      for (size_t b = 0; b < xc.size(); ++b) EXPECT_EQ(-(t == DType::kQ8_0 ? 128 : 8) * want_s[b], xc[b]);
      MatmulInput in;
      in.x = x.data();
      in.ldx = 128;
      in.n_tok = n_tok;
      in.xq = xq.data();
      in.xd = xd.data();
      in.xc = xc.data();
      std::vector<float> got(n_tok * 40), want(n_tok * 40);
      matmul_prepared(m.w, in, got.data(), &pool);
      matmul(m.w, x.data(), n_tok, want.data(), nullptr);
      EXPECT_EQ(0, std::memcmp(want.data(), got.data(), want.size() * 4)) << n_tok << " tokens";
    }
  }
  TestMatrix f = make_matrix(DType::kF32, 40, 128, 4);
  EXPECT_FALSE(reads_int8_input(f.w));
}

TEST(Quantize, ActivationsRoundToNearestEven) {
  std::vector<float> x(32, 0.0f);
  x[0] = 127.0f;
  x[1] = 2.5f;
  x[2] = -3.5f;
  int8_t q[32];
  float d;
  int32_t s;
  quantize_activations(x.data(), 1, 32, q, &d, &s);
  EXPECT_EQ(d, 1.0f);
  EXPECT_EQ(q[0], 127);
  EXPECT_EQ(q[1], 2);
  EXPECT_EQ(q[2], -4);
  EXPECT_EQ(s, 127 + 2 - 4);
}

}  // namespace
}  // namespace qwen3::kernels
