// qwen3 synth: writes a Hugging Face-layout model with deterministic random weights (see model/synth.h).
#include <cstdio>

#include "cli/commands.h"
#include "cli/model_args.h"
#include "core/error.h"
#include "core/timer.h"
#include "model/synth.h"

namespace qwen3::cli {

void add_synth_command(CLI::App& app) {
  auto opt = std::make_shared<SynthOptions>();
  auto no_tokenizer = std::make_shared<bool>(false);
  CLI::App* cmd = app.add_subcommand("synth", "write a synthetic model (real architecture, random weights)");
  cmd->add_option("--preset", opt->preset, "tiny | small | qwen3-0.6b")->required();
  cmd->add_option("--out", opt->out_dir, "output directory")->required();
  cmd->add_option("--dtype", opt->dtype, "bf16 (default) | f16 | f32");
  cmd->add_option("--seed", opt->seed, "random seed (same seed, same bytes)");
  cmd->add_option("--shards", opt->shards, "write N safetensors shards with an index (default 1)");
  cmd->add_option(
      "--tokenizer", opt->tokenizer_dir,
      "directory with tokenizer.json and tokenizer_config.json to copy (default: the pinned Qwen3 "
      "tokenizer fetched by scripts/fetch-tokenizer)");
  cmd->add_option("--rope-scaling", opt->rope_scaling,
                  "config.json's rope_scaling, a JSON object, e.g. "
                  "'{\"rope_type\":\"yarn\",\"factor\":4,\"original_max_position_embeddings\":64}'");
  cmd->add_flag("--no-tokenizer", *no_tokenizer, "write no tokenizer files");
  cmd->callback([opt, no_tokenizer] {
    if (*no_tokenizer) {
      opt->tokenizer_dir.clear();
    } else if (opt->tokenizer_dir.empty()) {
      opt->tokenizer_dir = default_tokenizer_dir();
      QWEN3_CHECK(
          !opt->tokenizer_dir.empty(),
          "no tokenizer files found: run scripts/fetch-tokenizer, pass --tokenizer DIR, or --no-tokenizer");
    }
    double t0 = now_seconds();
    int64_t n = write_synth_model(*opt);
    std::fprintf(stderr, "synth: wrote %s (%s, %lld parameters, %s) in %.1f s\n", opt->out_dir.c_str(),
                 opt->preset.c_str(), static_cast<long long>(n), opt->dtype.c_str(), now_seconds() - t0);
  });
}

}  // namespace qwen3::cli
