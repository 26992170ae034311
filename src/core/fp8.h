// FP8 E4M3 ("e4m3fn", torch.float8_e4m3fn, safetensors F8_E4M3) <-> f32/bf16, scalar. Bits s eeee mmm, bias
// 7, no infinities: e = 0 is zero or a subnormal m * 2^-9, 0x7f and 0xff are NaN, the largest finite value is
// 448 (0x7e). Every e4m3 value is exact in bf16 and f32. Used at load (quantize, pack) and by the scalar
// reference kernel (kernels/matmul_fp8.h); the SIMD kernels convert in registers. Tested against ldexp and
// an independent NumPy implementation (tests/core/fp8_test.cpp, tests/quant/test_fp8.py).
#pragma once

#include <cmath>
#include <cstdint>
#include <cstring>

namespace qwen3 {

constexpr float kFp8E4M3Max = 448.0f;

// The bf16 bits of an e4m3 value, exactly (bf16 has 8 exponent bits and 7 mantissa bits).
constexpr uint16_t fp8_e4m3_to_bf16(uint8_t b) {
  const uint16_t sign = static_cast<uint16_t>((b & 0x80) << 8);
  const int e = (b >> 3) & 0x0f, m = b & 7;
  if ((b & 0x7f) == 0x7f) return static_cast<uint16_t>(sign | 0x7fc0);  // NaN (quiet)
  if (e != 0) return static_cast<uint16_t>(sign | ((e + 120) << 7) | (m << 4));
  if (m == 0) return sign;
  // subnormal m * 2^-9: normalise the 3-bit m (its leading one at bit p) into bf16's exponent
  const int p = m >= 4 ? 2 : m >= 2 ? 1 : 0;
  return static_cast<uint16_t>(sign | ((118 + p) << 7) | (((m << (7 - p)) & 0x7f)));
}

inline float fp8_e4m3_to_f32(uint8_t b) {
  const uint32_t bits = static_cast<uint32_t>(fp8_e4m3_to_bf16(b)) << 16;
  float f;
  std::memcpy(&f, &bits, 4);
  return f;
}

// Round to nearest even, saturating to +-448 (what torch's x.to(float8_e4m3fn) gives for |x| <= 448, and
// how Qwen's and DeepSeek's quantisers clamp); NaN becomes 0x7f with its sign.
inline uint8_t f32_to_fp8_e4m3(float x) {
  uint32_t bits;
  std::memcpy(&bits, &x, 4);
  const uint8_t sign = static_cast<uint8_t>((bits >> 24) & 0x80);
  const float a = std::fabs(x);
  if (std::isnan(x)) return static_cast<uint8_t>(sign | 0x7f);
  if (a >= kFp8E4M3Max) return static_cast<uint8_t>(sign | 0x7e);
  if (a < 0.015625f) {  // below 2^-6: multiples of 2^-9 (8 * 2^-9 is the smallest normal, code 0x08)
    return static_cast<uint8_t>(sign | static_cast<int>(std::nearbyint(a * 512.0f)));
  }
  int e;
  std::frexp(a, &e);      // a = f * 2^e, f in [0.5, 1): a in [2^(e-1), 2^e)
  const int exp = e - 1;  // -6 .. 8
  int q = static_cast<int>(std::nearbyint(std::ldexp(a, 3 - exp)));  // 8 .. 16, exact scaling
  int biased = exp + 7;
  if (q == 16) {
    q = 8;
    ++biased;
  }
  return static_cast<uint8_t>(sign | (biased << 3) | (q - 8));
}

}  // namespace qwen3
