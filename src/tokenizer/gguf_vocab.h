// The tokenizer between its Hugging Face files and GGUF's tokenizer.ggml.* form (formats/gguf.h,
// gguf::Vocab), entry for entry as llama.cpp's convert_hf_to_gguf.py makes it for Qwen models. Tests:
// tests/gguf/.
#pragma once

#include <string>

#include "formats/gguf.h"

namespace qwen3::tok {

// Reads tokenizer.json, tokenizer_config.json and config.json of a model directory into GGUF's form, with
// n_vocab entries (the embedding's rows): ids of the vocabulary are NORMAL, added tokens CONTROL when flagged
// special or shaped like "<|...|>", else USER_DEFINED; ids without a token are "[PAD<id>]", UNUSED. Merges
// become "left right" strings. Special ids: a tokenizer_config.json "<kind>_token" (looked up among the
// added tokens) first, then config.json's "<kind>_token_id"; add_bos/add_eos and chat_template from
// tokenizer_config.json. Throws qwen3::Error when the directory has no tokenizer this engine can run.
gguf::Vocab gguf_vocab_from_hf(const std::string& model_dir, int n_vocab);

}  // namespace qwen3::tok
