#include "cli/model_args.h"

#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>

#include "cli/flags.h"
#include "core/error.h"
#include "core/progress.h"
#include "formats/gguf_reader.h"
#include "kernels/attention.h"
#include "model/kv_cache.h"

namespace qwen3::cli {

namespace fs = std::filesystem;

static DType parse_dtype_arg(const std::string& s) {
  if (s == "f32") return DType::kF32;
  if (s == "f16") return DType::kF16;
  if (s == "bf16") return DType::kBF16;
  if (s == "q8_0") return DType::kQ8_0;
  if (s == "q4_0") return DType::kQ4_0;
  throw_error("--dtype %s: choose f32, f16, bf16, q8_0 or q4_0", s.c_str());
}

void add_model_options(CLI::App* cmd, ModelArgs& a) {
  add_model_path_option(cmd, a.model,
                        "model: a Hugging Face-layout directory, a .gguf file or a repo id in the "
                        "Hugging Face cache")
      ->required();
  add_dtype_option(cmd, a.dtype);
  add_threads_option(cmd, a.threads);
  add_mmap_option(cmd, a.mmap);
  add_exact_bf16_option(cmd, a.exact_bf16);
  add_gpu_layers_option(cmd);
}

CLI::Option* add_model_path_option(CLI::App* cmd, std::string& model, const std::string& what) {
  return cmd
      ->add_option("-m,--model,--hf-repo", model,
                   what + " (-hf REPO[:QUANT] as llama.cpp: the same as -m, nothing is downloaded)")
      ->envname("QWEN3_MODEL");
}

void add_threads_option(CLI::App* cmd, int& threads) {
  check_int(
      cmd->add_option("-t,--threads", threads, "threads (default: physical cores)")->envname("QWEN3_THREADS"),
      0, 1024, "(0: physical cores)");
}

void add_dtype_option(CLI::App* cmd, std::string& dtype) {
  cmd->add_option("--dtype", dtype,
                  "convert weights at load: f32, f16, bf16, q8_0 or q4_0 (default: as stored)")
      ->envname("QWEN3_DTYPE")
      ->check(CLI::Validator(
          [](std::string& v) {
            (void)parse_dtype_arg(v);
            return std::string();
          },
          ""));
}

void add_mmap_option(CLI::App* cmd, bool& mmap) {
  cmd->add_flag(
         "--mmap,!--no-mmap", mmap,
         "map the weight files instead of reading them into memory (--no-mmap: read them, the default)")
      ->envname("QWEN3_MMAP");
}

void add_exact_bf16_option(CLI::App* cmd, bool& exact) {
  cmd->add_flag("--exact-bf16", exact,
                "bf16 weights: multiply f32 activations (the exact computation; about half the prompt speed) "
                "instead of bf16-rounded ones, as transformers and llama.cpp do");
}

void add_gpu_layers_option(CLI::App* cmd) {
  cmd->add_option_function<std::string>(
      "--n-gpu-layers,--gpu-layers",
      [](const std::string&) {
        std::fprintf(stderr, "warning: this engine runs on the CPU; -ngl is ignored\n");
      },
      "llama.cpp's -ngl N: accepted and ignored (this engine runs on the CPU)");
}

void add_kv_type_option(CLI::App* cmd, std::string& kv_type) {
  // The flag that set the type first and its value: a later, different flag must agree with it.
  auto first = std::make_shared<std::pair<std::string, std::string>>();
  auto setter = [&kv_type, first](const char* flag) {
    return [&kv_type, first, flag](const std::string& v) {
      (void)parse_kv_type(v);  // the one list of cache types, and its error line
      QWEN3_CHECK(first->first.empty() || first->first == flag || first->second == v,
                  "%s %s disagrees with %s %s: K and V share one cache type here", flag, v.c_str(),
                  first->first.c_str(), first->second.c_str());
      if (first->first.empty()) *first = {flag, v};
      kv_type = v;
    };
  };
  cmd->add_option_function<std::string>(
      "--kv-type", setter("--kv-type"),
      "KV cache type: f16 (default, as llama.cpp), bf16 (half the bytes of f32 like f16; the dtype "
      "transformers keeps this model's cache in; the fastest prompts), q8_0 (half again, for long "
      "contexts) or f32 (exact)");
  cmd->add_option_function<std::string>(
      "--cache-type-k", setter("--cache-type-k"),
      "llama.cpp's -ctk: the same as --kv-type (K and V share one type here)");
  cmd->add_option_function<std::string>(
      "--cache-type-v", setter("--cache-type-v"),
      "llama.cpp's -ctv: the same as --kv-type (K and V share one type here)");
}

DType kv_type_for(const std::string& kv_type, const ModelConfig& config) {
  const DType t = parse_kv_type(kv_type);
  (void)kernels::kv_row_bytes(t, config.head_dim);  // throws when the head size does not fit the format
  return t;
}

std::string resolve_model_dir(const std::string& model) {
  if (fs::is_directory(model)) return model;
  if (gguf::is_gguf_path(model)) return model;
  QWEN3_CHECK(!model.ends_with(".gguf") || fs::exists(model), "%s: no such file", model.c_str());
  QWEN3_CHECK(!fs::exists(model),
              "%s: not a model directory (expected config.json and *.safetensors inside) nor a .gguf file",
              model.c_str());
  // A repo id "org/name": look in the Hugging Face cache (HF_HUB_CACHE, HF_HOME/hub,
  // ~/.cache/huggingface/hub).
  size_t slash = model.find('/');
  if (slash != std::string::npos && slash > 0 && model.find('/', slash + 1) == std::string::npos) {
    std::string hub;
    if (const char* c = std::getenv("HF_HUB_CACHE"))
      hub = c;
    else if (const char* h = std::getenv("HF_HOME"))
      hub = std::string(h) + "/hub";
    else if (const char* home = std::getenv("HOME"))
      hub = std::string(home) + "/.cache/huggingface/hub";
    std::string repo = hub + "/models--" + model.substr(0, slash) + "--" + model.substr(slash + 1);
    std::string ref_path = repo + "/refs/main";
    if (fs::exists(ref_path)) {
      std::ifstream in(ref_path);
      std::string rev;
      in >> rev;
      std::string snap = repo + "/snapshots/" + rev;
      if (fs::is_directory(snap)) return snap;
    }
    if (fs::is_directory(repo + "/snapshots"))
      for (auto& e : fs::directory_iterator(repo + "/snapshots"))
        if (fs::exists(e.path() / "config.json")) return e.path().string();
    throw_error("%s: not found locally (no directory of that name, nothing in the Hugging Face cache %s)",
                model.c_str(), hub.c_str());
  }
  throw_error("%s: no such model directory", model.c_str());
}

std::unique_ptr<Model> load_model_from_args(const ModelArgs& a) {
  LoadOptions opt;
  ProgressBar bar("loading model");
  opt.progress = [&](size_t done, size_t total) { bar.update(done, total); };
  opt.map_mode = a.mmap ? MapMode::kMmap : MapMode::kRead;
  if (!a.dtype.empty()) opt.dtype = parse_dtype_arg(a.dtype);
  opt.bf16_dot = !a.exact_bf16;
  return load_model(resolve_model_dir(a.model), opt);
}

std::unique_ptr<ThreadPool> make_pool(const ModelArgs& a) {
  return std::make_unique<ThreadPool>(a.threads > 0 ? a.threads : physical_core_count());
}

std::string default_tokenizer_dir() {
  if (const char* d = std::getenv("QWEN3_TOKENIZER_DIR")) return d;
  std::string dir = QWEN3_DEFAULT_TOKENIZER_DIR;
  return fs::exists(dir + "/tokenizer.json") ? dir : "";
}

}  // namespace qwen3::cli
