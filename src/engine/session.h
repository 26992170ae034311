// A generation session: one sequence with its own KV cache and the tokens that cache holds. A new prompt
// reuses the longest common token prefix with what is cached and prefills only the rest (Qwen's template
// drops earlier reasoning from the history, so the reusable prefix is not always the whole previous turn).
//
// The loop: prefill → (sample → stop rules → stream → forward one token)*. It stops on the EOS ids of
// generation_config.json, on a stop string (never printing part of one), on max_tokens, at the end of the
// context window (finish reason `length`; the prompt never shifts out of the window silently), or when the
// callback asks. A thinking budget closes a think block that runs too long with Qwen's sentence and </think>.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "constrain/constrain.h"
#include "core/thread_pool.h"
#include "model/forward.h"
#include "sampling/sampler.h"
#include "tokenizer/tokenizer.h"

namespace qwen3 {

// Constrained decoding (constrain/constrain.h): the output must match `grammar` — from the first token, or,
// with think_first, after a free <think>…</think> block the model may open first (thinking mode); a think
// block the prompt opened (starts_in_thinking) is free too. With trigger >= 0 the text is free and the
// grammar applies after each trigger token until it completes (tool_choice "auto" with strict tools:
// <tool_call> starts a call whose arguments follow the function's schema). EOS ids are allowed exactly when
// the grammar may end.
struct OutputConstraint {
  std::shared_ptr<const constrain::Grammar> grammar;  // null: unconstrained
  int32_t trigger = -1;
  bool think_first = false;
};

struct GenerationParams {
  SamplingParams sampling;
  OutputConstraint constraint;
  int max_tokens = -1;            // < 0: until the window is full
  std::vector<std::string> stop;  // stop strings
  int thinking_budget = -1;       // < 0: unlimited; else the most tokens a think block may take
  bool starts_in_thinking =
      false;  // the prompt opened a think block (counts toward the budget from the start)
};

// kCancelled: the caller asked (cancel flag, callback returned false); kAborted: the server ended it
// (shutdown, a failed batched forward pass); kError: this sequence alone failed (SequenceOutcome::error says
// why).
enum class FinishReason { kStop, kLength, kCancelled, kAborted, kError };
const char* finish_reason_name(FinishReason r);

struct GenerationResult {
  std::vector<int32_t> tokens;  // generated ids (forced thinking-budget tokens included, EOS excluded)
  std::string text;             // what was streamed, concatenated
  FinishReason finish = FinishReason::kStop;
  int n_prompt = 0;     // prompt tokens
  int n_reused = 0;     // of which taken from the cache
  int n_prefilled = 0;  // of which computed now
  double prompt_seconds = 0, decode_seconds = 0;
  double prompt_tps() const { return prompt_seconds > 0 ? n_prefilled / prompt_seconds : 0; }
  double decode_tps() const {
    return decode_seconds > 0 && tokens.size() > 1 ? (tokens.size() - 1) / decode_seconds : 0;
  }
};

// Streamed output: each generated id with the text it releases (may be empty while a multi-byte character or
// a possible stop string is held back). Held text released before a special token arrives with id -1. Return
// false to stop generating (finish reason kCancelled).
using TokenCallback = std::function<bool(int32_t id, std::string_view text)>;

// The sentence Qwen's documentation inserts when the thinking budget runs out, then </think>.
extern const char* const kThinkingBudgetText;

class Session {
 public:
  // kv_type: the KV cache's dtype (model/kv_cache.h; f32 exact, the library's default).
  Session(const Model& model, const Tokenizer& tokenizer, int n_ctx, ThreadPool* pool,
          DType kv_type = DType::kF32);

  GenerationResult generate(const std::vector<int32_t>& prompt, const GenerationParams& params,
                            const TokenCallback& on_token = nullptr);
  void reset() { cached_.clear(); }
  const std::vector<int32_t>& cached_tokens() const { return cached_; }
  int n_ctx() const { return cache_.n_ctx(); }
  DType kv_type() const { return cache_.dtype(); }
  const Model& model() const { return model_; }
  const Tokenizer& tokenizer() const { return tokenizer_; }
  // The logits after the last prompt token of the latest generate() (for tests and logprobs).
  const std::vector<float>& prompt_logits() const { return prompt_logits_; }

 private:
  // Runs tokens at positions cached_.size().. and returns the logits after the last one.
  void feed(const std::vector<int32_t>& tokens, std::vector<float>& logits);

  const Model& model_;
  const Tokenizer& tokenizer_;
  KvCache cache_;
  ForwardOptions forward_options_;
  std::vector<int32_t> cached_;  // tokens whose K/V are in the cache, in position order
  std::vector<float> prompt_logits_;
};

}  // namespace qwen3
