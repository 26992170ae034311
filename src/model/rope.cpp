#include "model/rope.h"

#include <algorithm>
#include <cmath>
#include <numbers>

namespace qwen3 {

namespace {

// base^(2i/d) as torch computes `base ** (torch.arange(0, d, 2).float() / d)`: the exponent in f32, the
// power rounded to f32.
std::vector<float> pos_freqs(double theta, int head_dim) {
  std::vector<float> f(head_dim / 2);
  for (int i = 0; i < head_dim / 2; ++i) {
    const float exponent = static_cast<float>(2 * i) / static_cast<float>(head_dim);
    f[i] = static_cast<float>(std::pow(theta, static_cast<double>(exponent)));
  }
  return f;
}

// YaRN's "mscale": 0.1 * m * ln(scale) + 1, and 1 for scale <= 1.
double yarn_mscale(double scale, double m) {
  return scale <= 1 ? 1.0 : 0.1 * m * std::log(scale) + 1.0;
}

// The dimension (of d) at which a frequency turns `rotations` times over the original context.
double correction_dim(double rotations, int dim, double base, double original_ctx) {
  return dim * std::log(original_ctx / (rotations * 2 * std::numbers::pi)) / (2 * std::log(base));
}

RopeFreqs yarn_frequencies(const ModelConfig& c) {
  const RopeScaling& s = c.rope_scaling;
  const int dim = c.head_dim;
  const double base = c.rope_theta, factor = s.factor;
  const double original =
      s.original_max_position_embeddings > 0 ? s.original_max_position_embeddings : c.max_position_embeddings;
  RopeFreqs r;
  double attention = s.attention_factor;
  if (attention <= 0)
    attention = s.mscale != 0 && s.mscale_all_dim != 0
                    ? yarn_mscale(factor, s.mscale) / yarn_mscale(factor, s.mscale_all_dim)
                    : yarn_mscale(factor, 1.0);
  r.attention_scaling = static_cast<float>(attention);
  // The ramp runs from `low` (beta_fast rotations: below it, extrapolate) to `high` (beta_slow: above it,
  // interpolate), in dimension pairs, clamped to [0, dim - 1].
  double low = correction_dim(s.beta_fast, dim, base, original);
  double high = correction_dim(s.beta_slow, dim, base, original);
  if (s.truncate) {
    low = std::floor(low);
    high = std::ceil(high);
  }
  low = std::max(low, 0.0);
  high = std::min(high, static_cast<double>(dim - 1));
  if (low == high) high += 0.001;  // transformers' guard against a zero-width ramp
  const std::vector<float> pf = pos_freqs(base, dim);
  const float f = static_cast<float>(factor);
  r.inv_freq.resize(dim / 2);
  for (int i = 0; i < dim / 2; ++i) {
    // transformers: everything below in f32 (torch tensors); low/high are Python floats
    const float ramp = std::clamp(
        (static_cast<float>(i) - static_cast<float>(low)) / static_cast<float>(high - low), 0.0f, 1.0f);
    const float extrapolation_weight = 1.0f - ramp;
    const float extrapolated = 1.0f / pf[i];
    const float interpolated = 1.0f / (f * pf[i]);
    r.inv_freq[i] = interpolated * (1.0f - extrapolation_weight) + extrapolated * extrapolation_weight;
  }
  return r;
}

}  // namespace

std::vector<float> rope_inv_freq(double theta, int head_dim) {
  // transformers: 1.0 / (base ** (torch.arange(0, dim, 2).float() / dim)), in float32.
  std::vector<float> inv(head_dim / 2);
  for (int i = 0; i < head_dim / 2; ++i) {
    float exponent = static_cast<float>(2 * i) / static_cast<float>(head_dim);
    inv[i] = static_cast<float>(1.0 / std::pow(theta, static_cast<double>(exponent)));
  }
  return inv;
}

RopeFreqs rope_frequencies(const ModelConfig& config) {
  if (config.rope_scaling.is_yarn()) return yarn_frequencies(config);
  RopeFreqs r;
  r.inv_freq = rope_inv_freq(config.rope_theta, config.head_dim);
  return r;
}

}  // namespace qwen3
