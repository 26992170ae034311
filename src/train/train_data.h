// Training data for `qwen3 finetune`: JSONL files of examples turned into token ids and a loss mask.
//   {"messages": [...], "tools": [...]?}  chat in OpenAI's shape (assistant reasoning_content allowed),
//   rendered
//       by the model's own chat template exactly as at inference (add_generation_prompt false); the loss is
//       on the assistant turns only: the bytes after each template-written "<|im_start|>assistant\n" up to
//       and including its "<|im_end|>", as the template renders them (thinking blocks included where it keeps
//       them);
//   {"text": "..."}                       plain language-model loss on every token;
//   {"prompt": "...", "completion": "..."} loss on the completion and the EOS token appended to it (TRL's
//       prompt-completion format).
// Tests: tests/train/train_data_test.cpp.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "chat/chat_template.h"
#include "tokenizer/tokenizer.h"

namespace qwen3 {

struct TrainExample {
  std::vector<int32_t> ids;
  std::vector<uint8_t> mask;  // [ids] 1 = ids[t] is a target (predicted at t - 1)
  int line = 0;               // 1-based line of the JSONL file
  int64_t n_targets() const;
};

struct TrainDataOptions {
  int max_len = 2048;  // longer examples are cut to this many tokens (reported)
};

// One example from its parsed JSON object; throws qwen3::Error with the problem (no line number).
TrainExample render_train_example(const nlohmann::ordered_json& j, const Tokenizer& tok,
                                  const ChatTemplate& tmpl);

// Every line of a JSONL file (blank lines skipped). All bad lines are reported on stderr as FILE:LINE:
// problem, then one Error is thrown, before any training; examples cut to max_len are counted in
// *n_truncated.
std::vector<TrainExample> load_train_jsonl(const std::string& path, const Tokenizer& tok,
                                           const ChatTemplate& tmpl, const TrainDataOptions& options,
                                           int* n_truncated = nullptr);

}  // namespace qwen3
