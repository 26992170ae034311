// Token sampling: logit bias, penalties, then top-k → top-p → min-p → temperature → draw, or greedy.
//
// The chain order follows llama.cpp (temperature last, so top-p and min-p see the model's own distribution):
//   1. logit_bias        logits[id] += bias                                        (OpenAI)
//   2. repetition        for ids in prompt or output: logit > 0 ? logit / p : logit * p   (HF / CTRL)
//   3. presence/frequency for ids in the output: logit -= presence + frequency * count    (OpenAI)
//   4. greedy            temperature <= 0: the largest logit wins (ties: lowest id)
//   5. top-k             keep the k largest (k <= 0: all)
//   6. top-p             keep the smallest prefix (by probability) whose mass reaches p
//   7. min-p             keep tokens with probability >= min_p * the top probability
//   8. temperature       softmax(logits / T) over what is left
//   9. draw              one uniform number from the seeded generator against the cumulative sum
// Ids at or beyond n_vocab_tokens (padded rows of the embedding matrix) are never chosen.
// Same seed and settings and the same logits give the same tokens on every machine: the generator is
// splitmix64 and all sums after the softmax are in double precision over a deterministic order.
//
// check_sampling_params() is the one definition of valid settings, in the float domain the sampler computes
// in: the Sampler's constructor throws on what it rejects, and the server calls it (after converting each
// request number with to_sampling_float) to answer 400 naming the field. Its bounds keep every logit the
// chain computes finite for finite model logits, so nothing it accepts can make sample() throw.
#pragma once

#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <utility>
#include <vector>

namespace qwen3 {

struct SamplingParams {
  float temperature = 1.0f;  // <= 0: greedy
  int top_k = 0;             // <= 0: off
  float top_p = 1.0f;        // >= 1: off
  float min_p = 0.0f;        // <= 0: off
  float repetition_penalty = 1.0f;
  float presence_penalty = 0.0f;
  float frequency_penalty = 0.0f;
  std::vector<std::pair<int32_t, float>> logit_bias;
  uint64_t seed = 0;
};

// Bounds of check_sampling_params (beyond them a logit could overflow a float):
inline constexpr float kMaxPenalty = 1e6f;             // |presence_penalty|, |frequency_penalty|
inline constexpr float kMinRepetitionPenalty = 1e-6f;  // repetition_penalty in [1e-6, 1e6]
inline constexpr float kMaxRepetitionPenalty = 1e6f;
inline constexpr float kMaxLogitBias = 1e6f;  // |bias|; -infinity also allowed: it bans the id

struct SamplingParamError {
  std::string param;    // the field, as the OpenAI API names it: "top_p", "logit_bias", ...
  std::string message;  // one line naming the field, the value (as a float) and the valid range
};

// What is wrong with `p` for a vocabulary of n_vocab_tokens, or nothing. Linear in the size of logit_bias.
// temperature: finite (<= 0: greedy); top_p: (0, 1]; min_p: [0, 1]; repetition_penalty: [1e-6, 1e6];
// presence/frequency_penalty: [-1e6, 1e6]; logit_bias: ids in [0, n_vocab_tokens), biases in [-1e6, 1e6] or
// -infinity. NaN fails every test. (The server narrows temperature and logit_bias to OpenAI's [0, 2] and
// [-100, 100].)
std::optional<SamplingParamError> check_sampling_params(const SamplingParams& p, int n_vocab_tokens);

// A double as the nearest float, ±infinity beyond the float range (a plain cast is undefined there), NaN
// kept, and values below the smallest float rounding to ±0: what check_sampling_params must then judge.
float to_sampling_float(double x);

// Qwen's recommended settings for each mode (thinking: T 0.6, top-p 0.95, top-k 20, min-p 0; non-thinking:
// T 0.7, top-p 0.8, top-k 20, min-p 0).
SamplingParams qwen3_recommended(bool thinking);

class Sampler {
 public:
  // Throws qwen3::Error with check_sampling_params' message when the settings are invalid.
  Sampler(const SamplingParams& params, int n_vocab_tokens);

  // Chooses the next token. `logits` ([>= n_vocab_tokens]) is modified in place (bias and penalties applied).
  // `prompt` and `output` are the tokens so far, for the penalties.
  int32_t sample(std::span<float> logits, std::span<const int32_t> prompt, std::span<const int32_t> output);

  // Steps 1-3 alone (used by sample(), and by tests).
  void apply_bias_and_penalties(std::span<float> logits, std::span<const int32_t> prompt,
                                std::span<const int32_t> output);

  // The candidates left after steps 5-8 with their probabilities (descending; sums to 1).
  std::vector<std::pair<int32_t, double>> candidates(std::span<const float> logits) const;

  const SamplingParams& params() const { return params_; }
  double next_uniform();  // in [0, 1), from the seeded generator

 private:
  SamplingParams params_;
  int n_vocab_;
  uint64_t state_;
  std::vector<int32_t> counts_;  // scratch for the penalties: occurrences of each id
};

}  // namespace qwen3
