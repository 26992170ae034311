// Each step of the sampling chain against a direct computation on small distributions.
#include <gtest/gtest.h>

#include <cmath>
#include <limits>
#include <map>

#include "core/error.h"
#include "sampling/sampler.h"

namespace qwen3 {
namespace {

std::vector<float> logits_of(std::vector<double> probs) {
  std::vector<float> l;
  for (double p : probs) l.push_back(static_cast<float>(std::log(p)));
  return l;
}

SamplingParams plain() {
  SamplingParams p;
  p.temperature = 1.0f;
  return p;
}

TEST(Sampler, GreedyTakesTheLargestRealTokenLowestIdOnTies) {
  SamplingParams p;
  p.temperature = 0;
  Sampler s(p, 4);  // ids 4 and 5 are padding
  std::vector<float> l = {1, 3, 3, 2, 50, 60};
  EXPECT_EQ(s.sample(l, {}, {}), 1);
}

TEST(Sampler, PaddedRowsAreNeverSampled) {
  Sampler s(plain(), 3);
  for (int i = 0; i < 200; ++i) {
    std::vector<float> l = {0, 0, 0, 100, 100};
    EXPECT_LT(s.sample(l, {}, {}), 3);
  }
}

TEST(Sampler, LogitBiasForcesAndBans) {
  SamplingParams p = plain();
  p.logit_bias = {{2, 100.0f}};
  Sampler s(p, 4);
  for (int i = 0; i < 50; ++i) {
    std::vector<float> l = {5, 4, 0, 1};
    EXPECT_EQ(s.sample(l, {}, {}), 2);
  }
  p.logit_bias = {{0, -INFINITY}};
  p.temperature = 0;
  Sampler g(p, 4);
  std::vector<float> l = {5, 4, 0, 1};
  EXPECT_EQ(g.sample(l, {}, {}), 1);
  EXPECT_THROW(Sampler(SamplingParams{.logit_bias = {{9, 1.0f}}}, 4), Error);
}

TEST(Sampler, RepetitionPenaltyDividesPositiveAndMultipliesNegative) {
  SamplingParams p = plain();
  p.repetition_penalty = 2.0f;
  Sampler s(p, 5);
  std::vector<float> l = {4, -4, 4, -4, 1};
  std::vector<int32_t> prompt = {0, 1, 1}, output = {1, 3};
  s.apply_bias_and_penalties(l, prompt, output);
  EXPECT_EQ(l, (std::vector<float>{2, -8, 4, -8, 1}));  // each seen id once, prompt and output alike
}

TEST(Sampler, PresenceAndFrequencyPenaltiesCountTheOutput) {
  SamplingParams p = plain();
  p.presence_penalty = 0.5f;
  p.frequency_penalty = 0.25f;
  Sampler s(p, 4);
  std::vector<float> l = {1, 1, 1, 1};
  std::vector<int32_t> prompt = {3, 3}, output = {0, 2, 2, 2};
  s.apply_bias_and_penalties(l, prompt, output);
  EXPECT_FLOAT_EQ(l[0], 1 - 0.5f - 0.25f);
  EXPECT_FLOAT_EQ(l[1], 1);
  EXPECT_FLOAT_EQ(l[2], 1 - 0.5f - 0.75f);
  EXPECT_FLOAT_EQ(l[3], 1);  // the prompt does not count for OpenAI's penalties
}

TEST(Sampler, TopKKeepsTheKLargest) {
  SamplingParams p = plain();
  p.top_k = 2;
  Sampler s(p, 5);
  auto c = s.candidates(logits_of({0.1, 0.4, 0.2, 0.25, 0.05}));
  ASSERT_EQ(c.size(), 2u);
  EXPECT_EQ(c[0].first, 1);
  EXPECT_EQ(c[1].first, 3);
  EXPECT_NEAR(c[0].second, 0.4 / 0.65, 1e-6);
  EXPECT_NEAR(c[1].second, 0.25 / 0.65, 1e-6);
}

TEST(Sampler, TopPKeepsTheSmallestPrefixReachingP) {
  SamplingParams p = plain();
  p.top_p = 0.75f;
  Sampler s(p, 4);
  auto c = s.candidates(logits_of({0.15, 0.5, 0.05, 0.3}));
  ASSERT_EQ(c.size(), 2u);  // 0.5 + 0.3 >= 0.75
  EXPECT_EQ(c[0].first, 1);
  EXPECT_EQ(c[1].first, 3);
  EXPECT_NEAR(c[0].second, 0.5 / 0.8, 1e-6);
  p.top_p = 0.85f;
  EXPECT_EQ(Sampler(p, 4).candidates(logits_of({0.15, 0.5, 0.05, 0.3})).size(), 3u);
}

TEST(Sampler, MinPDropsTokensBelowAFractionOfTheTop) {
  SamplingParams p = plain();
  p.min_p = 0.3f;
  Sampler s(p, 4);
  auto c = s.candidates(logits_of({0.5, 0.2, 0.14, 0.16}));  // threshold 0.15
  ASSERT_EQ(c.size(), 3u);
  EXPECT_EQ(c[2].first, 3);
  EXPECT_NEAR(c[0].second, 0.5 / 0.86, 1e-6);
}

TEST(Sampler, TemperatureScalesTheFinalSoftmax) {
  SamplingParams p = plain();
  p.temperature = 0.5f;
  Sampler s(p, 3);
  std::vector<float> l = {1.0f, 2.0f, 0.5f};
  auto c = s.candidates(l);
  double z = std::exp(2.0) + std::exp(4.0) + std::exp(1.0);
  EXPECT_NEAR(c[0].second, std::exp(4.0) / z, 1e-9);
  EXPECT_NEAR(c[1].second, std::exp(2.0) / z, 1e-9);
  EXPECT_NEAR(c[2].second, std::exp(1.0) / z, 1e-9);
}

TEST(Sampler, TopPIsAppliedBeforeTemperature) {
  SamplingParams p = plain();
  p.top_p = 0.6f;
  p.temperature = 2.0f;
  Sampler s(p, 3);
  auto c = s.candidates(logits_of({0.5, 0.3, 0.2}));  // at T=1: 0.5 + 0.3 reaches 0.6
  ASSERT_EQ(c.size(), 2u);
  double a = std::sqrt(0.5), b = std::sqrt(0.3);  // then T=2 flattens what is left
  EXPECT_NEAR(c[0].second, a / (a + b), 1e-6);
}

TEST(Sampler, DrawsFollowTheDistribution) {
  SamplingParams p = plain();
  p.seed = 42;
  Sampler s(p, 4);
  std::vector<double> probs = {0.1, 0.2, 0.3, 0.4};
  std::map<int32_t, int> hits;
  const int n = 40000;
  for (int i = 0; i < n; ++i) {
    auto l = logits_of(probs);
    hits[s.sample(l, {}, {})]++;
  }
  for (int id = 0; id < 4; ++id) {
    double sd = std::sqrt(n * probs[id] * (1 - probs[id]));
    EXPECT_NEAR(hits[id], n * probs[id], 4 * sd) << "id " << id;
  }
}

TEST(Sampler, SameSeedSameTokens) {
  auto run = [](uint64_t seed) {
    SamplingParams p = qwen3_recommended(true);
    p.seed = seed;
    Sampler s(p, 1000);
    std::vector<int32_t> out;
    for (int i = 0; i < 64; ++i) {
      std::vector<float> l(1000);
      for (int j = 0; j < 1000; ++j) l[j] = static_cast<float>(std::sin(j * 0.37 + i) * 3);
      out.push_back(s.sample(l, {}, out));
    }
    return out;
  };
  EXPECT_EQ(run(7), run(7));
  EXPECT_NE(run(7), run(8));
}

TEST(Sampler, QwenRecommendations) {
  SamplingParams t = qwen3_recommended(true), n = qwen3_recommended(false);
  EXPECT_FLOAT_EQ(t.temperature, 0.6f);
  EXPECT_FLOAT_EQ(t.top_p, 0.95f);
  EXPECT_EQ(t.top_k, 20);
  EXPECT_FLOAT_EQ(n.temperature, 0.7f);
  EXPECT_FLOAT_EQ(n.top_p, 0.8f);
  EXPECT_EQ(n.top_k, 20);
  EXPECT_FLOAT_EQ(n.min_p, 0.0f);
}

// Every field is judged as the float the sampler computes with: values that pass as doubles but underflow to
// 0 (1e-320, 1e-46), overflow to infinity (1e39, 1e300) or are NaN/infinite are refused, naming the field, by
// check_sampling_params and by the Sampler's constructor alike (the server calls the former, the scheduler
// builds the latter: one rule for both).
TEST(SamplingParams, EachFieldIsCheckedAsAFloat) {
  const float nan = std::numeric_limits<float>::quiet_NaN(), inf = std::numeric_limits<float>::infinity();
  const float zero_1e320 = to_sampling_float(1e-320), zero_1e46 = to_sampling_float(1e-46);
  const float big = to_sampling_float(1e39), huge = to_sampling_float(1e300);
  EXPECT_EQ(zero_1e320, 0.0f);
  EXPECT_EQ(zero_1e46, 0.0f);
  EXPECT_EQ(big, inf);
  EXPECT_EQ(huge, inf);
  EXPECT_EQ(to_sampling_float(-1e300), -inf);
  EXPECT_TRUE(std::isnan(to_sampling_float(std::nan(""))));
  EXPECT_EQ(to_sampling_float(0.25), 0.25f);

  struct Case {
    const char* param;
    void (*set)(SamplingParams&, float);
    std::vector<float> bad, good;
  };
  const std::vector<Case> cases = {
      {"temperature",
       [](SamplingParams& p, float v) { p.temperature = v; },
       {nan, inf, -inf, big},
       {0, 1e-30f, 2, -1}},
      {"top_p",
       [](SamplingParams& p, float v) { p.top_p = v; },
       {zero_1e320, zero_1e46, 0, -0.5f, 1.0001f, nan, inf, big},
       {1e-40f, 0.5f, 1}},
      {"min_p",
       [](SamplingParams& p, float v) { p.min_p = v; },
       {-1e-30f, 1.5f, nan, inf, big},
       {zero_1e320, 0, 0.5f, 1}},
      {"repetition_penalty",
       [](SamplingParams& p, float v) { p.repetition_penalty = v; },
       {zero_1e320, zero_1e46, 0, -1, 1e-7f, 2e6f, nan, inf, huge},
       {1e-6f, 1, 1.3f, 1e6f}},
      {"presence_penalty",
       [](SamplingParams& p, float v) { p.presence_penalty = v; },
       {nan, inf, -inf, huge, 2e6f, -2e6f},
       {zero_1e320, -2, 2, 1000, 1e6f, -1e6f}},
      {"frequency_penalty",
       [](SamplingParams& p, float v) { p.frequency_penalty = v; },
       {nan, inf, -inf, huge, 2e6f, -2e6f},
       {zero_1e46, -2, 2, 1e6f, -1e6f}},
      {"logit_bias",
       [](SamplingParams& p, float v) {
         p.logit_bias = {{1, 0.5f}, {3, v}};
       },
       {nan, inf, big, 1.5e6f, -2e6f},
       {zero_1e320, 100, -100, 1e6f, -inf}},  // -infinity bans the token
  };
  for (const Case& c : cases) {
    for (float v : c.bad) {
      SamplingParams p;
      c.set(p, v);
      auto e = check_sampling_params(p, 8);
      ASSERT_TRUE(e) << c.param << " = " << v;
      EXPECT_EQ(e->param, c.param) << v;
      EXPECT_NE(e->message.find(c.param), std::string::npos) << e->message;
      try {
        Sampler s(p, 8);
        ADD_FAILURE() << "Sampler accepted " << c.param << " = " << v;
      } catch (const Error& err) {
        EXPECT_EQ(err.what(), e->message);
      }
    }
    for (float v : c.good) {
      SamplingParams p;
      c.set(p, v);
      auto e = check_sampling_params(p, 8);
      EXPECT_FALSE(e) << c.param << " = " << v << ": " << e->message;
      EXPECT_NO_THROW(Sampler(p, 8)) << c.param << " = " << v;
    }
  }
}

TEST(SamplingParams, LogitBiasIdsAreInTheVocabulary) {
  for (int32_t id : {-1, 8, 1 << 30}) {
    SamplingParams p;
    p.logit_bias = {{0, 1.0f}, {id, 1.0f}};
    auto e = check_sampling_params(p, 8);
    ASSERT_TRUE(e) << id;
    EXPECT_EQ(e->param, "logit_bias");
    EXPECT_THROW(Sampler(p, 8), Error);
  }
  SamplingParams p;
  p.logit_bias = {{0, 1.0f}, {7, -1.0f}};
  EXPECT_FALSE(check_sampling_params(p, 8));
  EXPECT_TRUE(check_sampling_params(SamplingParams{}, 8) == std::nullopt);
}

// Within the accepted ranges every logit stays finite, so sampling never meets a NaN or an all-banned row.
TEST(SamplingParams, ExtremesKeepTheLogitsFinite) {
  SamplingParams p;
  p.repetition_penalty = kMinRepetitionPenalty;
  p.frequency_penalty = -kMaxPenalty;
  p.presence_penalty = -kMaxPenalty;
  p.logit_bias = {{0, kMaxLogitBias}};
  Sampler s(p, 4);
  std::vector<float> l = {1000, -1000, 3, 4};
  std::vector<int32_t> prompt = {0, 1}, output(1000, 0);
  s.apply_bias_and_penalties(l, prompt, output);
  for (float x : l) EXPECT_TRUE(std::isfinite(x)) << x;
  p.repetition_penalty = kMaxRepetitionPenalty;
  p.frequency_penalty = kMaxPenalty;
  Sampler t(p, 4);
  l = {1000, -1000, 3, 4};
  t.apply_bias_and_penalties(l, prompt, output);
  for (float x : l) EXPECT_TRUE(std::isfinite(x)) << x;
}

}  // namespace
}  // namespace qwen3
