// The per-sequence half of generation, shared by Session (one sequence, its own cache) and Scheduler (many
// sequences in one batched forward pass): sampling with the sequence's own seeded Sampler, EOS ids,
// max_tokens, stop strings, streaming decode, the thinking budget and logprobs. The caller owns the forward
// pass: it hands step() the logits after the last token it fed and feeds the tokens step() returns.
#pragma once

#include <cstdint>
#include <optional>
#include <span>
#include <utility>
#include <vector>

#include "core/background.h"
#include "engine/session.h"
#include "engine/stop_strings.h"

namespace qwen3 {

// The log-probability of one generated token under the model (raw logits, before bias and penalties, as vLLM
// reports them) and the `n_top` most likely alternatives.
struct TokenLogprob {
  int32_t id = -1;
  float logprob = 0;
  std::vector<std::pair<int32_t, float>> top;  // descending
};

class SequenceGenerator {
 public:
  // top_logprobs < 0: no logprobs; 0: the chosen token's only; n: also the n most likely.
  SequenceGenerator(const Model& model, const Tokenizer& tokenizer, const GenerationParams& params,
                    std::vector<int32_t> prompt, int top_logprobs = -1);

  // Chooses the next token from `logits` ([vocab_size], modified in place) and streams it through on_token.
  // `room` is how many more positions the context window holds. Returns the tokens to feed next: the chosen
  // one, plus the forced closing text when the thinking budget ran out. Empty once done().
  std::vector<int32_t> step(std::span<float> logits, int room, const TokenCallback& on_token);
  // Stops the sequence (finish reason kCancelled).
  void cancel();
  // Releases held-back text through on_token (once, at the end).
  void finish(const TokenCallback& on_token);

  bool done() const { return done_; }
  GenerationResult& result() { return r_; }
  const std::vector<TokenLogprob>& logprobs() const { return logprobs_; }
  const std::vector<int32_t>& prompt() const { return prompt_; }

 private:
  bool emit(int32_t id, const TokenCallback& on_token);
  void record_logprobs(std::span<const float> logits);
  void stop(FinishReason reason) { done_ = true, r_.finish = reason; }
  bool apply_constraint(std::span<float> logits);
  void advance_constraint(int32_t next, bool masked);
  void prefetch_mask();

  const Model& model_;
  const Tokenizer& tokenizer_;
  GenerationParams params_;
  std::vector<int32_t> prompt_;
  int top_logprobs_;
  Sampler sampler_;
  StreamDecoder decoder_;
  StopMatcher stops_;
  int32_t think_open_, think_close_;
  bool thinking_;
  int thinking_tokens_ = 0;
  bool cancelled_ = false, done_ = false, finished_ = false;
  GenerationResult r_;
  std::vector<TokenLogprob> logprobs_;
  std::vector<float> raw_;                     // scratch: logits before bias and penalties (logprobs only)
  std::optional<constrain::Matcher> matcher_;  // the grammar in force (params_.constraint), if any now
  std::vector<uint32_t> mask_;                 // scratch: allowed-token bits
  // The next step's mask, computed on the background thread while the forward pass that precedes that step
  // runs (started by step() and at construction, so the first mask overlaps the prefill).
  std::shared_ptr<BackgroundJob> mask_job_;
  std::shared_ptr<std::vector<uint32_t>> next_mask_;
};

}  // namespace qwen3
