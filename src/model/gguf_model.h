// What a GGUF file means as a Qwen3 model (llama.cpp's `qwen3` architecture): its config from the qwen3.*
// keys and the GGUF names of the Hugging Face tensors. The file itself is read by formats/gguf_reader.h;
// loading it as a Model is open_gguf_model (model/model.h). docs/DESIGN.md ("GGUF").
#pragma once

#include <string>

#include "formats/gguf_reader.h"
#include "model/config.h"

namespace qwen3::gguf {

// config.json's fields from the qwen3.* keys (general.architecture must be "qwen3"); vocab_size from
// token_embd.weight, tie_word_embeddings from the absence of output.weight.
ModelConfig read_config(const File& f);

// The GGUF name of a Hugging Face tensor name (model.layers.3.self_attn.q_proj.weight -> blk.3.attn_q.weight,
// model.embed_tokens.weight -> token_embd.weight, …, as llama.cpp's qwen3 architecture names them); throws
// for a name outside the Qwen3 weight table.
std::string tensor_name_from_hf(const std::string& hf_name);

}  // namespace qwen3::gguf
