// qwen3 generate: greedy generation from a prompt of token ids. (Text prompts, sampling and the chat template
// arrive with the tokenizer and generation work.) Generated ids go to stdout, speeds to stderr.
#include <cstdio>
#include <sstream>

#include "cli/commands.h"
#include "cli/model_args.h"
#include "core/error.h"
#include "core/timer.h"
#include "model/forward.h"

namespace qwen3::cli {

static std::vector<int32_t> parse_ids(const std::string& s, const Model& m) {
  std::vector<int32_t> ids;
  std::stringstream ss(s);
  std::string item;
  while (std::getline(ss, item, ',')) {
    char* end = nullptr;
    long v = std::strtol(item.c_str(), &end, 10);
    QWEN3_CHECK(!item.empty() && end && *end == '\0' && v >= 0 && v < m.config.vocab_size,
                "--ids: '%s' is not a token id in [0, %d)", item.c_str(), m.config.vocab_size);
    ids.push_back(static_cast<int32_t>(v));
  }
  QWEN3_CHECK(!ids.empty(), "--ids: give at least one token id");
  return ids;
}

void add_generate_command(CLI::App& app) {
  auto args = std::make_shared<ModelArgs>();
  auto ids_arg = std::make_shared<std::string>();
  auto n_predict = std::make_shared<int>(32);
  CLI::App* cmd = app.add_subcommand("generate", "generate greedily from a prompt of token ids");
  add_model_options(cmd, *args);
  cmd->add_option("--ids", *ids_arg, "prompt as comma-separated token ids")->required();
  cmd->add_option("-n,--max-tokens", *n_predict, "tokens to generate (default 32)");
  cmd->callback([args, ids_arg, n_predict] {
    double t_load = now_seconds();
    auto model = load_model_from_args(*args);
    auto pool = make_pool(*args);
    t_load = now_seconds() - t_load;
    std::vector<int32_t> ids = parse_ids(*ids_arg, *model);
    ForwardOptions fo;
    fo.pool = pool.get();
    int count = 0;
    GreedyResult r = generate_greedy(*model, ids, *n_predict, fo, false, [&](int32_t id) {
      std::printf("%s%d", count++ ? " " : "", id);
      std::fflush(stdout);
    });
    std::printf("\n");
    std::fflush(stdout);
    int n = *n_predict;
    std::fprintf(stderr, "load %.2f s | prompt %zu tokens, %.1f tok/s | generated %d tokens, %.1f tok/s\n",
                 t_load, ids.size(), ids.size() / r.prompt_seconds, n,
                 n > 1 ? (n - 1) / r.decode_seconds : 0.0);
  });
}

}  // namespace qwen3::cli
