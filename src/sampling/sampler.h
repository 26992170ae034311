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
#pragma once

#include <cstdint>
#include <span>
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

// Qwen's recommended settings for each mode (thinking: T 0.6, top-p 0.95, top-k 20, min-p 0; non-thinking:
// T 0.7, top-p 0.8, top-k 20, min-p 0).
SamplingParams qwen3_recommended(bool thinking);

class Sampler {
 public:
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
