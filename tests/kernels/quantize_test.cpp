// Q8_0 weight quantisation: the scalar quantize_row_q8_0 rounds exactly like ggml's reference (std::round of
// x / d), and every ISA's form in the kernel table writes the same bytes as the scalar one (it is what a
// --dtype q8_0 load and qwen3 quantize use). Q4_1/Q5_0/Q5_1: the round trip within half a step. The
// k-quants: the round trip within each type's error, zeros exact.
#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <random>
#include <vector>

#include "core/half.h"
#include "kernels/kernels.h"
#include "kernels/pack.h"
#include "kernels/quant_k.h"
#include "kernels/quant_legacy.h"

namespace qwen3::kernels {
namespace {

// ggml's quantize_row_q8_0_ref as written there (libm roundf).
void reference_q8_0(const float* x, int64_t n, BlockQ8_0* out) {
  for (int64_t b = 0; b < n / kQuantBlock; ++b) {
    const float* v = x + b * kQuantBlock;
    float amax = 0;
    for (int j = 0; j < kQuantBlock; ++j) amax = std::max(amax, std::fabs(v[j]));
    const float d = amax / 127.0f;
    const float id = d != 0.0f ? 1.0f / d : 0.0f;
    out[b].scale = f32_to_f16(d);
    for (int j = 0; j < kQuantBlock; ++j) out[b].q[j] = static_cast<int8_t>(std::round(v[j] * id));
  }
}

// Rows that reach the corners: random values over 12 decades of scale, blocks whose largest value is 127 (so
// x / d is x itself) holding every tie k + 0.5 and its neighbours, zeros, tiny blocks whose f16 scale is
// subnormal or zero, and blocks large enough that the scale overflows f16. All finite: x / d of an infinite
// or NaN input is undefined in C++ and its bytes differ by ISA, as in ggml.
std::vector<float> test_values() {
  std::vector<float> x;
  std::mt19937 rng(7);
  std::normal_distribution<float> normal(0.0f, 1.0f);
  for (int e = -30; e <= 10; e += 2)
    for (int i = 0; i < 8 * kQuantBlock; ++i) x.push_back(normal(rng) * std::ldexp(1.0f, e));
  std::vector<float> ties;
  for (int k = -127; k < 127; ++k) {
    const float t = static_cast<float>(k) + 0.5f;
    for (float v : {t, std::nextafter(t, -200.0f), std::nextafter(t, 200.0f)}) ties.push_back(v);
  }
  for (float v : {0.49999997f, -0.49999997f, 0.5f, -0.5f, 1e-30f, -0.0f}) ties.push_back(v);
  for (size_t i = 0; i < ties.size(); i += kQuantBlock - 1) {
    x.push_back(i % 2 ? -127.0f : 127.0f);
    for (size_t j = i; j < i + kQuantBlock - 1; ++j) x.push_back(j < ties.size() ? ties[j] : 0.0f);
  }
  for (int j = 0; j < kQuantBlock; ++j) x.push_back(0.0f);
  for (float amax : {1e-9f, 1e-6f, 1e-4f, 3e-3f, 1e7f, 3e38f})
    for (int j = 0; j < kQuantBlock; ++j) x.push_back(amax * (static_cast<float>(j - 16) / 16.0f));
  while (x.size() % kQuantBlock) x.push_back(0.0f);
  return x;
}

TEST(Quantize, Q8_0RoundsLikeGgmlReference) {
  const std::vector<float> x = test_values();
  const int64_t n = static_cast<int64_t>(x.size());
  std::vector<BlockQ8_0> want(n / kQuantBlock), got(n / kQuantBlock);
  reference_q8_0(x.data(), n, want.data());
  quantize_row_q8_0(x.data(), n, got.data());
  for (int64_t b = 0; b < n / kQuantBlock; ++b)
    ASSERT_EQ(0, std::memcmp(&want[b], &got[b], sizeof(BlockQ8_0))) << "block " << b;
}

TEST(Quantize, Q8_0SameBytesOnEveryIsa) {
  const std::vector<float> x = test_values();
  const int64_t n = static_cast<int64_t>(x.size());
  std::vector<BlockQ8_0> want(n / kQuantBlock);
  quantize_row_q8_0(x.data(), n, want.data());
  for (Isa isa : {Isa::kScalar, Isa::kAvx2, Isa::kAvx512}) {
    if (!isa_supported(isa)) continue;
    // Every length and misalignment of the input, to catch a kernel that reads past its blocks.
    for (int64_t off : {0, 1, 3}) {
      std::vector<float> shifted(static_cast<size_t>(n + off));
      std::memcpy(shifted.data() + off, x.data(), static_cast<size_t>(n) * 4);
      std::vector<BlockQ8_0> got(n / kQuantBlock);
      table_for(isa).quantize_row_q8_0(shifted.data() + off, n, got.data());
      for (int64_t b = 0; b < n / kQuantBlock; ++b)
        ASSERT_EQ(0, std::memcmp(&want[b], &got[b], sizeof(BlockQ8_0)))
            << isa_name(isa) << " offset " << off << " block " << b;
    }
  }
}

// Q4_1, Q5_0, Q5_1 (ggml's quantize_row_*_ref) on the corner rows above: every value decodes to within half a
// step of its input (a whole step for Q5_0's clipped top value), plus the f16 rounding of d and m; a block
// with a range uses the lowest and the highest level (Q4_1/Q5_1) or level 0 for its largest magnitude (Q5_0);
// a constant block decodes exactly to its f16-rounded value (Q4_1/Q5_1: d = 0, m = x).
TEST(Quantize, LegacyTypesRoundTripWithinHalfAStep) {
  std::vector<float> x = test_values();
  x.resize(x.size() - 2 * kQuantBlock);  // without the last two blocks (1e7, 3e38): d overflows f16
  for (int j = 0; j < kQuantBlock; ++j) x.push_back(-2.75f);  // a constant block
  const int64_t n = static_cast<int64_t>(x.size());
  for (DType t : {DType::kQ4_1, DType::kQ5_0, DType::kQ5_1}) {
    SCOPED_TRACE(dtype_name(t));
    const int levels = t == DType::kQ4_1 ? 15 : 31;
    std::vector<uint8_t> q(dtype_row_bytes(t, n));
    std::vector<float> y(n);
    quantize_row_legacy(t, x.data(), n, q.data());
    dequantize_row_legacy(t, q.data(), n, y.data());
    const size_t bb = dtype_row_bytes(t, kQuantBlock);
    for (int64_t b = 0; b < n / kQuantBlock; ++b) {
      const float* v = x.data() + b * kQuantBlock;
      uint16_t dh;
      std::memcpy(&dh, q.data() + b * bb, 2);
      const double d = std::fabs(f16_to_f32(dh));
      double lo = v[0], hi = v[0];
      for (int j = 0; j < kQuantBlock; ++j) {
        lo = std::min<double>(lo, v[j]);
        hi = std::max<double>(hi, v[j]);
      }
      // f16 rounding of d (relative 2^-11, times up to 31 levels) and of m (relative 2^-11 of |min|), or
      // below f16's normal range half its subnormal spacing 2^-24 per level
      const double f16_err =
          std::ldexp(1.0, -11) * (levels * d + std::fabs(lo)) + (levels + 1) * std::ldexp(1.0, -25);
      const double step = t == DType::kQ5_0 ? d : 0.5 * d;
      for (int j = 0; j < kQuantBlock; ++j) {
        const double err = std::fabs(double{y[b * kQuantBlock + j]} - v[j]);
        ASSERT_LE(err, step * 1.0001 + f16_err) << "block " << b << " value " << j << " = " << v[j];
      }
      if (hi - lo > 1e-3) {  // the extreme levels are used
        int qmin = 99, qmax = -1;
        for (int j = 0; j < kQuantBlock; ++j) {
          const uint8_t* blk = q.data() + b * bb;
          const uint8_t byte = blk[bb - kQuantBlock / 2 + j % 16];
          uint32_t qh = 0;
          if (t != DType::kQ4_1) std::memcpy(&qh, blk + (t == DType::kQ5_0 ? 2 : 4), 4);
          const int level =
              (j < 16 ? byte & 0x0f : byte >> 4) | (t == DType::kQ4_1 ? 0 : ((qh >> j) & 1) << 4);
          qmin = std::min(qmin, level);
          qmax = std::max(qmax, level);
        }
        if (t == DType::kQ5_0) {
          EXPECT_EQ(qmin, 0) << "block " << b << ": the largest magnitude is level 0 (-16 d)";
        } else {
          EXPECT_EQ(qmin, 0) << "block " << b;
          EXPECT_EQ(qmax, levels) << "block " << b;
        }
      }
    }
    // The constant block: Q4_1/Q5_1 d = 0 and every value m = f16(x); Q5_0 d = x / -16, level 0 gives x.
    for (int j = 0; j < kQuantBlock; ++j) EXPECT_EQ(y[n - kQuantBlock + j], -2.75f) << j;
  }
}

// The k-quants (ggml's reference quantisers, quant_k.h) on normal values at scales 2^-6 ... 2^10 (f16
// super-block scales in the normal range): every super-block decodes within the type's relative RMS error
// (measured worst of these blocks: 0.34, 0.17, 0.080, 0.040, 0.020 for q2_K ... q6_K; a packing or scale
// error is far above), and an all-zero super-block decodes to zeros.
TEST(Quantize, KQuantsRoundTripWithinTheirError) {
  std::mt19937 rng(7);
  std::normal_distribution<float> normal(0.0f, 1.0f);
  std::vector<float> x;
  for (int e = -6; e <= 10; e += 2)
    for (int i = 0; i < 8 * kSuperBlock; ++i) x.push_back(normal(rng) * std::ldexp(1.0f, e));
  for (int i = 0; i < kSuperBlock; ++i) x.push_back(0.0f);
  const int64_t n = static_cast<int64_t>(x.size());
  const std::pair<DType, double> kTypes[] = {{DType::kQ2_K, 0.40},
                                             {DType::kQ3_K, 0.21},
                                             {DType::kQ4_K, 0.10},
                                             {DType::kQ5_K, 0.05},
                                             {DType::kQ6_K, 0.025}};
  for (auto [t, bound] : kTypes) {
    SCOPED_TRACE(dtype_name(t));
    std::vector<uint8_t> q(dtype_row_bytes(t, n));
    std::vector<float> y(n);
    row_from_f32(x.data(), n, t, q.data());
    row_to_f32_rowmajor(t, q.data(), n, y.data());
    for (int64_t b = 0; b < n / kSuperBlock - 1; ++b) {
      double err = 0, sum = 0;
      for (int64_t i = b * kSuperBlock; i < (b + 1) * kSuperBlock; ++i) {
        err += (double{y[i]} - x[i]) * (double{y[i]} - x[i]);
        sum += double{x[i]} * x[i];
      }
      EXPECT_LE(std::sqrt(err / sum), bound) << "super-block " << b;
    }
    for (int64_t i = n - kSuperBlock; i < n; ++i) ASSERT_EQ(y[i], 0.0f) << "zero block, value " << i;
  }
}

}  // namespace
}  // namespace qwen3::kernels
