// silu(gate) * up, N lanes at a time in GCC/clang vector extensions: one definition for every ISA. Each lane
// runs the same IEEE operations in the same order whatever N is, and nothing is contracted into an FMA (the
// ISA files build with -ffp-contract=off; the baseline one has no FMA), so the baseline (N = 4), AVX2 (8) and
// AVX-512 (16) kernels give the same bits. Included only by kernels_<isa>.cpp; the anonymous namespace keeps
// each file's instantiations its own.
#pragma once

#include <cstdint>
#include <cstring>

namespace qwen3::kernels {
namespace {

template <int N>
struct Lanes {
  typedef float F __attribute__((vector_size(4 * N)));
  typedef int32_t I __attribute__((vector_size(4 * N)));

  static F splat(float v) { return F{} + v; }

  // exp(x) within ~2 ulp: x = n ln2 + r (Cody-Waite, two steps), e^r by Cephes' expf polynomial, times 2^n
  // built in the exponent bits. Inputs are clamped to [-87.3, 88.7]: e^x stays a normal float.
  static F exp(F x) {
    const F hi = splat(88.7f), lo = splat(-87.3f);
    x = x > hi ? hi : x;
    x = x < lo ? lo : x;
    // round(x / ln2) to nearest even: adding 1.5 * 2^23 leaves the integer part in the low mantissa bits
    const F shifter = splat(12582912.0f);
    const F t = x * 1.44269504088896341f + shifter;
    const F n = t - shifter;
    F r = x - n * 0.693359375f;
    r = r - n * -2.12194440e-4f;
    F p = r * 1.9875691500e-4f + 1.3981999507e-3f;
    p = p * r + 8.3334519073e-3f;
    p = p * r + 4.1665795894e-2f;
    p = p * r + 1.6666665459e-1f;
    p = p * r + 5.0000001201e-1f;
    p = p * (r * r) + r + 1.0f;
    // n as an integer: t = 1.5 * 2^23 + n stays in the binade of 2^23, where the float's bits count units
    I t_bits, shifter_bits;
    std::memcpy(&t_bits, &t, sizeof t);
    std::memcpy(&shifter_bits, &shifter, sizeof shifter);
    const I bits = (t_bits - shifter_bits + 127) << 23;
    F scale;
    std::memcpy(&scale, &bits, sizeof scale);
    return p * scale;
  }

  static F silu_mul(F g, F u) { return g / (1.0f + exp(-g)) * u; }
};

template <int N>
void silu_mul_lanes(const float* gate, const float* up, int64_t n, float* out) {
  using L = Lanes<N>;
  typename L::F g, u, y;
  int64_t i = 0;
  for (; i + N <= n; i += N) {
    std::memcpy(&g, gate + i, sizeof g);
    std::memcpy(&u, up + i, sizeof u);
    y = L::silu_mul(g, u);
    std::memcpy(out + i, &y, sizeof y);
  }
  if (i < n) {  // the same operations on a zero-padded vector
    g = typename L::F{};
    u = typename L::F{};
    std::memcpy(&g, gate + i, (n - i) * sizeof(float));
    std::memcpy(&u, up + i, (n - i) * sizeof(float));
    y = L::silu_mul(g, u);
    std::memcpy(out + i, &y, (n - i) * sizeof(float));
  }
}

}  // namespace
}  // namespace qwen3::kernels
