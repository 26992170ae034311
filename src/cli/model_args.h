// Options shared by the subcommands that load a model (-m, --dtype, --threads, --mmap) and the resolution of
// MODEL: a Hugging Face-layout directory, or a repo id such as Qwen/Qwen3-0.6B found in the Hugging Face
// cache.
#pragma once

#include <CLI/CLI.hpp>
#include <memory>
#include <string>

#include "core/thread_pool.h"
#include "model/model.h"

namespace qwen3::cli {

struct ModelArgs {
  std::string model;
  std::string dtype;  // empty = as stored
  int threads = 0;    // 0 = physical cores
  bool mmap = false;
  bool exact_bf16 = false;      // bf16 weights take f32 activations (LoadOptions::bf16_dot = false)
  std::string kv_type = "f16";  // the KV cache (commands that keep one: add_kv_type_option)
};

void add_model_options(CLI::App* cmd, ModelArgs& args);
void add_exact_bf16_option(CLI::App* cmd, bool& exact);
// --kv-type for the commands that keep a KV cache (chat, generate, serve): f16 by default, as llama.cpp.
void add_kv_type_option(CLI::App* cmd, std::string& kv_type);
// The KV cache dtype of --kv-type, checked against the model's head_dim (a clear error before any work).
DType kv_type_for(const std::string& kv_type, const ModelConfig& config);

// A directory path for MODEL; throws a clear error when it cannot be found.
std::string resolve_model_dir(const std::string& model);

std::unique_ptr<Model> load_model_from_args(const ModelArgs& args);
std::unique_ptr<ThreadPool> make_pool(const ModelArgs& args);

// The directory holding the pinned Qwen3 tokenizer files for synthetic models ($QWEN3_TOKENIZER_DIR, else the
// source tree's .cache/qwen3-tokenizer); empty when absent.
std::string default_tokenizer_dir();

}  // namespace qwen3::cli
