#include "engine/session.h"

#include <algorithm>

#include "core/error.h"
#include "core/timer.h"
#include "engine/stop_strings.h"

namespace qwen3 {

const char* const kThinkingBudgetText =
    "\n\nConsidering the limited time by the user, I have to give the solution based on the thinking directly "
    "now.\n</think>\n\n";

const char* finish_reason_name(FinishReason r) {
  switch (r) {
    case FinishReason::kStop: return "stop";
    case FinishReason::kLength: return "length";
    case FinishReason::kCancelled: return "cancelled";
  }
  return "?";
}

Session::Session(const Model& model, const Tokenizer& tokenizer, int n_ctx, ThreadPool* pool)
    : model_(model), tokenizer_(tokenizer), cache_(model.config, 1, n_ctx) {
  forward_options_.pool = pool;
}

void Session::feed(const std::vector<int32_t>& tokens, std::vector<float>& logits) {
  Batch batch;
  int32_t pos = static_cast<int32_t>(cached_.size());
  for (size_t i = 0; i < tokens.size(); ++i) batch.add(tokens[i], pos + static_cast<int32_t>(i), 0, i + 1 == tokens.size());
  logits.resize(model_.config.vocab_size);
  forward(model_, cache_, batch, logits.data(), forward_options_);
  cached_.insert(cached_.end(), tokens.begin(), tokens.end());
}

GenerationResult Session::generate(const std::vector<int32_t>& prompt, const GenerationParams& params,
                                   const TokenCallback& on_token) {
  QWEN3_CHECK(!prompt.empty(), "the prompt is empty");
  const int n_ctx = cache_.n_ctx();
  QWEN3_CHECK(static_cast<int>(prompt.size()) < n_ctx,
              "the prompt has %zu tokens but the context window holds %d (and one new token needs room): "
              "shorten it or raise --ctx",
              prompt.size(), n_ctx);
  GenerationResult r;
  r.n_prompt = static_cast<int>(prompt.size());

  // Reuse the longest common prefix; at least the last prompt token is recomputed for its logits.
  size_t common = 0;
  while (common < cached_.size() && common < prompt.size() && cached_[common] == prompt[common]) ++common;
  common = std::min(common, prompt.size() - 1);
  cached_.resize(common);
  r.n_reused = static_cast<int>(common);
  std::vector<int32_t> rest(prompt.begin() + static_cast<std::ptrdiff_t>(common), prompt.end());
  r.n_prefilled = static_cast<int>(rest.size());
  std::vector<float> logits;
  double t0 = now_seconds();
  feed(rest, logits);
  r.prompt_seconds = now_seconds() - t0;
  prompt_logits_ = logits;

  Sampler sampler(params.sampling, model_.n_vocab_tokens);
  StreamDecoder decoder(tokenizer_);
  StopMatcher stops(params.stop);
  const auto& eos = model_.generation.eos_token_ids;
  const int32_t think_open = tokenizer_.token_to_id("<think>").value_or(-2);
  const int32_t think_close = tokenizer_.token_to_id("</think>").value_or(-2);
  bool thinking = params.starts_in_thinking;
  int thinking_tokens = 0;
  bool cancelled = false;

  // Streams one generated token's text; returns false when a stop string ended generation.
  auto emit = [&](int32_t id) {
    std::string piece = decoder.push(id);
    if (tokenizer_.is_special(id)) {  // release held text first, so it stays before the special token
      std::string held = stops.flush();
      stops = StopMatcher(params.stop);
      if (!held.empty()) {
        r.text += held;
        if (on_token && !on_token(-1, held)) cancelled = true;
      }
    }
    std::string out = stops.push(piece);
    r.text += out;
    if (on_token && !on_token(id, out)) cancelled = true;
    return !stops.stopped();
  };

  t0 = now_seconds();
  r.finish = FinishReason::kLength;
  for (;;) {
    if (params.max_tokens >= 0 && static_cast<int>(r.tokens.size()) >= params.max_tokens) break;
    int32_t next = sampler.sample(logits, prompt, r.tokens);
    if (std::find(eos.begin(), eos.end(), next) != eos.end()) {
      r.finish = FinishReason::kStop;
      break;
    }
    r.tokens.push_back(next);
    if (!emit(next)) {  // a stop string: `next` is not fed, the cache holds what was computed
      r.finish = FinishReason::kStop;
      break;
    }
    if (cancelled) {
      r.finish = FinishReason::kCancelled;
      break;
    }
    if (next == think_open) thinking = true, thinking_tokens = 0;
    else if (next == think_close) thinking = false;
    else if (thinking) ++thinking_tokens;

    std::vector<int32_t> to_feed = {next};
    if (thinking && params.thinking_budget >= 0 && thinking_tokens >= params.thinking_budget) {
      // Budget spent: Qwen's closing sentence and </think> are forced, then the model answers.
      std::vector<int32_t> forced = tokenizer_.encode(kThinkingBudgetText);
      for (int32_t id : forced) {
        if (static_cast<int>(cached_.size() + to_feed.size()) >= n_ctx) break;
        r.tokens.push_back(id);
        to_feed.push_back(id);
        emit(id);
      }
      thinking = false;
    }
    if (static_cast<int>(cached_.size() + to_feed.size()) > n_ctx) break;
    feed(to_feed, logits);
  }
  std::string tail = decoder.flush();
  std::string out = stops.push(tail) + stops.flush();
  if (!out.empty()) {
    r.text += out;
    if (on_token) on_token(-1, out);
  }
  r.decode_seconds = now_seconds() - t0;
  return r;
}

}  // namespace qwen3
