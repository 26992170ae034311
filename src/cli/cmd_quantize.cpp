// qwen3 quantize -m IN -o OUT --type q8_0|q4_0: writes a model directory whose matrices are GGUF Q8_0/Q4_0
// blocks (row-major, stored as U8 [rows, cols / 32 * block bytes] in model.safetensors with the metadata
// entry "qwen3.quantization"), the norm weights as they were, and copies of the other files (config,
// tokenizer). The loader reads it back directly (docs/DESIGN.md, "Quantised models").
// qwen3 quantize -m IN -o OUT --type fp8: Qwen's fine-grained FP8 layout (model/fp8.h).
// qwen3 quantize -m IN -o OUT.gguf --type bf16|f16|f32|q8_0|q4_0|q4_1|q5_0|q5_1: one GGUF file that llama.cpp
// loads as a qwen3 model, tokenizer and chat template included (docs/DESIGN.md, "GGUF").
#include <cstdio>
#include <cstring>
#include <filesystem>

#include "cli/commands.h"
#include "cli/model_args.h"
#include "core/error.h"
#include "core/progress.h"
#include "core/timer.h"
#include "formats/safetensors.h"
#include "formats/safetensors_writer.h"
#include "kernels/pack.h"
#include "model/config.h"
#include "model/fp8.h"
#include "model/gguf_export.h"
#include "model/quant_mix.h"
#include "model/weights.h"
#include "tokenizer/gguf_vocab.h"

namespace qwen3::cli {

namespace fs = std::filesystem;

static void quantize_model(const std::string& in_dir, const std::string& out_dir, DType type,
                           const LoraStack* lora) {
  ModelConfig config = load_model_config(in_dir);
  SafetensorsSet set = load_safetensors_dir(in_dir, MapMode::kRead);
  QWEN3_CHECK(!set.metadata.count(kQuantizationKey),
              "%s: already quantised (%s); quantise the original model", in_dir.c_str(),
              set.metadata[kQuantizationKey].c_str());
  std::vector<StWriteTensor> out;
  std::vector<const StTensor*> src;
  std::vector<bool> quantize;
  for (const WeightSpec& s : weight_specs(config, nullptr)) {
    auto it = set.tensors.find(s.name);
    if (it == set.tensors.end()) continue;  // the loader reports what is missing
    const StTensor& st = it->second;
    if (s.name == "lm_head.weight" && config.tie_word_embeddings) continue;  // the loader ignores it
    QWEN3_CHECK(st.dtype != StDType::kOther, "%s: tensor '%s' has dtype %s; expected BF16, F16 or F32",
                st.file.c_str(), s.name.c_str(), st.dtype_name.c_str());
    StWriteTensor w;
    w.name = s.name;
    const bool q = s.rows > 0;
    if (q) {
      QWEN3_CHECK(st.shape.size() == 2 && st.shape[0] == s.rows && st.shape[1] == s.cols,
                  "%s: tensor '%s' does not have the shape config.json implies", st.file.c_str(),
                  s.name.c_str());
      QWEN3_CHECK(s.cols % kQuantBlock == 0, "%s: tensor '%s' has %lld columns; %s needs a multiple of %d",
                  st.file.c_str(), s.name.c_str(), static_cast<long long>(s.cols), dtype_name(type),
                  kQuantBlock);
      w.dtype = "U8";
      w.shape = {s.rows, static_cast<int64_t>(dtype_row_bytes(type, s.cols))};
      w.n_bytes = dtype_row_bytes(type, s.cols) * static_cast<size_t>(s.rows);
    } else {
      w.dtype = st.dtype_name;
      w.shape = st.shape;
      w.n_bytes = st.n_bytes;
    }
    out.push_back(w);
    src.push_back(&st);
    quantize.push_back(q);
  }
  fs::create_directories(out_dir);
  for (const auto& e : fs::directory_iterator(in_dir)) {
    const std::string name = e.path().filename().string();
    if (!e.is_regular_file() || name.ends_with(".safetensors") || name == "model.safetensors.index.json")
      continue;
    fs::copy_file(e.path(), fs::path(out_dir) / name, fs::copy_options::overwrite_existing);
  }
  write_safetensors(out_dir + "/model.safetensors", out,
                    {{"format", "pt"}, {kQuantizationKey, dtype_name(type)}}, [&](size_t i, uint8_t* dst) {
                      const StTensor& st = *src[i];
                      if (!quantize[i]) {
                        std::memcpy(dst, st.data, st.n_bytes);
                        return;
                      }
                      const int64_t rows = st.shape[0], cols = st.shape[1];
                      const size_t in_row = st.n_bytes / static_cast<size_t>(rows);
                      const size_t out_row = dtype_row_bytes(type, cols);
                      const DType have = st.dtype == StDType::kF32   ? DType::kF32
                                         : st.dtype == StDType::kF16 ? DType::kF16
                                                                     : DType::kBF16;
                      std::vector<float> values(static_cast<size_t>(cols));
                      int il = 0, target = 0;
                      const std::vector<float> delta = lora && lora_target_of(st.name, &il, &target)
                                                           ? lora_delta(*lora, il, target)
                                                           : std::vector<float>{};
                      for (int64_t r = 0; r < rows; ++r) {
                        kernels::row_to_f32_rowmajor(have, st.data + r * in_row, cols, values.data());
                        if (!delta.empty())
                          for (int64_t c = 0; c < cols; ++c) values[c] += delta[r * cols + c];
                        kernels::row_from_f32(values.data(), cols, type, dst + r * out_row);
                      }
                    });
}

static constexpr const char* kGgufTypes =
    "q2_k, q3_k_s, q3_k_m, q3_k_l, q4_k_m, q4_k_s, q5_k_m, q5_k_s, q6_k, q8_0, q4_0, q4_1, q5_0, q5_1, "
    "bf16, f16 or f32";

static QuantMix parse_type(const std::string& type, bool gguf) {
  const std::optional<QuantMix> mix = find_quant_mix(type);
  if (gguf) {
    QWEN3_CHECK(mix, "--type %s: choose %s", type.c_str(), kGgufTypes);
    return *mix;
  }
  if (mix && (mix->base == DType::kQ8_0 || mix->base == DType::kQ4_0)) return *mix;
  QWEN3_CHECK(
      !mix,
      "--type %s: a model directory is written as q8_0, q4_0 or fp8 only (give an output ending in .gguf "
      "for %s)",
      type.c_str(), type.c_str());
  throw_error("--type %s: choose q8_0, q4_0 or fp8 (or %s for a .gguf output)", type.c_str(), kGgufTypes);
}

void add_quantize_command(CLI::App& app) {
  auto in = std::make_shared<std::string>();
  auto out = std::make_shared<std::string>();
  auto type = std::make_shared<std::string>();
  auto loras = std::make_shared<std::vector<std::string>>();
  CLI::App* cmd = app.add_subcommand(
      "quantize",
      "write a copy of a model with Q8_0 or Q4_0 matrices, or a GGUF file for llama.cpp (-o X.gguf; also "
      "llama.cpp's k-quant mixes q4_k_m, q5_k_m, q6_k, ...)");
  add_model_path_option(cmd, *in, "input model (Hugging Face-layout directory or repo id)")->required();
  cmd->add_option("-o,--out", *out,
                  "output directory, or a file ending in .gguf (one GGUF file, tokenizer included)")
      ->required();
  cmd->add_option("--type", *type,
                  "q8_0, q4_0 or fp8 (Qwen's FP8 safetensors layout: e4m3 in 128x128 blocks); for a .gguf "
                  "output also q2_k, q3_k_s, q3_k_m, q3_k_l, q4_k_m, q4_k_s, q5_k_m, q5_k_s, q6_k "
                  "(llama.cpp's mixes), q4_1, q5_0, q5_1, bf16, f16 or f32")
      ->required();
  cmd->add_option("--lora", *loras,
                  "LoRA adapter DIR[:SCALE] to merge into the written weights (W + scale s B A); repeat to "
                  "merge several")
      ->allow_extra_args(false)
      ->take_all();
  cmd->callback([in, out, type, loras] {
    const bool gguf = out->ends_with(".gguf");
    if (*type == "fp8") {  // Qwen's fine-grained FP8 safetensors layout (model/fp8.h)
      QWEN3_CHECK(!gguf,
                  "--type fp8 writes a model directory (Qwen's FP8 safetensors layout), not a .gguf file");
      QWEN3_CHECK(loras->empty(), "--type fp8 does not merge --lora adapters (merge into a bf16 copy first)");
      const std::string dir = resolve_model_dir(*in);
      QWEN3_CHECK(fs::is_directory(dir),
                  "-m %s: quantize reads a Hugging Face-layout directory, not a GGUF file", in->c_str());
      QWEN3_CHECK(fs::weakly_canonical(dir) != fs::weakly_canonical(*out),
                  "-o %s: same directory as the input", out->c_str());
      const double t0 = now_seconds();
      export_fp8(dir, *out);
      std::fprintf(stderr, "wrote %s (fp8) in %.1f s\n", out->c_str(), now_seconds() - t0);
      return;
    }
    const QuantMix mix = parse_type(*type, gguf);
    const std::string dir = resolve_model_dir(*in);
    QWEN3_CHECK(fs::is_directory(dir),
                "-m %s: quantize reads a Hugging Face-layout directory, not a GGUF file", in->c_str());
    std::shared_ptr<LoraStack> merge;
    for (const auto& v : *loras) {
      const LoraSpec s = parse_lora_spec(v);
      QWEN3_CHECK(s.name.empty(), "--lora %s: give DIR[:SCALE] (NAME=DIR is for qwen3 serve)", v.c_str());
      if (!merge) merge = std::make_shared<LoraStack>();
      merge->add(load_lora_adapter(s.path, load_model_config(dir)), s.scale);
      QWEN3_CHECK(
          !merge->embed_tokens() && !merge->lm_head(),
          "--lora %s: the adapter replaces embed_tokens or lm_head (modules_to_save), which merging does "
          "not write; run it with --lora instead",
          v.c_str());
    }
    double t0 = now_seconds();
    if (gguf) {
      QWEN3_CHECK(!fs::is_directory(*out), "-o %s: is a directory", out->c_str());
      QWEN3_CHECK(fs::exists(dir + "/tokenizer.json"),
                  "%s: no tokenizer.json (a GGUF file carries the tokenizer, so the model needs one)",
                  dir.c_str());
      const ModelConfig config = load_model_config(dir);
      const gguf::Vocab vocab = tok::gguf_vocab_from_hf(dir, config.vocab_size);
      ProgressBar bar("writing " + *out);
      export_gguf(
          dir, *out, mix, vocab, [&](size_t done, size_t total) { bar.update(done, total); }, merge.get());
      bar.finish();
    } else {
      QWEN3_CHECK(fs::weakly_canonical(dir) != fs::weakly_canonical(*out),
                  "-o %s: same directory as the input", out->c_str());
      quantize_model(dir, *out, mix.base, merge.get());
    }
    std::fprintf(stderr, "wrote %s (%s) in %.1f s\n", out->c_str(), type->c_str(), now_seconds() - t0);
  });
}

}  // namespace qwen3::cli
