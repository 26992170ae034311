// The API's sampling fields (src/server/api.cpp, parse_generation): every number judged as the 32-bit float
// the sampler computes with, by the sampler's own check_sampling_params, so that what the server accepts can
// never fail inside the scheduler; logit_bias keys are plain decimal token ids, a repeated id keeps its last
// value, and a whole-vocabulary bias is parsed in linear time.
#include <gtest/gtest.h>

#include <chrono>

#include "server/api.h"
#include "tiny_model.h"

namespace qwen3::server {
namespace {

const ServedModel& served() {
  static ServedModel s = [] {
    ServedModel m;
    m.model = test::tiny_model().model.get();
    m.tokenizer = &test::tiny_model().tok;
    m.id = "tiny";
    m.n_ctx = 256;
    m.n_parallel = 2;
    return m;
  }();
  return s;
}

ApiRequest parse(const std::string& fields) {
  return parse_completion_request(R"({"prompt": "Hi", "max_tokens": 2)" + fields + "}", served());
}

// The parameter a 400 names, or "" when the body was accepted.
std::string refused_param(const std::string& fields) {
  try {
    parse(fields);
  } catch (const ApiError& e) {
    EXPECT_EQ(e.status, 400) << fields;
    EXPECT_FALSE(e.message.empty());
    return e.param;
  }
  return "";
}

TEST(ApiSampling, NumbersAreJudgedAsFloats) {
  // Doubles that pass the old double-domain ranges but are 0, or infinity, as floats.
  for (const char* field : {"top_p", "repetition_penalty"})
    for (const char* v : {"1e-320", "1e-46", "0", "1e39", "1e300"})
      EXPECT_EQ(refused_param(strfmt(R"(, "%s": %s)", field, v)), field) << v;
  for (const char* field : {"presence_penalty", "frequency_penalty"}) {
    for (const char* v : {"1e39", "-1e39", "1e300", "2e6"})
      EXPECT_EQ(refused_param(strfmt(R"(, "%s": %s)", field, v)), field) << v;
    for (const char* v : {"1e-320", "-2", "2", "1000", "-1e6"})
      EXPECT_EQ(refused_param(strfmt(R"(, "%s": %s)", field, v)), "") << field << " " << v;
  }
  for (const char* v : {"-0.001", "1.5", "1e39"})
    EXPECT_EQ(refused_param(strfmt(R"(, "min_p": %s)", v)), "min_p");
  EXPECT_EQ(refused_param(R"(, "min_p": -1e-320)"), "");  // -0 as a float
  EXPECT_EQ(refused_param(R"(, "temperature": 1e39)"), "temperature");
  EXPECT_FLOAT_EQ(parse(R"(, "temperature": 1e-320)").chat_request.generation.sampling.temperature, 0.0f);
  EXPECT_EQ(refused_param(R"(, "logit_bias": {"5": 1e39})"), "logit_bias");
  EXPECT_EQ(refused_param(R"(, "logit_bias": {"5": 100.5})"), "logit_bias");
  EXPECT_EQ(refused_param(R"(, "logit_bias": {"5": "1"})"), "logit_bias");
  EXPECT_EQ(refused_param(R"(, "logit_bias": {"5": 1e-320, "6": -100, "7": 100})"), "");
  // Whatever the API accepts, the Sampler accepts.
  ApiRequest r = parse(R"(, "top_p": 1e-40, "repetition_penalty": 1e-6, "presence_penalty": 1e6)");
  EXPECT_NO_THROW(Sampler(r.chat_request.generation.sampling, served().model->n_vocab_tokens));
}

TEST(ApiSampling, LogitBiasKeysAreDecimalTokenIds) {
  const int n = served().model->n_vocab_tokens;
  const std::vector<std::string> keys = {
      " 5", "5 ", "+5", "-1", "5e0", "0x5", "", "5.0", "99999999999999999999", std::to_string(n)};
  for (const std::string& key : keys)
    EXPECT_EQ(refused_param(R"(, "logit_bias": {")" + key + R"(": 1})"), "logit_bias") << "'" << key << "'";
  EXPECT_EQ(refused_param(R"(, "logit_bias": {")" + std::to_string(n - 1) + R"(": 1})"), "");
  // "5" and "05" are one id: the last value wins.
  auto bias =
      parse(R"(, "logit_bias": {"5": 1, "7": 2, "05": -3})").chat_request.generation.sampling.logit_bias;
  EXPECT_EQ(bias, (std::vector<std::pair<int32_t, float>>{{5, -3.0f}, {7, 2.0f}}));
}

TEST(ApiSampling, WholeVocabularyLogitBiasIsLinear) {
  const int n = served().model->n_vocab_tokens;
  std::string fields = R"(, "logit_bias": {)";
  for (int id = 0; id < n; ++id) fields += (id ? ",\"" : "\"") + std::to_string(id) + "\": -1";
  fields += "}";
  auto t0 = std::chrono::steady_clock::now();
  ApiRequest r = parse(fields);
  double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  EXPECT_EQ(r.chat_request.generation.sampling.logit_bias.size(), static_cast<size_t>(n));
  EXPECT_LT(seconds, 5.0) << n << " keys";  // ~0.1 s; quadratic work would take minutes
}

}  // namespace
}  // namespace qwen3::server
