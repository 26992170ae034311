#include "cli/generation_args.h"

#include <climits>
#include <cstdlib>
#include <random>

#include "cli/flags.h"
#include "core/error.h"

namespace qwen3::cli {

namespace {

// "ID=BIAS" as the token id and the bias; the syntax is checked here, the id against the vocabulary later.
std::pair<int32_t, float> parse_logit_bias(const std::string& lb) {
  const size_t eq = lb.find('=');
  char* end1 = nullptr;
  char* end2 = nullptr;
  const long id = eq == std::string::npos ? -1 : std::strtol(lb.c_str(), &end1, 10);
  const double bias = eq == std::string::npos ? 0 : std::strtod(lb.c_str() + eq + 1, &end2);
  QWEN3_CHECK(eq != std::string::npos && eq > 0 && end1 == lb.c_str() + eq && end2 && *end2 == '\0' &&
                  end2 != lb.c_str() + eq + 1 && id >= 0 && id <= INT32_MAX,
              "--logit-bias %s: expected ID=BIAS (a token id, a number)", lb.c_str());
  return {static_cast<int32_t>(id), to_sampling_float(bias)};
}

}  // namespace

void add_generation_options(CLI::App* cmd, GenerationArgs& a) {
  // The ranges are check_sampling_params', the one rule the sampler and the server use.
  check_sampling(cmd->add_option("--temperature,--temp", a.temperature, "sampling temperature (0 = greedy)"),
                 [](SamplingParams& p, float v) { p.temperature = v; });
  check_int(cmd->add_option("--top-k", a.top_k, "keep the k most likely tokens (0 = off)"), INT32_MIN,
            INT32_MAX);
  check_sampling(cmd->add_option("--top-p", a.top_p, "nucleus sampling mass (1 = off)"),
                 [](SamplingParams& p, float v) { p.top_p = v; });
  check_sampling(
      cmd->add_option("--min-p", a.min_p, "drop tokens below this fraction of the top probability"),
      [](SamplingParams& p, float v) { p.min_p = v; });
  check_sampling(cmd->add_option("--repeat-penalty,--repetition-penalty", a.repetition_penalty,
                                 "repetition penalty (1 = off)"),
                 [](SamplingParams& p, float v) { p.repetition_penalty = v; });
  check_sampling(cmd->add_option("--presence-penalty", a.presence_penalty, "OpenAI presence penalty"),
                 [](SamplingParams& p, float v) { p.presence_penalty = v; });
  check_sampling(cmd->add_option("--frequency-penalty", a.frequency_penalty, "OpenAI frequency penalty"),
                 [](SamplingParams& p, float v) { p.frequency_penalty = v; });
  cmd->add_option("--logit-bias", a.logit_bias, "ID=BIAS added to a token's logit (repeatable)")
      ->check(CLI::Validator(
          [](std::string& v) {
            SamplingParams p;
            p.logit_bias = {parse_logit_bias(v)};
            if (auto e = check_sampling_params(p, INT32_MAX))
              throw_error("--logit-bias %s: %s", v.c_str(), e->message.c_str());
            return std::string();
          },
          ""));
  cmd->add_option_function<std::string>(
         "-s,--seed", [&a](const std::string& v) { a.seed = parse_seed("--seed", v); },
         "random seed: the same seed and settings give the same tokens (default, or -1: a random seed)")
      ->type_name("INT");
  cmd->add_flag("--greedy", a.greedy, "always take the most likely token");
  cmd->add_option("--stop", a.stop, "stop string (repeatable)");
  check_int(
      cmd->add_option("-n,--max-tokens,--n-predict,--predict", a.max_tokens,
                      "most tokens to generate per answer, thinking included (-1: until the context is full)")
          ->envname("QWEN3_N_PREDICT"),
      -2, INT32_MAX, "(-1 or -2: until the context is full)");
  check_int(cmd->add_option("--thinking-budget", a.thinking_budget,
                            "most tokens of thinking before the answer is forced"),
            -1, INT32_MAX, "(-1: no budget)");
  add_constraint_options(cmd, a.constraint);
  check_int(cmd->add_option("-c,--ctx,--ctx-size", a.ctx,
                            "context window in tokens (default: 32768, or the model's maximum)")
                ->envname("QWEN3_CTX_SIZE"),
            0, INT32_MAX, "(0: the default)");
}

GenerationParams make_generation_params(const GenerationArgs& a, const Model& model, bool thinking) {
  GenerationParams p;
  const GenerationConfig& g = model.generation;
  SamplingParams& s = p.sampling;
  if (thinking) {
    s.temperature = g.do_sample ? g.temperature : 0.0f;
    s.top_k = g.top_k;
    s.top_p = g.top_p;
    s.min_p = g.min_p;
    s.repetition_penalty = g.repetition_penalty;
  } else {
    s = qwen3_recommended(false);
  }
  if (a.temperature) s.temperature = *a.temperature;
  if (a.top_k) s.top_k = *a.top_k;
  if (a.top_p) s.top_p = *a.top_p;
  if (a.min_p) s.min_p = *a.min_p;
  if (a.repetition_penalty) s.repetition_penalty = *a.repetition_penalty;
  if (a.presence_penalty) s.presence_penalty = *a.presence_penalty;
  if (a.frequency_penalty) s.frequency_penalty = *a.frequency_penalty;
  if (a.greedy) s.temperature = 0.0f;
  for (const std::string& lb : a.logit_bias) s.logit_bias.push_back(parse_logit_bias(lb));
  // Each flag was checked as it was parsed; what remains is what needs the model: the token ids of
  // --logit-bias, and the values generation_config.json gave.
  if (auto e = check_sampling_params(s, model.n_vocab_tokens)) throw Error(e->message);
  s.seed = a.seed ? *a.seed : std::random_device{}();
  p.max_tokens = a.max_tokens;
  p.stop = a.stop;
  p.thinking_budget = a.thinking_budget;
  return p;
}

int context_size(const GenerationArgs& a, const Model& model) {
  int max = model.config.max_context();
  QWEN3_CHECK(a.ctx >= 0, "--ctx %d: must be positive", a.ctx);
  QWEN3_CHECK(a.ctx <= max, "--ctx %d: the model's maximum is %d", a.ctx, max);
  return a.ctx > 0 ? a.ctx : std::min(32768, max);
}

}  // namespace qwen3::cli
