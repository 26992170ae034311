// The element-wise kernels (elementwise_impl.h: one definition for every ISA, 4, 8 or 16 lanes at a time):
// silu_mul (a polynomial exp) against the definition in double precision, over every tail length, the range a
// model's gate values take and the clamped extremes; RMSNorm and RoPE against theirs; the residual add
// against the plain float sum; each writes exactly its outputs; and every ISA's kernels give the baseline's
// bits.
#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <random>
#include <vector>

#include "kernels/kernels.h"

namespace qwen3::kernels {
namespace {

double silu_mul_ref(double g, double u) {
  return g / (1.0 + std::exp(-g)) * u;
}

TEST(SiluMul, MatchesTheDefinitionWithinAFewUlp) {
  std::mt19937 rng(5);
  std::uniform_real_distribution<float> wide(-30.0f, 30.0f), narrow(-4.0f, 4.0f);
  for (int n = 0; n <= 37; ++n) {
    std::vector<float> g(n), u(n), out(n + 1, 123.0f);
    for (int i = 0; i < n; ++i) {
      g[i] = i % 3 == 0 ? wide(rng) : narrow(rng);
      u[i] = narrow(rng);
    }
    silu_mul(g.data(), u.data(), n, out.data());
    for (int i = 0; i < n; ++i) {
      const double want = silu_mul_ref(g[i], u[i]);
      // exp within ~2 ulp, then a division and a product: a relative 1e-6 (8 ulp) bound.
      EXPECT_NEAR(out[i], want, 1e-6 * std::fabs(want) + 1e-30)
          << "n=" << n << " g=" << g[i] << " u=" << u[i];
    }
    EXPECT_EQ(out[n], 123.0f) << "wrote past n=" << n;
  }
}

TEST(SiluMul, ExtremesAndSpecialValues) {
  const std::vector<float> g = {0.0f, -0.0f, 1e-30f, -1e-30f, 80.0f, 100.0f, -80.0f, -100.0f, 1e30f, -1e30f};
  std::vector<float> u(g.size(), 2.0f), out(g.size());
  silu_mul(g.data(), u.data(), static_cast<int64_t>(g.size()), out.data());
  EXPECT_EQ(out[0], 0.0f);
  EXPECT_EQ(out[1], 0.0f);
  EXPECT_NEAR(out[2], 1e-30f, 1e-36f);  // silu(x) = x / 2 near 0, times 2
  EXPECT_NEAR(out[3], -1e-30f, 1e-36f);
  EXPECT_FLOAT_EQ(out[4], 160.0f);  // sigmoid(80) rounds to 1
  EXPECT_FLOAT_EQ(out[5], 200.0f);
  EXPECT_NEAR(out[6], -80.0 * std::exp(-80.0) * 2.0, 1e-6 * 80.0 * std::exp(-80.0) * 2.0);
  // Below the clamp the result is tiny and negative (exactly: -100 e^-100 * 2, a denormal-range value).
  EXPECT_LE(out[7], 0.0f);
  EXPECT_GT(out[7], -1e-35f);
  EXPECT_FLOAT_EQ(out[8], 2e30f);
  EXPECT_LE(out[9], 0.0f);
  EXPECT_GT(out[9], -1e-6f);
  for (float v : out) EXPECT_FALSE(std::isnan(v));
}

TEST(SiluMul, EveryIsaGivesTheBaselineBits) {
  std::mt19937 rng(9);
  std::uniform_real_distribution<float> wide(-100.0f, 100.0f), narrow(-4.0f, 4.0f);
  for (Isa isa : {Isa::kAvx2, Isa::kAvx512}) {
    if (!isa_supported(isa)) continue;
    for (int n : {0, 1, 3, 4, 7, 8, 15, 16, 17, 31, 33, 1000, 3072}) {
      std::vector<float> g(n), u(n), want(n + 1, 7.0f), got(n + 1, 7.0f);
      for (int i = 0; i < n; ++i) {
        g[i] = i % 4 == 0 ? wide(rng) : narrow(rng);
        u[i] = narrow(rng);
      }
      table_for(Isa::kScalar).silu_mul(g.data(), u.data(), n, want.data());
      table_for(isa).silu_mul(g.data(), u.data(), n, got.data());
      for (int i = 0; i <= n; ++i)
        ASSERT_EQ(std::memcmp(&want[i], &got[i], 4), 0)
            << isa_name(isa) << " n=" << n << " i=" << i << ": " << got[i] << " != " << want[i];
    }
  }
}

// Bitwise equality of two float arrays, with the first differing index in the message.
void expect_same_bits(const std::vector<float>& want, const std::vector<float>& got, const char* what) {
  ASSERT_EQ(want.size(), got.size());
  for (size_t i = 0; i < want.size(); ++i)
    ASSERT_EQ(std::memcmp(&want[i], &got[i], 4), 0)
        << what << " i=" << i << ": " << got[i] << " != " << want[i];
}

TEST(RmsNorm, MatchesTheDefinitionAndEveryIsaGivesTheBaselineBits) {
  std::mt19937 rng(11);
  std::normal_distribution<float> nd(0.0f, 3.0f);
  for (int n : {1, 3, 4, 5, 15, 16, 17, 33, 128, 1000, 1024}) {
    std::vector<float> x(n), w(n);
    for (int i = 0; i < n; ++i) {
      x[i] = nd(rng);
      w[i] = 1.0f + 0.1f * nd(rng);
    }
    const float eps = 1e-6f;
    std::vector<float> want(n + 1, 5.0f);
    table_for(Isa::kScalar).rmsnorm(x.data(), w.data(), n, eps, want.data());
    double ss = 0;
    for (float v : x) ss += static_cast<double>(v) * v;
    const double inv = 1.0 / std::sqrt(ss / n + eps);
    for (int i = 0; i < n; ++i) {
      const double ref = w[i] * (x[i] * inv);
      // f32 partial sums of about n / 32 terms each (elementwise_impl.h): each step rounds by 2^-24
      const double sum_err = (n / 32.0 + 6) * std::ldexp(1.0, -24);
      EXPECT_NEAR(want[i], ref, (3e-7 + 0.5 * sum_err) * std::fabs(ref) + 1e-30) << "n=" << n << " i=" << i;
    }
    EXPECT_EQ(want[n], 5.0f) << "wrote past n=" << n;
    for (Isa isa : {Isa::kAvx2, Isa::kAvx512}) {
      if (!isa_supported(isa)) continue;
      std::vector<float> got(n + 1, 5.0f);
      table_for(isa).rmsnorm(x.data(), w.data(), n, eps, got.data());
      expect_same_bits(want, got, isa_name(isa));
    }
  }
}

// add, and add_scaled (the product rounded to float, then the sum: LoRA's deltas).
TEST(Add, EveryIsaAddsEachElementOnceAndNothingPastN) {
  std::mt19937 rng(13);
  std::normal_distribution<float> nd(0.0f, 3.0f);
  for (int n : {1, 3, 4, 7, 8, 15, 16, 17, 33, 1024}) {
    std::vector<float> x(n + 1), y(n + 1);
    for (int i = 0; i <= n; ++i) {
      x[i] = nd(rng);
      y[i] = nd(rng);
    }
    for (Isa isa : {Isa::kScalar, Isa::kAvx2, Isa::kAvx512}) {
      if (!isa_supported(isa)) continue;
      std::vector<float> got = x, want = x;
      for (int i = 0; i < n; ++i) want[i] = x[i] + y[i];
      table_for(isa).add(got.data(), y.data(), n);
      expect_same_bits(want, got, isa_name(isa));  // element n is x[n], untouched
      const float s = 0.7071f;
      got = x;
      for (int i = 0; i < n; ++i)  // double rounding: the product to float, then the sum
        want[i] =
            static_cast<float>(static_cast<double>(x[i]) + static_cast<float>(static_cast<double>(s) * y[i]));
      table_for(isa).add_scaled(got.data(), y.data(), s, n);
      expect_same_bits(want, got, isa_name(isa));
    }
  }
}

TEST(RopeNeox, MatchesTheDefinitionAndEveryIsaGivesTheBaselineBits) {
  std::mt19937 rng(12);
  std::normal_distribution<float> nd;
  std::uniform_real_distribution<float> angle(-3.14f, 3.14f);
  for (int d : {2, 8, 30, 64, 128, 256}) {
    const int half = d / 2;
    std::vector<float> x(d + 1, 9.0f), c(half), s(half);
    for (int i = 0; i < d; ++i) x[i] = nd(rng);
    for (int i = 0; i < half; ++i) {
      const float a = angle(rng);
      c[i] = std::cos(a);
      s[i] = std::sin(a);
    }
    std::vector<float> want = x;
    table_for(Isa::kScalar).rope_neox(want.data(), c.data(), s.data(), d);
    for (int i = 0; i < half; ++i) {
      EXPECT_NEAR(want[i], static_cast<double>(x[i]) * c[i] - static_cast<double>(x[i + half]) * s[i], 1e-5);
      EXPECT_NEAR(want[i + half], static_cast<double>(x[i + half]) * c[i] + static_cast<double>(x[i]) * s[i],
                  1e-5);
    }
    EXPECT_EQ(want[d], 9.0f) << "wrote past d=" << d;
    for (Isa isa : {Isa::kAvx2, Isa::kAvx512}) {
      if (!isa_supported(isa)) continue;
      std::vector<float> got = x;
      table_for(isa).rope_neox(got.data(), c.data(), s.data(), d);
      expect_same_bits(want, got, isa_name(isa));
    }
  }
}

}  // namespace
}  // namespace qwen3::kernels
