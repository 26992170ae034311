// Constrained generation in the engine (GenerationParams::constraint, SequenceGenerator): with random weights
// and sampling at temperature 1, the output matches the grammar and ends with EOS where the grammar may end;
// a think block first is free in thinking mode; a trigger token starts the grammar only after it; Session and
// Scheduler give the same tokens; logprobs stay the model's raw ones.
#include <gtest/gtest.h>

#include <future>
#include <regex>

#include "engine/scheduler.h"
#include "tiny_model.h"

namespace qwen3 {
namespace {

test::TinyModel& fx() {
  return test::tiny_model();
}

std::shared_ptr<const constrain::Vocabulary> vocab() {
  static auto v = constrain::make_vocabulary(fx().tok, fx().model->generation.eos_token_ids);
  return v;
}

std::shared_ptr<const constrain::Grammar> regex_grammar(const std::string& re) {
  constrain::Builder b(vocab());
  return b.build(b.regex(re));
}

const std::vector<int32_t> kPrompt = {151644, 872, 198, 9707, 151645, 198, 151644, 77091, 198};

GenerationParams sampled(uint64_t seed, int max_tokens = 64) {
  GenerationParams p;
  p.sampling.temperature = 1.0f;
  p.sampling.top_k = 0;
  p.sampling.top_p = 1.0f;
  p.sampling.seed = seed;
  p.max_tokens = max_tokens;
  return p;
}

TEST(Constraint, SampledOutputMatchesTheRegexAndStops) {
  auto g = regex_grammar("(ab|c)[0-9]{2,3}-(yes|no)");
  const std::regex re("(ab|c)[0-9]{2,3}-(yes|no)");
  for (uint64_t seed = 1; seed <= 8; ++seed) {
    Session session(*fx().model, fx().tok, 256, &fx().pool);
    GenerationParams p = sampled(seed);
    p.constraint.grammar = g;
    GenerationResult r = session.generate(kPrompt, p);
    EXPECT_EQ(r.finish, FinishReason::kStop) << r.text;
    EXPECT_TRUE(std::regex_match(r.text, re)) << "seed " << seed << ": " << r.text;
  }
}

TEST(Constraint, UnconstrainedOutputDoesNotMatch) {  // the test above can fail: free text is not the pattern
  const std::regex re("(ab|c)[0-9]{2,3}-(yes|no)");
  Session session(*fx().model, fx().tok, 256, &fx().pool);
  GenerationResult r = session.generate(kPrompt, sampled(1, 12));
  EXPECT_FALSE(std::regex_match(r.text, re)) << r.text;
}

TEST(Constraint, ThinkFirstLeavesTheThinkBlockFree) {
  const int32_t think_open = *fx().tok.token_to_id("<think>");
  auto g = regex_grammar("(red|green)");
  Session session(*fx().model, fx().tok, 256, &fx().pool);
  GenerationParams p = sampled(3, 80);
  p.constraint.grammar = g;
  p.constraint.think_first = true;
  p.sampling.logit_bias = {{think_open, 1e6f}};  // open the block (the first token may be <think>) ...
  p.sampling.presence_penalty = 1e6f;            // ... once
  p.thinking_budget = 4;                         // then the budget closes it
  GenerationResult r = session.generate(kPrompt, p);
  ASSERT_GE(r.tokens.size(), 2u);
  EXPECT_EQ(r.tokens[0], think_open);
  size_t close = r.text.rfind("</think>");
  ASSERT_NE(close, std::string::npos) << r.text;
  std::string answer = r.text.substr(close + 8);
  answer.erase(0, answer.find_first_not_of('\n'));  // the forced closing text ends "</think>\n\n"
  EXPECT_TRUE(answer == "red" || answer == "green") << r.text;
  EXPECT_EQ(r.finish, FinishReason::kStop);
}

TEST(Constraint, ATriggerTokenStartsTheGrammarAfterIt) {
  const int32_t open = *fx().tok.token_to_id("<tool_call>");
  const int32_t close = *fx().tok.token_to_id("</tool_call>");
  constrain::Builder b(vocab());
  auto g = b.build(b.seq({b.literal("\n{\"n\": "), b.regex("[1-9]"), b.literal("}\n"), b.token(close)}));
  Session session(*fx().model, fx().tok, 256, &fx().pool);
  GenerationParams p = sampled(5, 30);
  p.constraint.grammar = g;
  p.constraint.trigger = open;
  p.sampling.logit_bias = {{open, 1e6f}};  // the first token is the trigger
  p.sampling.presence_penalty = 1e6f;      // used once, it is not chosen again
  GenerationResult r = session.generate(kPrompt, p);
  ASSERT_GE(r.tokens.size(), 6u);
  EXPECT_EQ(r.tokens[0], open);
  std::string call = fx().tok.decode(std::vector<int32_t>(r.tokens.begin() + 1, r.tokens.end()));
  EXPECT_TRUE(std::regex_search(call, std::regex("^\n\\{\"n\": [1-9]\\}\n</tool_call>"))) << call;
}

TEST(Constraint, SchedulerEqualsSessionAndLogprobsAreRaw) {
  auto g = regex_grammar("[a-z]{1,6}( [a-z]{1,6}){0,3}");
  std::vector<GenerationResult> alone;
  for (uint64_t seed = 1; seed <= 3; ++seed) {
    Session session(*fx().model, fx().tok, 256, &fx().pool);
    GenerationParams p = sampled(seed);
    p.constraint.grammar = g;
    alone.push_back(session.generate(kPrompt, p));
  }
  SchedulerOptions opt;
  opt.n_parallel = 3;
  opt.n_ctx = 256;
  opt.pool = &fx().pool;
  Scheduler s(*fx().model, fx().tok, opt);
  std::vector<std::promise<SequenceOutcome>> done(3);
  std::vector<SequenceRequest> reqs;
  for (int i = 0; i < 3; ++i) {
    SequenceRequest r;
    r.prompt = kPrompt;
    r.params = sampled(i + 1);
    r.params.constraint.grammar = g;
    r.top_logprobs = 0;
    r.on_done = [&done, i](SequenceOutcome& o) { done[i].set_value(std::move(o)); };
    reqs.push_back(std::move(r));
  }
  s.submit(std::move(reqs));
  for (int i = 0; i < 3; ++i) {
    SequenceOutcome o = done[i].get_future().get();
    EXPECT_EQ(o.generation.tokens, alone[i].tokens) << i;
    ASSERT_EQ(o.logprobs.size(), o.generation.tokens.size());
    // Raw logprobs: a constrained choice is rarely the model's favourite, so some are well below log(1/2).
    bool any_low = false;
    for (auto& lp : o.logprobs) any_low |= lp.logprob < -1.0f;
    EXPECT_TRUE(any_low);
  }
}

}  // namespace
}  // namespace qwen3
