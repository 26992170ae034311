// Rotary position embedding parameters of a model: the inverse frequencies and the factor its cos/sin are
// multiplied by, computed from config.json as transformers' modeling_rope_utils does (default RoPE and YaRN).
// Tested against tools/reference/qwen3_ref.py on synthetic models with YaRN (tests/model/test_yarn.py).
#pragma once

#include <vector>

#include "model/config.h"

namespace qwen3 {

struct RopeFreqs {
  std::vector<float> inv_freq;     // [head_dim / 2], f32 as transformers computes it
  float attention_scaling = 1.0f;  // cos and sin are multiplied by it (YaRN's mscale; 1 without scaling)
};

// Default RoPE: inv_freq = 1 / theta^(2i/d) rounded to f32.
std::vector<float> rope_inv_freq(double theta, int head_dim);

// The config's RoPE: default, or YaRN (rope_scaling.rope_type "yarn"): each frequency blended between
// extrapolation (inv_freq as is, the fast dimensions) and interpolation (inv_freq / factor, the slow ones)
// by a linear ramp over the dimensions whose wavelength lies between beta_fast and beta_slow rotations of
// the original context; attention scaling 0.1 ln(factor) + 1 unless the config sets it.
RopeFreqs rope_frequencies(const ModelConfig& config);

}  // namespace qwen3
