#include "engine/session.h"

#include <algorithm>

#include "core/error.h"
#include "core/timer.h"
#include "engine/generation_state.h"

namespace qwen3 {

const char* const kThinkingBudgetText =
    "\n\nConsidering the limited time by the user, I have to give the solution based on the thinking "
    "directly "
    "now.\n</think>\n\n";

const char* finish_reason_name(FinishReason r) {
  switch (r) {
    case FinishReason::kStop:
      return "stop";
    case FinishReason::kLength:
      return "length";
    case FinishReason::kCancelled:
      return "cancelled";
    case FinishReason::kAborted:
      return "aborted";
    case FinishReason::kError:
      return "error";
  }
  return "?";
}

Session::Session(const Model& model, const Tokenizer& tokenizer, int n_ctx, ThreadPool* pool, DType kv_type)
    : model_(model), tokenizer_(tokenizer), cache_(model.config, 1, n_ctx, kv_type) {
  forward_options_.pool = pool;
}

void Session::feed(const std::vector<int32_t>& tokens, std::vector<float>& logits) {
  Batch batch;
  int32_t pos = static_cast<int32_t>(cached_.size());
  for (size_t i = 0; i < tokens.size(); ++i)
    batch.add(tokens[i], pos + static_cast<int32_t>(i), 0, i + 1 == tokens.size());
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

  SequenceGenerator gen(model_, tokenizer_, params, prompt);
  t0 = now_seconds();
  for (;;) {
    std::vector<int32_t> to_feed = gen.step(logits, n_ctx - static_cast<int>(cached_.size()), on_token);
    if (to_feed.empty()) break;
    feed(to_feed, logits);
  }
  gen.finish(on_token);
  GenerationResult& g = gen.result();
  r.tokens = std::move(g.tokens);
  r.text = std::move(g.text);
  r.finish = g.finish;
  r.decode_seconds = now_seconds() - t0;
  return r;
}

}  // namespace qwen3
