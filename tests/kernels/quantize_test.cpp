// Q8_0 weight quantisation: the scalar quantize_row_q8_0 rounds exactly like ggml's reference (std::round of
// x / d), and every ISA's form in the kernel table writes the same bytes as the scalar one (it is what a
// --dtype q8_0 load and qwen3 quantize use).
#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <random>
#include <vector>

#include "core/half.h"
#include "kernels/kernels.h"
#include "kernels/pack.h"

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

}  // namespace
}  // namespace qwen3::kernels
