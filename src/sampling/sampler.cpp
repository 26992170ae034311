#include "sampling/sampler.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <numeric>

#include "core/error.h"

namespace qwen3 {

SamplingParams qwen3_recommended(bool thinking) {
  SamplingParams p;
  p.temperature = thinking ? 0.6f : 0.7f;
  p.top_p = thinking ? 0.95f : 0.8f;
  p.top_k = 20;
  p.min_p = 0.0f;
  return p;
}

float to_sampling_float(double x) {
  constexpr double max = std::numeric_limits<float>::max();
  if (x > max) return std::numeric_limits<float>::infinity();
  if (x < -max) return -std::numeric_limits<float>::infinity();
  return static_cast<float>(x);  // in range (or NaN): rounds to nearest, tiny values to ±0
}

std::optional<SamplingParamError> check_sampling_params(const SamplingParams& p, int n_vocab_tokens) {
  // Each test is written so that NaN fails it.
  auto out_of = [](const char* name, float v, const char* range) {
    return SamplingParamError{name, strfmt("'%s' is %g as a 32-bit float: it must be %s", name, v, range)};
  };
  if (!std::isfinite(p.temperature)) return out_of("temperature", p.temperature, "a finite number");
  if (!(p.top_p > 0.0f && p.top_p <= 1.0f)) return out_of("top_p", p.top_p, "in (0, 1]");
  if (!(p.min_p >= 0.0f && p.min_p <= 1.0f)) return out_of("min_p", p.min_p, "in [0, 1]");
  if (!(p.repetition_penalty >= kMinRepetitionPenalty && p.repetition_penalty <= kMaxRepetitionPenalty))
    return out_of("repetition_penalty", p.repetition_penalty, "in [1e-6, 1e6]");
  if (!(std::fabs(p.presence_penalty) <= kMaxPenalty))
    return out_of("presence_penalty", p.presence_penalty, "in [-1e6, 1e6]");
  if (!(std::fabs(p.frequency_penalty) <= kMaxPenalty))
    return out_of("frequency_penalty", p.frequency_penalty, "in [-1e6, 1e6]");
  for (const auto& [id, bias] : p.logit_bias) {
    if (id < 0 || id >= n_vocab_tokens)
      return SamplingParamError{
          "logit_bias",
          strfmt("logit_bias: token id %d is outside the vocabulary (ids 0 to %d)", id, n_vocab_tokens - 1)};
    if (!(std::fabs(bias) <= kMaxLogitBias || bias == -std::numeric_limits<float>::infinity()))
      return SamplingParamError{
          "logit_bias",
          strfmt("logit_bias[%d] is %g as a 32-bit float: it must be in [-1e6, 1e6]", id, bias)};
  }
  return std::nullopt;
}

Sampler::Sampler(const SamplingParams& params, int n_vocab_tokens)
    : params_(params), n_vocab_(n_vocab_tokens), state_(params.seed ^ 0x5851f42d4c957f2dull) {
  QWEN3_CHECK(n_vocab_tokens > 0, "sampler needs a vocabulary");
  if (auto e = check_sampling_params(params, n_vocab_tokens)) throw Error(e->message);
}

double Sampler::next_uniform() {
  uint64_t z = (state_ += 0x9e3779b97f4a7c15ull);
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
  z ^= z >> 31;
  return static_cast<double>(z >> 11) * (1.0 / 9007199254740992.0);
}

void Sampler::apply_bias_and_penalties(std::span<float> logits, std::span<const int32_t> prompt,
                                       std::span<const int32_t> output) {
  for (auto& [id, bias] : params_.logit_bias) logits[id] += bias;
  if (params_.repetition_penalty != 1.0f) {
    // Each distinct id once, however often it occurs.
    counts_.assign(n_vocab_, 0);
    for (auto list : {prompt, output})
      for (int32_t id : list)
        if (id >= 0 && id < n_vocab_ && counts_[id]++ == 0) {
          float& l = logits[id];
          l = l > 0 ? l / params_.repetition_penalty : l * params_.repetition_penalty;
        }
  }
  if (params_.presence_penalty != 0.0f || params_.frequency_penalty != 0.0f) {
    counts_.assign(n_vocab_, 0);
    for (int32_t id : output)
      if (id >= 0 && id < n_vocab_) counts_[id]++;
    for (int32_t id : output)
      if (id >= 0 && id < n_vocab_ && counts_[id] > 0) {
        logits[id] -= params_.presence_penalty + params_.frequency_penalty * counts_[id];
        counts_[id] = 0;  // penalise each id once
      }
  }
}

std::vector<std::pair<int32_t, double>> Sampler::candidates(std::span<const float> logits) const {
  // top-k (or everything), sorted by logit descending, ties by id.
  std::vector<int32_t> ids(n_vocab_);
  std::iota(ids.begin(), ids.end(), 0);
  auto better = [&](int32_t a, int32_t b) {
    return logits[a] > logits[b] || (logits[a] == logits[b] && a < b);
  };
  size_t k = params_.top_k > 0 ? std::min<size_t>(params_.top_k, ids.size()) : ids.size();
  std::partial_sort(ids.begin(), ids.begin() + k, ids.end(), better);
  ids.resize(k);
  // Drop -inf (a bias of -inf bans a token).
  while (!ids.empty() && !std::isfinite(logits[ids.back()])) ids.pop_back();
  QWEN3_CHECK(!ids.empty(), "every token is banned (all logits are -inf)");

  // Probabilities at temperature 1 for top-p and min-p.
  auto softmax = [&](double temperature) {
    std::vector<double> p(ids.size());
    double mx = logits[ids[0]], sum = 0;
    for (size_t i = 0; i < ids.size(); ++i) sum += p[i] = std::exp((logits[ids[i]] - mx) / temperature);
    for (double& x : p) x /= sum;
    return p;
  };
  std::vector<double> p = softmax(1.0);
  size_t keep = ids.size();
  if (params_.top_p < 1.0f) {
    double mass = 0;
    for (size_t i = 0; i < ids.size(); ++i) {
      mass += p[i];
      if (mass >= params_.top_p) {
        keep = i + 1;
        break;
      }
    }
  }
  if (params_.min_p > 0.0f) {
    double threshold = params_.min_p * p[0];
    size_t i = 1;
    while (i < keep && p[i] >= threshold) ++i;
    keep = i;
  }
  ids.resize(keep);
  p = softmax(params_.temperature);
  std::vector<std::pair<int32_t, double>> out(ids.size());
  for (size_t i = 0; i < ids.size(); ++i) out[i] = {ids[i], p[i]};
  return out;
}

int32_t Sampler::sample(std::span<float> logits, std::span<const int32_t> prompt,
                        std::span<const int32_t> output) {
  QWEN3_CHECK(logits.size() >= static_cast<size_t>(n_vocab_), "logits shorter than the vocabulary");
  apply_bias_and_penalties(logits, prompt, output);
  if (params_.temperature <= 0.0f) {
    int32_t best = 0;
    for (int32_t i = 1; i < n_vocab_; ++i)
      if (logits[i] > logits[best]) best = i;
    return best;
  }
  auto cands = candidates(logits);
  double u = next_uniform(), acc = 0;
  for (auto& [id, prob] : cands) {
    acc += prob;
    if (u < acc) return id;
  }
  return cands.back().first;  // rounding left u above the total
}

}  // namespace qwen3
