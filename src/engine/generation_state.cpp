#include "engine/generation_state.h"

#include <algorithm>
#include <cmath>
#include <limits>

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
  const OutputConstraint& c = params_.constraint;
  if (c.grammar && c.trigger < 0 && !thinking_ && !c.think_first) {
    matcher_.emplace(c.grammar);
    prefetch_mask();
  }
}

// Starts computing the mask at the matcher's position on the background thread (a copy of the matcher: the
// job owns everything it touches, so the generator may move or die before it ends).
void SequenceGenerator::prefetch_mask() {
  if (!next_mask_) next_mask_ = std::make_shared<std::vector<uint32_t>>();
  next_mask_->assign((static_cast<size_t>(model_.n_vocab_tokens) + 31) / 32, 0);
  mask_job_ = run_in_background([m = std::make_shared<constrain::Matcher>(matcher_->clone()),
                                 bits = next_mask_] { m->fill_mask(*bits); });
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
  const bool masked = apply_constraint(logits);
  int32_t next = sampler_.sample(logits, prompt_, r_.tokens);
  advance_constraint(next, masked);
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
  // The next step masks at the matcher's new position: start on it now, beside the forward pass of to_feed,
  // unless it is known already (a copy then, in apply_constraint: waking the background thread for it would
  // take a core from the forward pass's threads for nothing, once per sequence of a batch).
  if (matcher_ && !thinking_ && to_feed.size() == 1 && !matcher_->mask_ready()) prefetch_mask();
  return to_feed;
}

// Masks the tokens the grammar does not allow (to -inf, before bias, penalties and the samplers; logprobs
// keep the raw logits). Returns whether a mask was applied. Throws when the grammar allows nothing, which a
// sound grammar never does (the scheduler then fails this sequence alone).
bool SequenceGenerator::apply_constraint(std::span<float> logits) {
  const OutputConstraint& c = params_.constraint;
  // A prefetched mask is always waited for here, so next_mask_ is never refilled while a job still writes it.
  std::shared_ptr<BackgroundJob> job = std::move(mask_job_);
  if (job) job->wait();
  if (!c.grammar || thinking_) return false;
  if (!matcher_ && c.trigger < 0) matcher_.emplace(c.grammar);  // starts at the first token after thinking
  if (!matcher_) return false;
  const int n = model_.n_vocab_tokens;
  if (job) {  // computed beside the forward pass (the matcher has not moved since)
    mask_.swap(*next_mask_);
  } else {
    mask_.assign((static_cast<size_t>(n) + 31) / 32, 0);
    matcher_->fill_mask(mask_);
  }
  // Thinking mode: the model may open its think block before the constrained answer.
  if (c.think_first && r_.tokens.empty() && think_open_ >= 0 && think_open_ < n)
    mask_[think_open_ >> 5] |= 1u << (think_open_ & 31);
  bool any = false;
  constexpr float kBanned = -std::numeric_limits<float>::infinity();
  for (int w = 0; w * 32 < n; ++w) {
    uint32_t bits = mask_[w];
    const int end = std::min(n, w * 32 + 32);
    if (bits == 0) {
      std::fill(logits.begin() + w * 32, logits.begin() + end, kBanned);
      continue;
    }
    any = true;
    if (bits == ~0u) continue;
    for (int i = w * 32; i < end; ++i)
      if (!(bits >> (i & 31) & 1)) logits[i] = kBanned;
  }
  std::fill(logits.begin() + n, logits.end(), kBanned);
  if (!any) throw Error("the output constraint allows no token here");
  return true;
}

// Moves the grammar over the sampled token; starts (trigger) or ends (completed trigger grammar) it.
void SequenceGenerator::advance_constraint(int32_t next, bool masked) {
  const OutputConstraint& c = params_.constraint;
  if (!c.grammar) return;
  if (masked) {
    const auto& eos = model_.generation.eos_token_ids;
    if (next == think_open_ && c.think_first && r_.tokens.empty()) return;  // the free think block
    if (std::find(eos.begin(), eos.end(), next) != eos.end()) return;
    if (!matcher_->advance(next))
      throw Error(strfmt("the sampled token %d is not allowed by the grammar", next));
    if (c.trigger >= 0 && matcher_->is_done()) matcher_.reset();  // back to free text until the next trigger
  } else if (c.trigger >= 0 && next == c.trigger && !thinking_) {
    matcher_.emplace(c.grammar);
  }
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
