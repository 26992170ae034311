// A Hugging Face-layout Qwen3 model written as one GGUF file that llama.cpp loads as a `qwen3` model
// (`qwen3 quantize -m IN -o OUT.gguf --type T`): llama.cpp's key and tensor names, matrices in the asked
// type, norm weights in f32, the tokenizer as given. docs/DESIGN.md ("GGUF") has the mapping.
#pragma once

#include <functional>
#include <string>

#include "core/dtype.h"
#include "formats/gguf.h"
#include "model/config.h"

namespace qwen3 {

// The metadata of a GGUF file for `config` with matrices of type `type` (everything but the tensors and
// general.alignment): general.*, qwen3.* and tokenizer.ggml.* from `vocab`.
gguf::KeyValues gguf_model_metadata(const ModelConfig& config, DType type, const gguf::Vocab& vocab,
                                    const std::string& name);

// Writes the model in `in_dir` (float or `qwen3 quantize`d safetensors) to `out_path`, converting every
// matrix to `type`. The input is mapped and streamed a tensor at a time. progress(bytes written, total).
void export_gguf(const std::string& in_dir, const std::string& out_path, DType type, const gguf::Vocab& vocab,
                 const std::function<void(size_t, size_t)>& progress = nullptr);

}  // namespace qwen3
