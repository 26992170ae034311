// The Scheduler against Session: sequences run together in one batched forward pass give exactly the tokens
// each gives alone (greedy and seeded sampling), prompt chunks beside decode steps, prefix reuse across
// requests, cancellation and the bounded queue.
#include <gtest/gtest.h>

#include <chrono>
#include <future>
#include <stdexcept>

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

// Waits for a sequence's outcome, failing (not hanging) when it never comes.
SequenceOutcome outcome_of(std::promise<SequenceOutcome>& p) {
  auto f = p.get_future();
  if (f.wait_for(std::chrono::seconds(120)) != std::future_status::ready) {
    ADD_FAILURE() << "the sequence never finished";
    return {};
  }
  return f.get();
}

SequenceRequest request(int i, std::promise<SequenceOutcome>& done) {
  SequenceRequest r;
  r.prompt = prompt(i);
  r.params = params(i);
  r.on_done = [&done](SequenceOutcome& o) { done.set_value(std::move(o)); };
  return r;
}

// What Session gives for prompt(i) with these settings: the reference for a sequence run in the scheduler.
// Call it only while the scheduler is idle: both use fx().pool, and a ThreadPool runs one job at a time.
void expect_as_alone(const SequenceOutcome& o, int i, const GenerationParams& p) {
  Session session(*fx().model, fx().tok, 256, &fx().pool);
  GenerationResult r = session.generate(prompt(i), p);
  EXPECT_EQ(o.generation.tokens, r.tokens) << "request " << i;
  EXPECT_EQ(o.generation.finish, r.finish) << "request " << i;
  EXPECT_TRUE(o.error.empty()) << o.error;
}

// A sequence whose generator cannot be built (settings that bypassed the API's check: top_p 0) fails alone,
// while another runs; it takes no slot, and later requests are served.
TEST(Scheduler, InvalidSettingsFailOnlyThatSequence) {
  std::promise<SequenceOutcome> good_done, bad_done, later_done;
  std::promise<void> started;
  SchedulerOptions opt;
  opt.n_parallel = 2;
  opt.n_ctx = 256;
  opt.pool = &fx().pool;
  Scheduler s(*fx().model, fx().tok, opt);
  SequenceRequest good = request(1, good_done);
  good.params.max_tokens = 24;
  bool signalled = false;
  good.on_token = [&](int32_t, std::string_view, const TokenLogprob*) {
    if (!signalled) signalled = true, started.set_value();
    return true;
  };
  s.submit({good});
  started.get_future().wait();  // the good sequence is generating
  SequenceRequest bad = request(2, bad_done);
  bad.params.sampling.top_p = 0;
  s.submit({bad});
  SequenceOutcome b = outcome_of(bad_done);
  EXPECT_EQ(b.generation.finish, FinishReason::kError);
  EXPECT_NE(b.error.find("top_p"), std::string::npos) << b.error;
  EXPECT_TRUE(b.generation.tokens.empty());
  s.submit({request(3, later_done)});
  SequenceOutcome g = outcome_of(good_done), l = outcome_of(later_done);
  expect_as_alone(g, 1, good.params);
  expect_as_alone(l, 3, params(3));
  SchedulerStats st = s.stats();
  EXPECT_EQ(st.sequences_failed, 1u);
  EXPECT_EQ(st.sequences_done, 2u);
  EXPECT_EQ(st.sequences_cancelled, 0u);
}

// A failure in a running sequence's own step (here its token callback throws) ends that sequence alone: it
// keeps what it generated, frees its slot, and the sequence beside it goes on to its full output.
TEST(Scheduler, AThrowingCallbackFailsOnlyThatSequence) {
  std::promise<SequenceOutcome> good_done, bad_done, next_done[2];
  SchedulerOptions opt;
  opt.n_parallel = 2;
  opt.n_ctx = 256;
  opt.pool = &fx().pool;
  Scheduler s(*fx().model, fx().tok, opt);
  SequenceRequest good = request(0, good_done), bad = request(1, bad_done);
  good.params.max_tokens = 16;
  int n_bad = 0;
  bad.on_token = [&](int32_t id, std::string_view, const TokenLogprob*) {
    if (id >= 0 && ++n_bad == 3) throw std::runtime_error("the client's channel broke");
    return true;
  };
  s.submit({good, bad});
  SequenceOutcome b = outcome_of(bad_done);
  EXPECT_EQ(b.generation.finish, FinishReason::kError);
  EXPECT_EQ(b.error, "the client's channel broke");
  EXPECT_EQ(b.generation.tokens.size(), 3u);
  // Both slots are needed now: the failed sequence's was freed.
  s.submit({request(2, next_done[0]), request(3, next_done[1])});
  // Every outcome first: the reference Session below shares the thread pool, which runs one job at a time.
  SequenceOutcome g = outcome_of(good_done), n0 = outcome_of(next_done[0]), n1 = outcome_of(next_done[1]);
  expect_as_alone(g, 0, good.params);
  expect_as_alone(n0, 2, params(2));
  expect_as_alone(n1, 3, params(3));
}

// Shutdown ends running and queued sequences as aborted (the server's doing), not as a normal stop.
TEST(Scheduler, ShutdownAbortsWhatRunsAndWaits) {
  std::promise<SequenceOutcome> running_done, queued_done;
  std::promise<void> started;
  {
    SchedulerOptions opt;
    opt.n_parallel = 1;
    opt.n_ctx = 4096;
    opt.pool = &fx().pool;
    Scheduler s(*fx().model, fx().tok, opt);
    SequenceRequest r = request(0, running_done);
    r.params.max_tokens = 4000;
    bool signalled = false;
    r.on_token = [&](int32_t, std::string_view, const TokenLogprob*) {
      if (!signalled) signalled = true, started.set_value();
      return true;
    };
    s.submit({r});
    s.submit({request(1, queued_done)});
    started.get_future().wait();
  }
  SequenceOutcome r = outcome_of(running_done), q = outcome_of(queued_done);
  EXPECT_EQ(r.generation.finish, FinishReason::kAborted);
  EXPECT_NE(r.error.find("shutting down"), std::string::npos) << r.error;
  EXPECT_GT(r.generation.tokens.size(), 0u);
  EXPECT_EQ(q.generation.finish, FinishReason::kAborted);
}

TEST(Scheduler, StopAbortsAndLeavesStatsReadableAndSubmitRefused) {
  // A draining server stops the scheduler while its routes may still read stats() and handlers may submit.
  std::promise<SequenceOutcome> done;
  std::promise<void> started;
  SchedulerOptions opt;
  opt.n_parallel = 1;
  opt.n_ctx = 4096;
  opt.pool = &fx().pool;
  Scheduler s(*fx().model, fx().tok, opt);
  SequenceRequest r = request(0, done);
  r.params.max_tokens = 4000;
  bool signalled = false;
  r.on_token = [&](int32_t, std::string_view, const TokenLogprob*) {
    if (!signalled) signalled = true, started.set_value();
    return true;
  };
  s.submit({r});
  started.get_future().wait();
  s.stop();
  EXPECT_EQ(outcome_of(done).generation.finish, FinishReason::kAborted);
  SchedulerStats st = s.stats();
  EXPECT_EQ(st.n_parallel, 1);
  EXPECT_GE(st.sequences_cancelled, 1u);
  std::promise<SequenceOutcome> late;
  EXPECT_THROW(s.submit({request(1, late)}), SchedulerStopped);
  s.stop();  // idempotent; the destructor stops again
}

TEST(Scheduler, RejectsPromptIdsOutsideTheVocabulary) {
  SchedulerOptions opt;
  opt.n_parallel = 1;
  opt.n_ctx = 64;
  opt.pool = &fx().pool;
  Scheduler s(*fx().model, fx().tok, opt);
  SequenceRequest r;
  r.prompt = {1, fx().model->config.vocab_size};
  EXPECT_THROW(s.submit({r}), Error);
  r.prompt = {-1};
  EXPECT_THROW(s.submit({r}), Error);
}

// One sequence at a time through the scheduler; returns its outcome.
SequenceOutcome run_one(Scheduler& s, std::vector<int32_t> p, int max_tokens) {
  std::promise<SequenceOutcome> done;
  SequenceRequest r;
  r.prompt = std::move(p);
  r.params.sampling.temperature = 0;
  r.params.max_tokens = max_tokens;
  r.on_done = [&done](SequenceOutcome& o) { done.set_value(std::move(o)); };
  s.submit({std::move(r)});
  return done.get_future().get();
}

// A conversation's next turn finds its whole history although a new conversation, sharing only the template's
// first tokens, came in between while a slot was empty: the newcomer takes the empty slot, not the history's.
// Then, with every slot holding something unrelated, a new prompt takes the least recently used one.
TEST(Scheduler, ANewConversationDoesNotEvictALiveOne) {
  SchedulerOptions opt;
  opt.n_parallel = 2;
  opt.n_ctx = 256;
  opt.pool = &fx().pool;
  Scheduler s(*fx().model, fx().tok, opt);
  std::vector<int32_t> a1 = prompt(5);  // {151644, 872, 198, ...}
  SequenceOutcome first = run_one(s, a1, 4);
  std::vector<int32_t> a2 = a1;
  a2.insert(a2.end(), first.generation.tokens.begin(), first.generation.tokens.end());
  for (int k = 0; k < 5; ++k) a2.push_back(2000 + k);
  std::vector<int32_t> b = prompt(2);                  // shares the first 3 tokens with a1
  EXPECT_EQ(run_one(s, b, 4).generation.n_reused, 0);  // the empty slot, not a1's
  SequenceOutcome second = run_one(s, a2, 4);
  // a1 and its answer (the last token may or may not have been fed) are cached.
  EXPECT_GE(second.generation.n_reused, static_cast<int>(a1.size() + first.generation.tokens.size() - 1));
  // Both slots hold a conversation; an unrelated prompt takes the least recently used (b's), so a2's stays.
  run_one(s, prompt(9), 4);
  std::vector<int32_t> a3 = a2;
  a3.push_back(3000);
  EXPECT_GE(run_one(s, a3, 2).generation.n_reused, static_cast<int>(a2.size()));
}

}  // namespace
}  // namespace qwen3
