// Sampling and generation flags shared by `qwen3 generate` and `qwen3 chat`, and how they combine with the
// model's defaults: generation_config.json for thinking mode (it holds Qwen's thinking recommendations),
// Qwen's non-thinking recommendations (T 0.7, top-p 0.8, top-k 20) when thinking is off, then any flag given
// wins. llama.cpp's spellings are aliases (-s/--seed, --temp, -n/--n-predict/--predict, -c/--ctx-size); every
// value is checked as it is parsed (flags.h), with check_sampling_params for the sampling ones; --seed -1 is
// a random seed. QWEN3_N_PREDICT and QWEN3_CTX_SIZE stand in for -n and -c.
#pragma once

#include <CLI/CLI.hpp>
#include <optional>
#include <string>
#include <vector>

#include "cli/constraint_args.h"
#include "engine/session.h"
#include "model/model.h"

namespace qwen3::cli {

struct GenerationArgs {
  std::optional<float> temperature, top_p, min_p, repetition_penalty, presence_penalty, frequency_penalty;
  std::optional<int> top_k;
  std::optional<uint64_t> seed;  // none (or --seed -1): a fresh random seed
  bool greedy = false;
  std::vector<std::string> logit_bias;  // "ID=BIAS"
  std::vector<std::string> stop;
  int max_tokens = -1;
  int thinking_budget = -1;
  int ctx = 0;                // 0: min(32768, max_position_embeddings)
  ConstraintArgs constraint;  // --json-schema, --grammar, --regex
};

void add_generation_options(CLI::App* cmd, GenerationArgs& args);

// The generation parameters for a turn in the given mode (thinking on/off), seeded from args.seed or, when
// absent, from a fresh random seed (returned in params.sampling.seed so it can be reported).
GenerationParams make_generation_params(const GenerationArgs& args, const Model& model, bool thinking);

int context_size(const GenerationArgs& args, const Model& model);

}  // namespace qwen3::cli
