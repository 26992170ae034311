// silu_mul (silu_impl.h: one definition for every ISA, a polynomial exp 4, 8 or 16 lanes at a time) against
// the definition in double precision, over every tail length, the range a model's gate values take and the
// clamped extremes; it writes exactly n outputs; and every ISA's kernel gives the baseline's bits.
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

}  // namespace
}  // namespace qwen3::kernels
