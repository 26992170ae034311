// Options shared by the subcommands that load a model (-m, --dtype, --threads, --mmap, --kv-type, llama.cpp's
// -ngl) and the resolution of MODEL: a Hugging Face-layout directory, a .gguf file, or a repo id such as
// Qwen/Qwen3-0.6B found in the Hugging Face cache. Each option's value is checked as it is parsed (flags.h).
// Environment variables stand in for flags not given: QWEN3_MODEL (-m, on every subcommand that takes it),
// QWEN3_THREADS (-t), QWEN3_DTYPE (--dtype), QWEN3_MMAP (1: --mmap).
#pragma once

#include <CLI/CLI.hpp>
#include <memory>
#include <string>
#include <vector>

#include "core/thread_pool.h"
#include "model/model.h"

namespace qwen3::cli {

struct ModelArgs {
  std::string model;
  std::string dtype;        // empty = as stored
  std::string embed_dtype;  // --embed-dtype: empty = as the other matrices
  int threads = 0;          // 0 = physical cores
  bool mmap = false;
  bool exact_bf16 = false;          // bf16 weights take f32 activations (LoadOptions::bf16_dot = false)
  std::string kv_type = "f16";      // the KV cache (commands that keep one: add_kv_type_option)
  std::vector<std::string> lora;    // --lora DIR[:SCALE] (or NAME=DIR[:SCALE] for serve), in order
  std::string lora_dtype = "auto";  // --lora-dtype auto|file|bf16
};

// -m, --dtype, --embed-dtype, -t, --mmap/--no-mmap, --exact-bf16, --lora and -ngl.
void add_model_options(CLI::App* cmd, ModelArgs& args);
// -m/--model MODEL, also under llama.cpp's -hf/--hf-repo REPO[:QUANT] (the same: a repo id is resolved in
// the Hugging Face cache and downloaded when missing), with $QWEN3_MODEL. `what` describes it in --help.
CLI::Option* add_model_path_option(CLI::App* cmd, std::string& model, const std::string& what);
void add_threads_option(CLI::App* cmd, int& threads);            // -t/--threads, $QWEN3_THREADS
void add_dtype_option(CLI::App* cmd, std::string& dtype);        // --dtype, $QWEN3_DTYPE
void add_embed_dtype_option(CLI::App* cmd, std::string& dtype);  // --embed-dtype
void add_mmap_option(CLI::App* cmd, bool& mmap);                 // --mmap/--no-mmap, $QWEN3_MMAP
void add_exact_bf16_option(CLI::App* cmd, bool& exact);
// --lora DIR[:SCALE], repeatable (load_model_from_args applies them), and --lora-dtype.
void add_lora_option(CLI::App* cmd, std::vector<std::string>& lora, std::string& lora_dtype);
// -ngl/--n-gpu-layers N: accepted for llama.cpp's command lines, with a warning that it is ignored.
void add_gpu_layers_option(CLI::App* cmd);
// --kv-type for the commands that keep a KV cache (chat, generate, serve, bench): f16 by default, as
// llama.cpp; llama.cpp's -ctk/--cache-type-k and -ctv/--cache-type-v name it too (K and V share one type
// here, so the values given must agree).
void add_kv_type_option(CLI::App* cmd, std::string& kv_type);
// The KV cache dtype of --kv-type, checked against the model's head_dim (a clear error before any work).
DType kv_type_for(const std::string& kv_type, const ModelConfig& config);

// A directory (or .gguf file) path for MODEL; a repo id ORG/NAME[:QUANT] is looked up in the Hugging Face
// cache and pulled into it when missing (hub::resolve_model). Throws a clear error when it cannot be found.
std::string resolve_model_dir(const std::string& model);

// The model, with the unnamed --lora adapters stacked on it (Model::lora); named ones (NAME=DIR, qwen3
// serve's) are the caller's (load_named_adapters). allow_named: false makes NAME=DIR an error.
std::unique_ptr<Model> load_model_from_args(const ModelArgs& args, bool allow_named = false);
std::unique_ptr<ThreadPool> make_pool(const ModelArgs& args);

// The directory holding the pinned Qwen3 tokenizer files for synthetic models ($QWEN3_TOKENIZER_DIR, else the
// source tree's .cache/qwen3-tokenizer); empty when absent.
std::string default_tokenizer_dir();

}  // namespace qwen3::cli
