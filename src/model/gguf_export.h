// A Hugging Face-layout Qwen3 model written as one GGUF file that llama.cpp loads as a `qwen3` model
// (`qwen3 quantize -m IN -o OUT.gguf --type T`): llama.cpp's key and tensor names, matrices in the asked
// type, norm weights in f32, the tokenizer as given. docs/DESIGN.md ("GGUF") has the mapping.
#pragma once

#include <functional>
#include <string>

#include "core/dtype.h"
#include "formats/gguf.h"
#include "model/config.h"
#include "model/lora.h"
#include "model/quant_mix.h"

namespace qwen3 {

// The metadata of a GGUF file for `config` with general.file_type `file_type` (llama_ftype; everything but
// the tensors and general.alignment): general.*, qwen3.* and tokenizer.ggml.* from `vocab`.
gguf::KeyValues gguf_model_metadata(const ModelConfig& config, uint32_t file_type, const gguf::Vocab& vocab,
                                    const std::string& name);

// Writes the model in `in_dir` (float or `qwen3 quantize`d safetensors) to `out_path`, converting every
// matrix to its type in `mix` (quant_mix.h). The input is mapped and streamed a tensor at a time.
// progress(bytes written, total). With `lora`, the adapters' deltas are merged into the matrices they adapt
// (model/lora.h, lora_delta).
void export_gguf(const std::string& in_dir, const std::string& out_path, const QuantMix& mix,
                 const gguf::Vocab& vocab, const std::function<void(size_t, size_t)>& progress = nullptr,
                 const LoraStack* lora = nullptr);

}  // namespace qwen3
