// The element-wise kernels (silu(gate) * up, RMSNorm, RoPE, a residual add), N lanes at a time in GCC/clang
// vector extensions: one definition for every ISA. Each lane runs the same IEEE operations in the same order
// whatever N is, and nothing is contracted into an FMA (the ISA files build with -ffp-contract=off; the
// baseline one has no FMA), so the baseline (N = 4), AVX2 (8) and AVX-512 (16) kernels give the same bits.
// Included only by kernels_<isa>.cpp; the anonymous namespace keeps each file's instantiations its own.
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

// x[i] += y[i] (a residual add; GCC's -O2 leaves the plain loop scalar).
template <int N>
void add_lanes(float* x, const float* y, int64_t n) {
  typename Lanes<N>::F a, b;
  int64_t i = 0;
  for (; i + N <= n; i += N) {
    std::memcpy(&a, x + i, sizeof a);
    std::memcpy(&b, y + i, sizeof b);
    a = a + b;
    std::memcpy(x + i, &a, sizeof a);
  }
  for (; i < n; ++i) x[i] += y[i];
}

// x[i] += s * y[i]: the product rounded, then the sum (no fused multiply-add: the plain loop's bits).
template <int N>
void add_scaled_lanes(float* x, const float* y, float s, int64_t n) {
  typename Lanes<N>::F a, b;
  int64_t i = 0;
  for (; i + N <= n; i += N) {
    std::memcpy(&a, x + i, sizeof a);
    std::memcpy(&b, y + i, sizeof b);
    b = b * s;
    a = a + b;
    std::memcpy(x + i, &a, sizeof a);
  }
  for (; i < n; ++i) {
    const float p = s * y[i];
    x[i] += p;
  }
}

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

// transformers' Qwen3RMSNorm: variance = hidden_states.pow(2).mean(-1) in f32; hidden_states * rsqrt(variance
// + eps), times the weight. The sum of squares in f32 as thirty-two partial sums, in this order on every ISA:
// element i into lane i % 16 of accumulator (i / 16) % 2 (16-float vectors: one AVX-512 register, two AVX2
// ones, four SSE2 ones; a last partial vector zero-padded); then acc0 + acc1, its halves added (lane l +
// lane l + 8, then + 4) and (l0 + l2) + (l1 + l3). Two accumulators keep two adds in flight.
template <int N>
void rmsnorm_lanes(const float* x, const float* weight, int64_t n, float eps, float* out) {
  typedef float F16 __attribute__((vector_size(64)));
  typedef float F8 __attribute__((vector_size(32)));
  typedef float F4 __attribute__((vector_size(16)));
  F16 a0{}, a1{}, v;
  int64_t i = 0;
  for (; i + 32 <= n; i += 32) {
    std::memcpy(&v, x + i, sizeof v);
    a0 += v * v;
    std::memcpy(&v, x + i + 16, sizeof v);
    a1 += v * v;
  }
  for (; i < n; i += 16) {  // whole or zero-padded vectors, into the accumulator the rule names
    v = F16{};
    std::memcpy(&v, x + i, (n - i < 16 ? n - i : 16) * sizeof(float));
    if ((i / 16) % 2)
      a1 += v * v;
    else
      a0 += v * v;
  }
  const F16 a = a0 + a1;
  const F8 h8 = __builtin_shufflevector(a, a, 0, 1, 2, 3, 4, 5, 6, 7) +
                __builtin_shufflevector(a, a, 8, 9, 10, 11, 12, 13, 14, 15);
  const F4 h4 = __builtin_shufflevector(h8, h8, 0, 1, 2, 3) + __builtin_shufflevector(h8, h8, 4, 5, 6, 7);
  const float sum = (h4[0] + h4[2]) + (h4[1] + h4[3]);
  const float scale =
      static_cast<float>(1.0 / __builtin_sqrt(static_cast<double>(sum) / static_cast<double>(n) + eps));
  using L = Lanes<N>;
  typename L::F xv, wv, y;
  for (i = 0; i + N <= n; i += N) {
    std::memcpy(&xv, x + i, sizeof xv);
    std::memcpy(&wv, weight + i, sizeof wv);
    y = wv * (xv * scale);
    std::memcpy(out + i, &y, sizeof y);
  }
  for (; i < n; ++i) out[i] = weight[i] * (x[i] * scale);
}

// NEOX-style rotate-half RoPE on one head (transformers: q * cos + rotate_half(q) * sin, rotate_half(x) =
// cat(-x2, x1)): x[i], x[i + d/2] rotated by the angle of i, cos/sin tables [d/2].
template <int N>
void rope_neox_lanes(float* x, const float* cos, const float* sin, int head_dim) {
  const int half = head_dim / 2;
  using L = Lanes<N>;
  typename L::F x1, x2, c, s, y1, y2;
  int i = 0;
  for (; i + N <= half; i += N) {
    std::memcpy(&x1, x + i, sizeof x1);
    std::memcpy(&x2, x + i + half, sizeof x2);
    std::memcpy(&c, cos + i, sizeof c);
    std::memcpy(&s, sin + i, sizeof s);
    y1 = x1 * c - x2 * s;
    y2 = x2 * c + x1 * s;
    std::memcpy(x + i, &y1, sizeof y1);
    std::memcpy(x + i + half, &y2, sizeof y2);
  }
  for (; i < half; ++i) {
    const float a = x[i], b = x[i + half];
    x[i] = a * cos[i] - b * sin[i];
    x[i + half] = b * cos[i] + a * sin[i];
  }
}

}  // namespace
}  // namespace qwen3::kernels
