// Continuous batching: one thread owns the model and a KV cache of n_parallel slots. Each step runs ONE
// forward call holding a decode token for every active sequence plus chunks of pending prompts (chunked
// prefill) up to max_batch_tokens, so the weights are read once per step however many sequences run.
// Per-sequence logic (sampling with its own seeded Sampler, stop rules, thinking budget, logprobs) is
// SequenceGenerator's, the same code Session runs, and the forward pass computes each row independently of
// the batch, so a sequence's output does not depend on what runs beside it.
//
// A slot keeps the tokens its cache holds after its sequence ends; a new sequence takes the free slot whose
// cached tokens share the longest prefix with its prompt (system prompt, tools) and prefills only the rest —
// when that prefix is at least half of the slot's cache and was computed with the same LoRA adapters; else an
// empty or the least recently used slot, so a new conversation does not evict a live one's history while
// other slots are free. A queue bounded by max_queue holds sequences waiting for a slot; submit() beyond it
// throws QueueFull. Sequences are cancelled when their cancel flag is set or their callback returns false;
// the slot is free at the next step.
//
// Failures stay with the sequence that caused them: a generator that cannot be built (invalid sampling
// settings), a sampling step or a callback that throws ends that sequence alone (FinishReason::kError, with
// SequenceOutcome::error), frees its slot, and the others go on. Only a failure of the shared forward pass
// ends every running sequence, as kAborted (so does shutdown).
#pragma once

#include <atomic>
#include <condition_variable>
#include <deque>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "core/error.h"
#include "engine/generation_state.h"

namespace qwen3 {

struct SchedulerOptions {
  int n_parallel = 4;           // KV-cache slots = sequences decoded together
  int n_ctx = 4096;             // positions per slot
  DType kv_type = DType::kF32;  // the KV cache's dtype (model/kv_cache.h)
  int max_queue = 64;           // sequences waiting for a slot
  int max_batch_tokens = 256;   // tokens per forward call (decode tokens first, then prompt chunks)
  ThreadPool* pool = nullptr;
};

struct SequenceOutcome {
  GenerationResult generation;
  std::vector<TokenLogprob> logprobs;  // when asked for: one per generated token
  double queue_seconds = 0;            // submit → slot
  double first_token_seconds = 0;      // submit → first generated token
  std::string error;  // generation.finish kError (or kAborted by a failed step): what went wrong
};

// Called on the scheduler thread. `logprob` is the token's entry when logprobs were asked for, else null.
// Return false to cancel the sequence.
using SequenceTokenFn = std::function<bool(int32_t id, std::string_view text, const TokenLogprob* logprob)>;
using SequenceDoneFn = std::function<void(SequenceOutcome&)>;

struct SequenceRequest {
  std::vector<int32_t> prompt;  // non-empty, shorter than n_ctx
  GenerationParams params;
  int top_logprobs = -1;  // < 0: no logprobs (see SequenceGenerator)
  SequenceTokenFn on_token;
  SequenceDoneFn on_done;  // called exactly once (also when cancelled, failed or at shutdown)
  std::shared_ptr<std::atomic<bool>> cancel;  // optional: set to cancel
  // The LoRA adapters this sequence runs with (null: the model's own, Model::lora). Sequences with different
  // adapters share a batch; a slot's cached prefix is reused only by a sequence with the same adapters.
  std::shared_ptr<const LoraStack> lora;
};

struct QueueFull : Error {
  using Error::Error;
};
struct SchedulerStopped : Error {
  using Error::Error;
};

// Counters and gauges for /metrics (a consistent snapshot).
struct SchedulerStats {
  uint64_t sequences_done = 0;
  uint64_t sequences_cancelled = 0;  // kCancelled and kAborted
  uint64_t sequences_failed = 0;     // kError
  uint64_t prompt_tokens = 0;        // prompt tokens computed (cached ones excluded)
  uint64_t prompt_tokens_reused = 0;
  uint64_t generated_tokens = 0;
  uint64_t steps = 0;
  int queue_depth = 0, active = 0, n_parallel = 0, last_batch_size = 0, last_batch_sequences = 0;
  double prompt_tps = 0, generation_tps = 0;  // moving averages over recent steps
  double busy_seconds = 0;
  // Time to first token histogram (seconds): counts of observations <= each bound, then +Inf.
  static constexpr double kTtftBounds[] = {0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30};
  std::vector<uint64_t> ttft_buckets = std::vector<uint64_t>(std::size(kTtftBounds) + 1, 0);
  double ttft_sum = 0;
  uint64_t ttft_count = 0;
};

class Scheduler {
 public:
  Scheduler(const Model& model, const Tokenizer& tokenizer, const SchedulerOptions& options);
  ~Scheduler();  // stop()
  // Finishes running and queued sequences as aborted and joins the thread; idempotent. Afterwards submit()
  // throws SchedulerStopped and stats() still answers (a draining server's /health and /metrics).
  void stop();
  Scheduler(const Scheduler&) = delete;
  Scheduler& operator=(const Scheduler&) = delete;

  // Queues sequences together (all or none: the n choices of one request). Throws QueueFull when the queue
  // cannot take them all, qwen3::Error on a prompt that cannot fit or holds an id outside the embedding.
  void submit(std::vector<SequenceRequest> requests);
  SchedulerStats stats() const;
  const SchedulerOptions& options() const { return opt_; }

 private:
  struct Seq;
  struct Slot {
    std::vector<int32_t> cached;  // tokens whose K/V the slot holds, in position order
    std::string lora_key;         // LoraStack::key of the adapters they were computed with
    Seq* seq = nullptr;
    uint64_t last_used = 0;  // slot_clock_ when a sequence last took or left it
  };
  void run();
  void admit();
  bool step();
  // Ends a sequence and calls its on_done. `end` overrides the generator's own finish reason (nullopt: the
  // generator finished by itself); `why` is the outcome's error for kAborted. A failure recorded in the
  // sequence (Seq::error) makes it kError. Never throws.
  void finish(Seq& seq, std::optional<FinishReason> end = std::nullopt, const std::string& why = "");

  const Model& model_;
  const Tokenizer& tokenizer_;
  SchedulerOptions opt_;
  KvCache cache_;
  ForwardOptions forward_options_;
  std::vector<Slot> slots_;
  uint64_t slot_clock_ = 0;                   // scheduler thread only
  std::vector<std::unique_ptr<Seq>> active_;  // scheduler thread only
  std::vector<float> logits_;

  mutable std::mutex mu_;
  std::condition_variable cv_;
  std::deque<std::unique_ptr<Seq>> queue_;
  bool stopping_ = false;
  SchedulerStats stats_;
  std::thread thread_;
  std::mutex join_mu_;  // stop() may be called from two threads (a server's drain, the destructor)
};

}  // namespace qwen3
