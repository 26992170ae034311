// qwen3 pull REPO[:QUANT] [--revision R] [--include GLOB...]: a model from the Hugging Face Hub into the
// Hugging Face cache (src/hub/hub.h has the layout and the protocol). Prints the local model path on stdout.
#include <cstdio>
#include <memory>

#include "cli/commands.h"
#include "core/error.h"
#include "hub/hub.h"

namespace qwen3::cli {

namespace {

struct PullArgs {
  std::string repo;
  hub::PullOptions options;
};

}  // namespace

void add_pull_command(CLI::App& app) {
  auto a = std::make_shared<PullArgs>();
  CLI::App* cmd = app.add_subcommand(
      "pull",
      "download a model from the Hugging Face Hub into the Hugging Face cache (HF_ENDPOINT, HF_HOME, "
      "HF_HUB_CACHE, HF_TOKEN); prints its local path");
  cmd->add_option("repo", a->repo,
                  "ORG/NAME (safetensors: config, tokenizer and weights) or ORG/NAME:QUANT (the GGUF file of "
                  "that quant, e.g. Qwen/Qwen3-0.6B-GGUF:Q8_0, as llama.cpp's -hf picks it)")
      ->required();
  cmd->add_option("--revision", a->options.revision, "branch, tag or commit (default: main)");
  cmd->add_option("--include", a->options.include,
                  "also download the files matching these globs (e.g. '*.md'); repeatable")
      ->expected(1, -1);
  cmd->callback([a] {
    hub::RepoRef ref;
    QWEN3_CHECK(hub::parse_repo_ref(a->repo, ref),
                "%s: not a Hugging Face repo id (expected ORG/NAME or ORG/NAME:QUANT)", a->repo.c_str());
    QWEN3_CHECK(!a->options.revision.empty() && a->options.revision.find("..") == std::string::npos &&
                    a->options.revision[0] != '/',
                "--revision %s: not a branch, tag or commit", a->options.revision.c_str());
    std::string path = hub::pull(ref, a->options, hub::hub_env());
    std::printf("%s\n", path.c_str());
  });
}

}  // namespace qwen3::cli
