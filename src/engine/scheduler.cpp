#include "engine/scheduler.h"

#include <algorithm>

#include "core/log.h"
#include "core/timer.h"

namespace qwen3 {

namespace {

// Runs one sequence's own work (building its generator, a sampling step, its callbacks): an exception becomes
// that sequence's failure instead of unwinding the scheduler thread. Returns false when f threw.
template <class S, class F>
bool guarded(S& s, F&& f) {
  try {
    f();
    return true;
  } catch (const std::exception& e) {
    s.error = e.what();
  } catch (...) {
    s.error = "unknown exception";
  }
  QWEN3_LOG_WARN("a sequence failed: %s", s.error->c_str());
  return false;
}

}  // namespace

struct Scheduler::Seq {
  SequenceRequest req;
  std::unique_ptr<SequenceGenerator> gen;
  int slot = -1;
  size_t n_fed_prompt = 0;       // prompt tokens in the cache so far
  std::vector<int32_t> to_feed;  // decode phase: tokens to feed this step
  double t_submit = 0, t_admit = 0, t_first = 0, t_prompt_done = 0;
  std::optional<std::string> error;  // this sequence failed: it ends as kError at the next finish point
  bool prefilling() const { return n_fed_prompt < req.prompt.size(); }
  bool cancelled() const { return req.cancel && req.cancel->load(std::memory_order_relaxed); }
};

Scheduler::Scheduler(const Model& model, const Tokenizer& tokenizer, const SchedulerOptions& options)
    : model_(model),
      tokenizer_(tokenizer),
      opt_(options),
      cache_(model.config, options.n_parallel, options.n_ctx, options.kv_type),
      slots_(options.n_parallel) {
  QWEN3_CHECK(opt_.n_parallel >= 1, "--parallel %d: must be at least 1", opt_.n_parallel);
  QWEN3_CHECK(opt_.max_batch_tokens >= opt_.n_parallel, "the batch must hold a token per slot");
  forward_options_.pool = opt_.pool;
  forward_options_.max_chunk = opt_.max_batch_tokens;
  stats_.n_parallel = opt_.n_parallel;
  thread_ = std::thread([this] { run(); });
}

Scheduler::~Scheduler() {
  stop();
}

void Scheduler::stop() {
  {
    std::lock_guard lock(mu_);
    stopping_ = true;
  }
  cv_.notify_all();
  std::lock_guard lock(join_mu_);
  if (thread_.joinable()) thread_.join();
}

void Scheduler::submit(std::vector<SequenceRequest> requests) {
  double now = now_seconds();
  std::vector<std::unique_ptr<Seq>> seqs;
  for (auto& r : requests) {
    QWEN3_CHECK(!r.prompt.empty(), "the prompt is empty");
    QWEN3_CHECK(static_cast<int>(r.prompt.size()) < opt_.n_ctx,
                "the prompt has %zu tokens but the context window holds %d (and one new token needs room)",
                r.prompt.size(), opt_.n_ctx);
    for (int32_t id : r.prompt)  // checked here: the forward pass would fail every sequence batched with it
      QWEN3_CHECK(id >= 0 && id < model_.config.vocab_size,
                  "prompt token id %d is outside the vocabulary (%d)", id, model_.config.vocab_size);
    auto s = std::make_unique<Seq>();
    s->req = std::move(r);
    s->t_submit = now;
    seqs.push_back(std::move(s));
  }
  {
    std::lock_guard lock(mu_);
    if (stopping_) throw SchedulerStopped("the server is shutting down");
    if (queue_.size() + seqs.size() > static_cast<size_t>(opt_.max_queue))
      throw QueueFull(strfmt("the queue is full (%zu sequences waiting, at most %d): retry later",
                             queue_.size(), opt_.max_queue));
    for (auto& s : seqs) queue_.push_back(std::move(s));
    stats_.queue_depth = static_cast<int>(queue_.size());
  }
  cv_.notify_all();
}

SchedulerStats Scheduler::stats() const {
  std::lock_guard lock(mu_);
  return stats_;
}

static std::string lora_key(const std::shared_ptr<const LoraStack>& stack) {
  return stack ? stack->key : std::string();
}

// Moves queued sequences into free slots: each takes the free slot sharing the longest prefix with its
// prompt.
void Scheduler::admit() {
  std::lock_guard lock(mu_);
  while (!queue_.empty()) {
    Seq& s = *queue_.front();
    if (!s.req.lora) s.req.lora = model_.lora;  // the model's own adapters (null: none)
    if (s.cancelled()) {                        // never started: answer it without a slot
      std::unique_ptr<Seq> dead = std::move(queue_.front());
      queue_.pop_front();
      active_.push_back(std::move(dead));
      continue;
    }
    // The free slot whose cache shares the longest prefix with the prompt, when that prefix is at least half
    // of what the slot holds (a continued conversation, a long shared system prompt); otherwise the slot
    // worth least: an empty one, else the least recently used. A new conversation thus never evicts a live
    // one's history for the few template tokens all prompts share while other slots are free (llama-server's
    // --slot-prompt-similarity).
    int best = -1, spare = -1;
    size_t best_common = 0, spare_common = 0;
    const std::string key = lora_key(s.req.lora);
    for (int i = 0; i < static_cast<int>(slots_.size()); ++i) {
      const Slot& slot = slots_[i];
      if (slot.seq) continue;
      const auto& c = slot.cached;
      size_t common = 0;
      // K/V computed under other adapters is never reused (each layer's keys and values depend on them)
      while (slot.lora_key == key && common < c.size() && common < s.req.prompt.size() &&
             c[common] == s.req.prompt[common])
        ++common;
      if (common > 0 && 2 * common >= c.size() && (best < 0 || common > best_common))
        best = i, best_common = common;
      const Slot* sp = spare < 0 ? nullptr : &slots_[spare];
      if (!sp || (c.empty() && !sp->cached.empty()) ||
          (c.empty() == sp->cached.empty() && slot.last_used < sp->last_used))
        spare = i, spare_common = common;
    }
    if (spare < 0) break;
    if (best < 0) best = spare, best_common = spare_common;
    std::unique_ptr<Seq> seq = std::move(queue_.front());
    queue_.pop_front();
    seq->t_admit = now_seconds();
    // The generator checks the sequence's settings (the Sampler's check_sampling_params): one that fails ends
    // this sequence alone, at the next step, before it takes the slot.
    if (!guarded(*seq, [&] {
          seq->gen = std::make_unique<SequenceGenerator>(model_, tokenizer_, seq->req.params, seq->req.prompt,
                                                         seq->req.top_logprobs);
        })) {
      active_.push_back(std::move(seq));
      continue;
    }
    // At least the last prompt token is recomputed, for its logits.
    best_common = std::min(best_common, seq->req.prompt.size() - 1);
    Slot& slot = slots_[best];
    slot.last_used = ++slot_clock_;
    slot.cached.resize(best_common);
    slot.lora_key = key;
    slot.seq = seq.get();
    seq->slot = best;
    seq->n_fed_prompt = best_common;
    seq->gen->result().n_reused = static_cast<int>(best_common);
    seq->gen->result().n_prefilled = static_cast<int>(seq->req.prompt.size() - best_common);
    stats_.prompt_tokens_reused += best_common;
    active_.push_back(std::move(seq));
  }
  stats_.queue_depth = static_cast<int>(queue_.size());
}

void Scheduler::finish(Seq& s, std::optional<FinishReason> end, const std::string& why) {
  SequenceOutcome out;
  out.generation.n_prompt = static_cast<int>(s.req.prompt.size());
  if (s.gen) {
    // Held-back text is released, except a failed sequence's (its callback may be what failed).
    if (!s.error) {
      auto& req = s.req;
      guarded(s, [&] {
        s.gen->finish([&](int32_t id, std::string_view text) {
          return req.on_token ? req.on_token(id, text, nullptr) : true;
        });
      });
    }
    out.generation = std::move(s.gen->result());
    out.logprobs = s.gen->logprobs();
  }
  if (end) out.generation.finish = *end;
  if (end == FinishReason::kAborted) out.error = why;
  if (s.error) out.generation.finish = FinishReason::kError, out.error = *s.error;
  double now = now_seconds();
  out.queue_seconds = (s.t_admit > 0 ? s.t_admit : now) - s.t_submit;
  out.first_token_seconds = s.t_first > 0 ? s.t_first - s.t_submit : 0;
  if (s.t_prompt_done > 0) out.generation.decode_seconds = now - s.t_prompt_done;
  if (s.t_prompt_done > 0 && s.t_admit > 0) out.generation.prompt_seconds = s.t_prompt_done - s.t_admit;
  if (s.slot >= 0 && slots_[s.slot].seq == &s)
    slots_[s.slot].seq = nullptr, slots_[s.slot].last_used = ++slot_clock_;
  {
    std::lock_guard lock(mu_);
    switch (out.generation.finish) {
      case FinishReason::kCancelled:
      case FinishReason::kAborted:
        ++stats_.sequences_cancelled;
        break;
      case FinishReason::kError:
        ++stats_.sequences_failed;
        break;
      default:
        ++stats_.sequences_done;
    }
  }
  if (!s.req.on_done) return;
  try {
    s.req.on_done(out);
  } catch (const std::exception& e) {
    QWEN3_LOG_WARN("a sequence's on_done failed: %s", e.what());
  } catch (...) {
    QWEN3_LOG_WARN("a sequence's on_done failed");
  }
}

// One forward call for every active sequence. Returns false when there was nothing to do.
bool Scheduler::step() {
  admit();
  // Failed and cancelled sequences leave before the step; their slots are free for the next admission.
  for (auto& s : active_)
    if (s->error || !s->gen || s->cancelled()) finish(*s, FinishReason::kCancelled), s.reset();
  std::erase(active_, nullptr);
  if (active_.empty()) return false;

  Batch batch;
  std::vector<Seq*> rows;  // the sequence of each logits row
  int n_decode = 0, n_prompt = 0;
  for (auto& s : active_) {
    if (s->prefilling()) continue;
    Slot& slot = slots_[s->slot];
    for (size_t i = 0; i < s->to_feed.size(); ++i) {
      batch.add(s->to_feed[i], static_cast<int32_t>(slot.cached.size() + i), s->slot,
                i + 1 == s->to_feed.size());
      batch.lora.push_back(s->req.lora.get());
    }
    n_decode += static_cast<int>(s->to_feed.size());
    rows.push_back(s.get());
  }
  for (auto& s : active_) {
    int budget = opt_.max_batch_tokens - static_cast<int>(batch.size());
    if (!s->prefilling() || budget <= 0) continue;
    Slot& slot = slots_[s->slot];
    size_t n = std::min(static_cast<size_t>(budget), s->req.prompt.size() - s->n_fed_prompt);
    for (size_t i = 0; i < n; ++i) {
      bool last = s->n_fed_prompt + i + 1 == s->req.prompt.size();
      batch.add(s->req.prompt[s->n_fed_prompt + i], static_cast<int32_t>(slot.cached.size() + i), s->slot,
                last);
      batch.lora.push_back(s->req.lora.get());
      if (last) rows.push_back(s.get());
    }
    n_prompt += static_cast<int>(n);
  }

  const size_t vocab = model_.config.vocab_size;
  logits_.resize(rows.size() * vocab);
  double t0 = now_seconds();
  forward(model_, cache_, batch, logits_.data(), forward_options_);
  double dt = now_seconds() - t0;

  // The cache now holds what was fed.
  for (size_t i = 0; i < batch.size(); ++i) slots_[batch.slots[i]].cached.push_back(batch.tokens[i]);
  for (auto& s : active_)
    if (s->prefilling()) {
      s->n_fed_prompt = slots_[s->slot].cached.size();
      if (!s->prefilling()) s->t_prompt_done = now_seconds();
    }

  int n_generated = 0;
  for (size_t r = 0; r < rows.size(); ++r) {
    Seq& s = *rows[r];
    std::span<float> row(logits_.data() + r * vocab, vocab);
    int room = opt_.n_ctx - static_cast<int>(slots_[s.slot].cached.size());
    size_t before = s.gen->result().tokens.size();
    // Sampling and the callbacks are this sequence's alone: a failure ends it (below), not the step.
    if (!guarded(s, [&] {
          s.to_feed = s.gen->step(row, room, [&](int32_t id, std::string_view text) {
            const auto& lps = s.gen->logprobs();
            const TokenLogprob* lp = id >= 0 && !lps.empty() ? &lps.back() : nullptr;
            return s.req.on_token ? s.req.on_token(id, text, lp) : true;
          });
        }))
      s.to_feed.clear();
    n_generated += static_cast<int>(s.gen->result().tokens.size() - before);
    if (s.t_first == 0) {
      s.t_first = now_seconds();
      double ttft = s.t_first - s.t_submit;
      std::lock_guard lock(mu_);
      size_t b = 0;
      while (b < std::size(SchedulerStats::kTtftBounds) && ttft > SchedulerStats::kTtftBounds[b]) ++b;
      for (; b < stats_.ttft_buckets.size(); ++b) ++stats_.ttft_buckets[b];
      stats_.ttft_sum += ttft;
      ++stats_.ttft_count;
    }
  }
  {
    std::lock_guard lock(mu_);
    ++stats_.steps;
    stats_.prompt_tokens += n_prompt;
    stats_.generated_tokens += n_generated;
    stats_.busy_seconds += dt;
    stats_.last_batch_size = static_cast<int>(batch.size());
    stats_.last_batch_sequences = static_cast<int>(rows.size());
    const double a = 0.2;  // moving average weight of the latest step
    if (n_prompt > 0) stats_.prompt_tps = (1 - a) * stats_.prompt_tps + a * (n_prompt / dt);
    if (n_decode > 0) stats_.generation_tps = (1 - a) * stats_.generation_tps + a * (n_decode / dt);
  }
  for (auto& s : active_)
    if (s->error || s->gen->done()) finish(*s), s.reset();
  std::erase(active_, nullptr);
  std::lock_guard lock(mu_);
  stats_.active = static_cast<int>(active_.size());
  return true;
}

void Scheduler::run() {
  for (;;) {
    {
      std::unique_lock lock(mu_);
      cv_.wait(lock, [&] { return stopping_ || !queue_.empty() || !active_.empty(); });
      if (stopping_) break;
    }
    std::optional<std::string> failure;
    try {
      step();
    } catch (const std::exception& e) {
      failure = e.what();
    } catch (...) {
      failure = "unknown exception";
    }
    if (failure) {
      // Each sequence's own work is guarded in step(), so this is the shared part (the forward pass): every
      // running sequence ends, reported as aborted, rather than the server; the caches are dropped.
      QWEN3_LOG_WARN("scheduler step failed: %s", failure->c_str());
      for (auto& s : active_)
        if (s) finish(*s, FinishReason::kAborted, "the server failed to run this step: " + *failure);
      active_.clear();
      for (auto& slot : slots_) slot.cached.clear(), slot.seq = nullptr;
    }
  }
  std::deque<std::unique_ptr<Seq>> left;
  {
    std::lock_guard lock(mu_);
    left.swap(queue_);
  }
  // Shutdown: what runs or waits is aborted (a sequence already cancelled by its caller stays cancelled).
  auto end = [](Seq& s) { return s.cancelled() ? FinishReason::kCancelled : FinishReason::kAborted; };
  for (auto& s : active_)
    if (s) finish(*s, end(*s), "the server is shutting down");
  for (auto& s : left) finish(*s, end(*s), "the server is shutting down");
  active_.clear();
}

}  // namespace qwen3
