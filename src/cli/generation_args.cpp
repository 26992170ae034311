#include "cli/generation_args.h"

#include <random>

#include "core/error.h"

namespace qwen3::cli {

void add_generation_options(CLI::App* cmd, GenerationArgs& a) {
  cmd->add_option("--temperature,--temp", a.temperature, "sampling temperature (0 = greedy)");
  cmd->add_option("--top-k", a.top_k, "keep the k most likely tokens (0 = off)");
  cmd->add_option("--top-p", a.top_p, "nucleus sampling mass (1 = off)");
  cmd->add_option("--min-p", a.min_p, "drop tokens below this fraction of the top probability");
  cmd->add_option("--repeat-penalty,--repetition-penalty", a.repetition_penalty,
                  "repetition penalty (1 = off)");
  cmd->add_option("--presence-penalty", a.presence_penalty, "OpenAI presence penalty");
  cmd->add_option("--frequency-penalty", a.frequency_penalty, "OpenAI frequency penalty");
  cmd->add_option("--logit-bias", a.logit_bias, "ID=BIAS added to a token's logit (repeatable)");
  cmd->add_option("--seed", a.seed, "random seed (same seed and settings, same tokens)");
  cmd->add_flag("--greedy", a.greedy, "always take the most likely token");
  cmd->add_option("--stop", a.stop, "stop string (repeatable)");
  cmd->add_option("-n,--max-tokens", a.max_tokens, "most tokens to generate per answer, thinking included");
  cmd->add_option("--thinking-budget", a.thinking_budget,
                  "most tokens of thinking before the answer is forced");
  cmd->add_option("-c,--ctx", a.ctx, "context window in tokens (default: 32768, or the model's maximum)");
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
  QWEN3_CHECK(s.top_p > 0 && s.top_p <= 1, "--top-p %g: choose a value in (0, 1]", s.top_p);
  QWEN3_CHECK(s.min_p >= 0 && s.min_p <= 1, "--min-p %g: choose a value in [0, 1]", s.min_p);
  QWEN3_CHECK(s.temperature >= 0, "--temperature %g: must be >= 0", s.temperature);
  for (const std::string& lb : a.logit_bias) {
    size_t eq = lb.find('=');
    char* end1 = nullptr;
    char* end2 = nullptr;
    long id = eq == std::string::npos ? -1 : std::strtol(lb.c_str(), &end1, 10);
    float bias = eq == std::string::npos ? 0 : std::strtof(lb.c_str() + eq + 1, &end2);
    QWEN3_CHECK(eq != std::string::npos && end1 == lb.c_str() + eq && end2 && *end2 == '\0' && id >= 0 &&
                    id < model.n_vocab_tokens,
                "--logit-bias %s: expected ID=BIAS with a token id below %d", lb.c_str(),
                model.n_vocab_tokens);
    s.logit_bias.emplace_back(static_cast<int32_t>(id), bias);
  }
  s.seed = a.seed ? *a.seed : std::random_device{}();
  p.max_tokens = a.max_tokens;
  p.stop = a.stop;
  p.thinking_budget = a.thinking_budget;
  return p;
}

int context_size(const GenerationArgs& a, const Model& model) {
  int max = model.config.max_position_embeddings;
  QWEN3_CHECK(a.ctx >= 0, "--ctx %d: must be positive", a.ctx);
  QWEN3_CHECK(a.ctx <= max, "--ctx %d: the model's maximum is %d", a.ctx, max);
  return a.ctx > 0 ? a.ctx : std::min(32768, max);
}

}  // namespace qwen3::cli
