// The Scheduler against Session: sequences run together in one batched forward pass give exactly the tokens
// each gives alone (greedy and seeded sampling), prompt chunks beside decode steps, prefix reuse across
// requests, cancellation and the bounded queue.
#include <gtest/gtest.h>

#include <future>

#include "engine/scheduler.h"
#include "model/reference_data.h"
#include "tiny_model.h"

namespace qwen3 {
namespace {

test::TinyModel& fx() {
  return test::tiny_model();
}

std::vector<int32_t> prompt(int i) {
  std::vector<int32_t> p = {151644, 872, 198};
  for (int k = 0; k < 3 + 7 * i; ++k) p.push_back(1000 + 37 * i + k);
  return p;
}

GenerationParams params(int i) {
  GenerationParams p;
  p.sampling.temperature = i % 2 ? 0.0f : 0.9f;
  p.sampling.top_k = 40;
  p.sampling.seed = 100 + i;
  p.max_tokens = 6 + i;
  return p;
}

// Runs the requests through a scheduler at once; returns each one's outcome.
std::vector<SequenceOutcome> run_all(Scheduler& s, int n) {
  std::vector<std::promise<SequenceOutcome>> done(n);
  std::vector<SequenceRequest> reqs;
  for (int i = 0; i < n; ++i) {
    SequenceRequest r;
    r.prompt = prompt(i);
    r.params = params(i);
    r.on_done = [&done, i](SequenceOutcome& o) { done[i].set_value(std::move(o)); };
    reqs.push_back(std::move(r));
  }
  s.submit(std::move(reqs));
  std::vector<SequenceOutcome> out;
  for (auto& d : done) out.push_back(d.get_future().get());
  return out;
}

TEST(Scheduler, BatchedEqualsAlone) {
  const int n = 6;
  std::vector<std::vector<int32_t>> alone;
  for (int i = 0; i < n; ++i) {
    Session session(*fx().model, fx().tok, 256, &fx().pool);
    alone.push_back(session.generate(prompt(i), params(i)).tokens);
  }
  SchedulerOptions opt;
  opt.n_parallel = 4;  // fewer slots than requests: two wait in the queue
  opt.n_ctx = 256;
  opt.max_batch_tokens = 16;  // prompts are prefilled in chunks beside decode steps
  opt.pool = &fx().pool;
  Scheduler s(*fx().model, fx().tok, opt);
  std::vector<SequenceOutcome> out = run_all(s, n);
  for (int i = 0; i < n; ++i) {
    EXPECT_EQ(out[i].generation.tokens, alone[i]) << "request " << i;
    EXPECT_EQ(out[i].generation.finish, FinishReason::kLength);
  }
  SchedulerStats st = s.stats();
  EXPECT_EQ(st.sequences_done, static_cast<uint64_t>(n));
  EXPECT_LT(st.steps, st.generated_tokens);  // decode steps were shared
  // The same prompts again: every slot's cache holds a prompt start.
  std::vector<SequenceOutcome> again = run_all(s, n);
  int reused = 0;
  for (int i = 0; i < n; ++i) {
    EXPECT_EQ(again[i].generation.tokens, alone[i]) << "request " << i;
    reused += again[i].generation.n_reused;
  }
  EXPECT_GT(reused, 0);
}

TEST(Scheduler, CancelFreesTheSlotAndQueueIsBounded) {
  SchedulerOptions opt;
  opt.n_parallel = 1;
  opt.n_ctx = 4096;
  opt.max_queue = 1;
  opt.pool = &fx().pool;
  Scheduler s(*fx().model, fx().tok, opt);
  auto cancel = std::make_shared<std::atomic<bool>>(false);
  std::promise<SequenceOutcome> first;
  std::promise<void> started;
  bool signalled = false;
  SequenceRequest r;
  r.prompt = prompt(0);
  r.params = params(1);
  r.params.max_tokens = 4000;
  r.cancel = cancel;
  r.on_token = [&](int32_t, std::string_view, const TokenLogprob*) {
    if (!signalled) signalled = true, started.set_value();
    return true;
  };
  r.on_done = [&](SequenceOutcome& o) { first.set_value(std::move(o)); };
  s.submit({r});
  started.get_future().wait();
  // The slot is busy: one more fits in the queue, the next is refused.
  std::promise<SequenceOutcome> second;
  SequenceRequest q;
  q.prompt = prompt(1);
  q.params = params(1);
  q.on_done = [&](SequenceOutcome& o) { second.set_value(std::move(o)); };
  s.submit({q});
  EXPECT_THROW(s.submit({q}), QueueFull);
  cancel->store(true);
  SequenceOutcome o = first.get_future().get();
  EXPECT_EQ(o.generation.finish, FinishReason::kCancelled);
  EXPECT_LT(o.generation.tokens.size(), 4000u);
  EXPECT_EQ(second.get_future().get().generation.finish, FinishReason::kLength);
  EXPECT_EQ(s.stats().sequences_cancelled, 1u);
}

TEST(Scheduler, RejectsPromptsThatCannotFit) {
  SchedulerOptions opt;
  opt.n_parallel = 1;
  opt.n_ctx = 8;
  opt.pool = &fx().pool;
  Scheduler s(*fx().model, fx().tok, opt);
  SequenceRequest r;
  r.prompt = prompt(1);
  EXPECT_THROW(s.submit({r}), Error);
  r.prompt = {};
  EXPECT_THROW(s.submit({r}), Error);
}

}  // namespace
}  // namespace qwen3
