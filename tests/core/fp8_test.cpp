// core/fp8.h: e4m3 -> f32/bf16 for all 256 codes against the definition (ldexp), and f32 -> e4m3 (nearest
// even, saturating at 448, NaN kept) against a search over every code. tests/quant/test_fp8.py checks the
// quantiser's bytes against an independent NumPy encoder as well.
#include "core/fp8.h"

#include <gtest/gtest.h>

#include <cmath>
#include <random>

#include "core/half.h"

namespace qwen3 {
namespace {

double definition(int b) {
  const int e = (b >> 3) & 15, m = b & 7;
  const double v = e == 0 ? std::ldexp(m, -9) : std::ldexp(1.0 + m / 8.0, e - 7);
  return b & 0x80 ? -v : v;
}

TEST(Fp8, DecodesEveryCodeExactly) {
  for (int b = 0; b < 256; ++b) {
    const float f = fp8_e4m3_to_f32(static_cast<uint8_t>(b));
    if ((b & 0x7f) == 0x7f) {
      EXPECT_TRUE(std::isnan(f)) << b;
      continue;
    }
    EXPECT_EQ(static_cast<double>(f), definition(b)) << "code " << b;
    EXPECT_EQ(std::signbit(f), (b & 0x80) != 0) << "code " << b;
    EXPECT_EQ(fp8_e4m3_to_bf16(static_cast<uint8_t>(b)), f32_to_bf16(f)) << "code " << b;
  }
  EXPECT_EQ(fp8_e4m3_to_f32(0x7e), 448.0f);
  EXPECT_EQ(fp8_e4m3_to_f32(0x01), std::ldexp(1.0f, -9));
  EXPECT_EQ(fp8_e4m3_to_f32(0x08), std::ldexp(1.0f, -6));
}

// The nearest code by search, ties to the even code, saturating.
uint8_t by_search(float x) {
  const double a = std::fabs(static_cast<double>(x));
  int best = 0;
  for (int b = 1; b < 0x7f; ++b) {
    const double d = std::fabs(definition(b) - a), db = std::fabs(definition(best) - a);
    if (d < db || (d == db && b % 2 == 0)) best = b;
  }
  if (a >= 448) best = 0x7e;
  return static_cast<uint8_t>(best | (std::signbit(x) ? 0x80 : 0));
}

TEST(Fp8, EncodesNearestEvenSaturating) {
  for (int b = 0; b < 256; ++b) {
    if ((b & 0x7f) == 0x7f) continue;
    EXPECT_EQ(f32_to_fp8_e4m3(static_cast<float>(definition(b))), b) << "code " << b;
    if ((b & 0x7f) < 0x7e) {  // the midpoint to the next code: ties to the even one
      const double mid = (definition(b) + definition(b + 1)) / 2;
      EXPECT_EQ(f32_to_fp8_e4m3(static_cast<float>(mid)), by_search(static_cast<float>(mid))) << "code " << b;
    }
  }
  EXPECT_EQ(f32_to_fp8_e4m3(500.0f), 0x7e);
  EXPECT_EQ(f32_to_fp8_e4m3(-1e30f), 0xfe);
  EXPECT_EQ(f32_to_fp8_e4m3(INFINITY), 0x7e);
  EXPECT_EQ(f32_to_fp8_e4m3(NAN) & 0x7f, 0x7f);
  EXPECT_EQ(f32_to_fp8_e4m3(-0.0f), 0x80);
  EXPECT_EQ(f32_to_fp8_e4m3(1e-30f), 0x00);
  std::mt19937 rng(3);
  std::uniform_real_distribution<float> e(-14.0f, 10.0f);
  for (int i = 0; i < 200000; ++i) {
    const float x = std::exp2(e(rng)) * (rng() & 1 ? 1.0f : -1.0f);
    ASSERT_EQ(f32_to_fp8_e4m3(x), by_search(x)) << x;
  }
}

}  // namespace
}  // namespace qwen3
