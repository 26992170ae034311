#include "cli/model_args.h"

#include <cstdio>
#include <cstdlib>
#include <filesystem>

#include "cli/flags.h"
#include "core/error.h"
#include "core/progress.h"
#include "formats/gguf_reader.h"
#include "hub/hub.h"
#include "kernels/attention.h"
#include "model/kv_cache.h"

namespace qwen3::cli {

namespace fs = std::filesystem;

static DType parse_dtype_arg(const std::string& s, const char* flag = "--dtype") {
  if (s == "f32") return DType::kF32;
  if (s == "f16") return DType::kF16;
  if (s == "bf16") return DType::kBF16;
  if (s == "q8_0") return DType::kQ8_0;
  if (s == "q4_0") return DType::kQ4_0;
  if (s == "q4_1") return DType::kQ4_1;
  if (s == "q5_0") return DType::kQ5_0;
  if (s == "q5_1") return DType::kQ5_1;
  throw_error("%s %s: choose f32, f16, bf16, q8_0, q4_0, q4_1, q5_0 or q5_1", flag, s.c_str());
}

void add_model_options(CLI::App* cmd, ModelArgs& a) {
  add_model_path_option(cmd, a.model,
                        "model: a Hugging Face-layout directory, a .gguf file or a repo id in the "
                        "Hugging Face cache")
      ->required();
  add_dtype_option(cmd, a.dtype);
  add_embed_dtype_option(cmd, a.embed_dtype);
  add_threads_option(cmd, a.threads);
  add_mmap_option(cmd, a.mmap);
  add_exact_bf16_option(cmd, a.exact_bf16);
  add_lora_option(cmd, a.lora, a.lora_dtype);
  add_gpu_layers_option(cmd);
}

void add_lora_option(CLI::App* cmd, std::vector<std::string>& lora, std::string& lora_dtype) {
  cmd->add_option(
         "--lora", lora,
         "LoRA adapter DIR[:SCALE] (a PEFT adapter directory or a llama.cpp .gguf adapter), applied at "
         "run time on top of the weights; repeat to stack several (qwen3 serve: NAME=DIR[:SCALE] offers one "
         "by name, picked by a request's \"model\")")
      ->allow_extra_args(false)
      ->take_all()
      ->check(CLI::Validator(
          [](std::string& v) {
            (void)parse_lora_spec(v);
            return std::string();
          },
          ""));
  check_choice(cmd->add_option("--lora-dtype", lora_dtype,
                               "how adapter matrices stored in f32 are kept: auto (bf16 unless the model's "
                               "weights are f32; vLLM keeps adapters in the model's dtype), file (as stored) "
                               "or bf16; the products are f32 either way"),
               {"auto", "file", "bf16"});
}

CLI::Option* add_model_path_option(CLI::App* cmd, std::string& model, const std::string& what) {
  return cmd
      ->add_option("-m,--model,--hf-repo", model,
                   what +
                       " (ORG/NAME[:QUANT], also as llama.cpp's -hf: from the Hugging Face cache, "
                       "downloaded into it when missing unless HF_HUB_OFFLINE=1)")
      ->envname("QWEN3_MODEL");
}

void add_threads_option(CLI::App* cmd, int& threads) {
  check_int(
      cmd->add_option("-t,--threads", threads, "threads (default: physical cores)")->envname("QWEN3_THREADS"),
      0, 1024, "(0: physical cores)");
}

void add_dtype_option(CLI::App* cmd, std::string& dtype) {
  cmd->add_option(
         "--dtype", dtype,
         "convert weights at load: f32, f16, bf16, q8_0, q4_0, q4_1, q5_0 or q5_1 (default: as stored)")
      ->envname("QWEN3_DTYPE")
      ->check(CLI::Validator(
          [](std::string& v) {
            (void)parse_dtype_arg(v);
            return std::string();
          },
          ""));
}

void add_embed_dtype_option(CLI::App* cmd, std::string& dtype) {
  cmd->add_option(
         "--embed-dtype", dtype,
         "convert the token embedding table and lm_head at load, as --dtype does every matrix (default: "
         "as the others); e.g. q8_0 for an FP8 checkpoint, whose table is kept in bf16")
      ->check(CLI::Validator(
          [](std::string& v) {
            (void)parse_dtype_arg(v, "--embed-dtype");
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
  // A repo id ORG/NAME[:QUANT]: the Hugging Face cache, downloaded into it when missing (src/hub).
  hub::RepoRef ref;
  if (hub::parse_repo_ref(model, ref)) return hub::resolve_model(ref, hub::hub_env());
  throw_error("%s: no such model directory", model.c_str());
}

std::unique_ptr<Model> load_model_from_args(const ModelArgs& a, bool allow_named) {
  LoadOptions opt;
  ProgressBar bar("loading model");
  opt.progress = [&](size_t done, size_t total) { bar.update(done, total); };
  opt.map_mode = a.mmap ? MapMode::kMmap : MapMode::kRead;
  if (!a.dtype.empty()) opt.dtype = parse_dtype_arg(a.dtype);
  if (!a.embed_dtype.empty()) opt.embed_dtype = parse_dtype_arg(a.embed_dtype, "--embed-dtype");
  opt.bf16_dot = !a.exact_bf16;
  std::vector<LoraSpec> specs;
  for (const auto& v : a.lora) {
    specs.push_back(parse_lora_spec(v));
    QWEN3_CHECK(allow_named || specs.back().name.empty(),
                "--lora %s: NAME=DIR names an adapter for qwen3 serve; here give DIR[:SCALE]", v.c_str());
    QWEN3_CHECK(std::filesystem::exists(specs.back().path), "--lora %s: no such adapter directory or file",
                specs.back().path.c_str());
  }
  auto model = load_model(resolve_model_dir(a.model), opt);
  model->lora_dtype = parse_lora_dtype(a.lora_dtype);
  auto stack = std::make_shared<LoraStack>();
  for (const auto& s : specs)
    if (s.name.empty()) stack->add(load_lora_adapter(s.path, model->config, model->lora_bf16()), s.scale);
  if (!stack->empty()) model->lora = std::move(stack);
  return model;
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
