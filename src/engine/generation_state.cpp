#include "engine/generation_state.h"

#include <algorithm>
#include <cmath>

namespace qwen3 {

SequenceGenerator::SequenceGenerator(const Model& model, const Tokenizer& tokenizer,
                                     const GenerationParams& params, std::vector<int32_t> prompt,
                                     int top_logprobs)
    : model_(model),
      tokenizer_(tokenizer),
      params_(params),
      prompt_(std::move(prompt)),
      top_logprobs_(top_logprobs),
      sampler_(params.sampling, model.n_vocab_tokens),
      decoder_(tokenizer),
      stops_(params.stop),
      think_open_(tokenizer.token_to_id("<think>").value_or(-2)),
      think_close_(tokenizer.token_to_id("</think>").value_or(-2)),
      thinking_(params.starts_in_thinking) {
  r_.finish = FinishReason::kLength;
  r_.n_prompt = static_cast<int>(prompt_.size());
}

// Streams one generated token's text; returns false when a stop string ended generation.
bool SequenceGenerator::emit(int32_t id, const TokenCallback& on_token) {
  std::string piece = decoder_.push(id);
  if (tokenizer_.is_special(id)) {  // release held text first, so it stays before the special token
    std::string held = stops_.flush();
    stops_ = StopMatcher(params_.stop);
    if (!held.empty()) {
      r_.text += held;
      if (on_token && !on_token(-1, held)) cancelled_ = true;
    }
  }
  std::string out = stops_.push(piece);
  r_.text += out;
  if (on_token && !on_token(id, out)) cancelled_ = true;
  return !stops_.stopped();
}

void SequenceGenerator::record_logprobs(std::span<const float> logits) {
  const int n = model_.n_vocab_tokens;
  float max = *std::max_element(logits.begin(), logits.begin() + n);
  double sum = 0;
  for (int i = 0; i < n; ++i) sum += std::exp(static_cast<double>(logits[i]) - max);
  const float log_z = max + static_cast<float>(std::log(sum));
  TokenLogprob lp;
  if (top_logprobs_ > 0) {
    std::vector<int32_t> idx(n);
    for (int i = 0; i < n; ++i) idx[i] = i;
    int k = std::min(top_logprobs_, n);
    std::partial_sort(idx.begin(), idx.begin() + k, idx.end(), [&](int32_t a, int32_t b) {
      return logits[a] != logits[b] ? logits[a] > logits[b] : a < b;
    });
    for (int i = 0; i < k; ++i) lp.top.emplace_back(idx[i], logits[idx[i]] - log_z);
  }
  lp.logprob = log_z;  // completed with the chosen token in step()
  logprobs_.push_back(std::move(lp));
}

std::vector<int32_t> SequenceGenerator::step(std::span<float> logits, int room,
                                             const TokenCallback& on_token) {
  if (done_) return {};
  if (params_.max_tokens >= 0 && static_cast<int>(r_.tokens.size()) >= params_.max_tokens) {
    stop(FinishReason::kLength);
    return {};
  }
  if (top_logprobs_ >= 0) {
    raw_.assign(logits.begin(), logits.end());
    record_logprobs(raw_);
  }
  int32_t next = sampler_.sample(logits, prompt_, r_.tokens);
  if (top_logprobs_ >= 0) {
    TokenLogprob& lp = logprobs_.back();
    lp.id = next;
    lp.logprob = raw_[next] - lp.logprob;
  }
  const auto& eos = model_.generation.eos_token_ids;
  if (std::find(eos.begin(), eos.end(), next) != eos.end()) {
    if (top_logprobs_ >= 0) logprobs_.pop_back();  // EOS is not part of the output
    stop(FinishReason::kStop);
    return {};
  }
  r_.tokens.push_back(next);
  if (!emit(next, on_token)) {  // a stop string: `next` is not fed
    stop(FinishReason::kStop);
    return {};
  }
  if (cancelled_) {
    stop(FinishReason::kCancelled);
    return {};
  }
  if (next == think_open_)
    thinking_ = true, thinking_tokens_ = 0;
  else if (next == think_close_)
    thinking_ = false;
  else if (thinking_)
    ++thinking_tokens_;

  std::vector<int32_t> to_feed = {next};
  if (thinking_ && params_.thinking_budget >= 0 && thinking_tokens_ >= params_.thinking_budget) {
    // Budget spent: Qwen's closing sentence and </think> are forced, then the model answers. They are
    // generated tokens like any other: max_tokens cuts them too.
    for (int32_t id : tokenizer_.encode(kThinkingBudgetText)) {
      if (static_cast<int>(to_feed.size()) >= room) break;
      if (params_.max_tokens >= 0 && static_cast<int>(r_.tokens.size()) >= params_.max_tokens) break;
      r_.tokens.push_back(id);
      to_feed.push_back(id);
      if (top_logprobs_ >= 0) logprobs_.push_back(TokenLogprob{id, 0.0f, {}});
      emit(id, on_token);
    }
    thinking_ = false;
  }
  if (static_cast<int>(to_feed.size()) > room) {  // the window is full
    stop(FinishReason::kLength);
    return {};
  }
  return to_feed;
}

void SequenceGenerator::cancel() {
  if (!done_) stop(FinishReason::kCancelled);
}

void SequenceGenerator::finish(const TokenCallback& on_token) {
  if (finished_) return;
  finished_ = true;
  done_ = true;
  std::string tail = decoder_.flush();
  std::string out = stops_.push(tail) + stops_.flush();
  if (!out.empty()) {
    r_.text += out;
    if (on_token) on_token(-1, out);
  }
}

}  // namespace qwen3
