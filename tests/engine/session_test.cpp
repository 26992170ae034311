// The generation loop on synthetic models, made deterministic with greedy decoding and logit bias: EOS, stop
// strings split across tokens, max tokens, a full window, the thinking budget, and multi-turn prefix reuse.
#include <gtest/gtest.h>

#include <cmath>

#include "chat/chat_template.h"
#include "core/error.h"
#include "engine/chat_turn.h"
#include "engine/stop_strings.h"
#include "model/reference_data.h"
#include "tiny_model.h"

namespace qwen3 {
namespace {

test::TinyModel& fx() {
  return test::tiny_model();
}

GenerationParams forced(int32_t token, int max_tokens) {
  GenerationParams p;
  p.sampling.temperature = 0;
  p.sampling.logit_bias = {{token, 1000.0f}};
  p.max_tokens = max_tokens;
  return p;
}

const int32_t kHello = 9707;  // "Hello"

TEST(Session, StopsOnEosWithoutEmittingIt) {
  Session s(*fx().model, fx().tok, 64, &fx().pool);
  GenerationParams p = forced(151645, 10);  // <|im_end|>
  auto r = s.generate({151644, 872, 198}, p);
  EXPECT_EQ(r.finish, FinishReason::kStop);
  EXPECT_TRUE(r.tokens.empty());
  EXPECT_EQ(r.text, "");
  p = forced(151643, 10);  // <|endoftext|>: the second EOS id
  EXPECT_EQ(s.generate({151644, 872, 198}, p).finish, FinishReason::kStop);
}

TEST(Session, MaxTokensEndsWithLength) {
  Session s(*fx().model, fx().tok, 64, &fx().pool);
  auto r = s.generate({1, 2, 3}, forced(kHello, 5));
  EXPECT_EQ(r.finish, FinishReason::kLength);
  EXPECT_EQ(r.tokens, std::vector<int32_t>(5, kHello));
  EXPECT_EQ(r.text, "HelloHelloHelloHelloHello");
}

TEST(Session, StopStringSplitAcrossTokensIsNeverPrinted) {
  Session s(*fx().model, fx().tok, 64, &fx().pool);
  GenerationParams p = forced(kHello, 20);
  p.stop = {"loHe"};
  std::string streamed;
  auto r = s.generate({1, 2, 3}, p, [&](int32_t, std::string_view t) {
    streamed += t;
    return true;
  });
  EXPECT_EQ(r.finish, FinishReason::kStop);
  EXPECT_EQ(r.text, "Hel");
  EXPECT_EQ(streamed, "Hel");
  EXPECT_EQ(r.tokens.size(), 2u);
}

TEST(Session, StopMatcherHoldsOnlyPossibleStarts) {
  StopMatcher m({"</stop>", "xyz"});
  EXPECT_EQ(m.push("abc<"), "abc");
  EXPECT_EQ(m.push("/st"), "");
  EXPECT_EQ(m.push("ay"), "</stay");
  EXPECT_EQ(m.push("x"), "");
  EXPECT_EQ(m.push("yz tail"), "");
  EXPECT_TRUE(m.stopped());
  StopMatcher n({"end"});
  EXPECT_EQ(n.push("the en"), "the ");
  EXPECT_EQ(n.flush(), "en");
}

TEST(Session, FullWindowEndsWithLengthAndOversizePromptIsAnError) {
  Session s(*fx().model, fx().tok, 16, &fx().pool);
  auto r = s.generate({1, 2, 3, 4, 5, 6, 7, 8, 9, 10}, forced(kHello, -1));
  EXPECT_EQ(r.finish, FinishReason::kLength);
  EXPECT_EQ(r.tokens.size(), 7u);  // positions 10..15 are fed, the 7th token needs no cache slot
  EXPECT_LE(s.cached_tokens().size(), 16u);
  std::vector<int32_t> big(16, 5);
  try {
    s.generate(big, forced(kHello, 3));
    FAIL() << "a prompt that fills the window must be refused";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("the prompt has 16 tokens but the context window holds 16"),
              std::string::npos);
  }
}

TEST(Session, ThinkingBudgetForcesQwensClosingSentence) {
  Session s(*fx().model, fx().tok, 256, &fx().pool);
  GenerationParams p = forced(kHello, 40);
  p.thinking_budget = 4;
  p.starts_in_thinking = true;
  auto r = s.generate({151644, 77091, 198, 151667, 198}, p);  // ...assistant\n<think>\n
  std::string closing = std::string("HelloHelloHelloHello") + kThinkingBudgetText;
  ASSERT_GE(r.text.size(), closing.size());
  EXPECT_EQ(r.text.substr(0, closing.size()), closing);
  EXPECT_EQ(r.text.substr(closing.size(), 5), "Hello");                // then the model answers
  EXPECT_EQ(std::count(r.tokens.begin(), r.tokens.end(), 151668), 1);  // one </think>
  EXPECT_EQ(r.tokens.size(), 40u);
}

// The sentence a spent budget forces is generated text: max_tokens cuts it as any other (issue 24).
TEST(Session, ThinkingBudgetTextCountsTowardMaxTokens) {
  Session s(*fx().model, fx().tok, 256, &fx().pool);
  GenerationParams p = forced(kHello, 10);
  p.thinking_budget = 4;
  p.starts_in_thinking = true;
  auto r = s.generate({151644, 77091, 198, 151667, 198}, p);
  EXPECT_EQ(r.tokens.size(), 10u);
  EXPECT_EQ(r.finish, FinishReason::kLength);
  std::vector<int32_t> closing = fx().tok.encode(kThinkingBudgetText);
  closing.resize(6);  // 4 tokens of thinking, then 6 of the sentence
  EXPECT_EQ(r.text, "HelloHelloHelloHello" + fx().tok.decode(closing));
}

TEST(Session, SameSeedSameTokens) {
  GenerationParams p;
  p.sampling = qwen3_recommended(true);
  p.sampling.seed = 1234;
  p.max_tokens = 16;
  Session a(*fx().model, fx().tok, 64, &fx().pool), b(*fx().model, fx().tok, 64, &fx().pool);
  auto ra = a.generate({1, 2, 3}, p), rb = b.generate({1, 2, 3}, p);
  EXPECT_EQ(ra.tokens, rb.tokens);
  p.sampling.seed = 1235;
  EXPECT_NE(ra.tokens, b.generate({1, 2, 3}, p).tokens);
}

// Turn 2 reuses the cached prefix: only the tokens after it are processed, and the logits equal a
// from-scratch run.
TEST(Session, SecondTurnReusesTheCachedPrefix) {
  auto model = load_model(test::synth_model("small-f32"));
  Tokenizer tok = Tokenizer::load(test::synth_model("small-f32"));
  ChatTemplate tmpl = ChatTemplate::load(test::synth_model("small-f32"));
  Session s(*model, tok, 1024, &fx().pool);
  ChatRequest req;
  req.messages = {{{"role", "user"}, {"content", "What is the capital of France?"}}};
  req.generation.sampling.temperature = 0;
  req.generation.max_tokens = 12;
  ChatResult t1 = run_chat_turn(s, tmpl, req);
  std::vector<int32_t> cached = s.cached_tokens();
  EXPECT_EQ(t1.generation.n_reused, 0);
  req.messages.push_back({{"role", "assistant"}, {"content", t1.output.content}});
  req.messages.push_back({{"role", "user"}, {"content", "And of Germany?"}});
  std::vector<int32_t> prompt2 = chat_prompt_tokens(tmpl, tok, req);
  size_t common = 0;
  while (common < cached.size() && cached[common] == prompt2[common]) ++common;
  ChatResult t2 = run_chat_turn(s, tmpl, req);
  EXPECT_EQ(t2.generation.n_reused, static_cast<int>(common));
  EXPECT_EQ(t2.generation.n_prefilled, static_cast<int>(prompt2.size() - common));
  ChatRequest first_turn;
  first_turn.messages = {req.messages[0]};
  EXPECT_GT(common, chat_prompt_tokens(tmpl, tok, first_turn).size());
  std::vector<float> reused_logits = s.prompt_logits();

  Session fresh(*model, tok, 1024, &fx().pool);
  ChatResult t2_fresh = run_chat_turn(fresh, tmpl, req);
  EXPECT_EQ(t2_fresh.generation.n_prefilled, static_cast<int>(prompt2.size()));
  double scale = 0, diff = 0;
  for (size_t i = 0; i < reused_logits.size(); ++i) {
    scale = std::max(scale, std::abs(double{fresh.prompt_logits()[i]}));
    diff = std::max(diff, std::abs(double{fresh.prompt_logits()[i]} - reused_logits[i]));
  }
  EXPECT_LE(diff, 1e-5 * scale);
  EXPECT_EQ(t2.generation.tokens, t2_fresh.generation.tokens);
}

// A session keeps its cache in the dtype asked for: its prompt logits are the forward pass's with a cache of
// that dtype, bit for bit (and not the f32 cache's); a dtype the head size cannot take is a clear error.
TEST(Session, KeepsItsCacheInTheDtypeAskedFor) {
  auto model = load_model(test::synth_model("small-f32"));
  Tokenizer tok = Tokenizer::load(test::synth_model("small-f32"));
  const std::vector<int32_t> prompt = {151644, 872, 198, 9707, 11, 1879};
  GenerationParams p;
  p.sampling.temperature = 0;
  p.max_tokens = 1;
  std::vector<float> f32_logits;
  for (DType kv : {DType::kF32, DType::kF16, DType::kBF16}) {
    Session s(*model, tok, 64, &fx().pool, kv);
    s.generate(prompt, p);
    ForwardOptions fo;
    fo.pool = &fx().pool;
    fo.kv_type = kv;
    EXPECT_EQ(s.prompt_logits(), generate_greedy(*model, prompt, 0, fo, true).prompt_logits)
        << dtype_name(kv);
    if (kv == DType::kF32)
      f32_logits = s.prompt_logits();
    else
      EXPECT_NE(s.prompt_logits(), f32_logits) << dtype_name(kv);
  }
  EXPECT_THROW(Session(*model, tok, 64, &fx().pool, DType::kQ8_0), Error);  // head_dim 48
}

TEST(ChatTurn, SoftSwitchesPickTheSamplingMode) {
  ChatRequest r;
  r.messages = {{{"role", "user"}, {"content", "hi /no_think"}}};
  EXPECT_FALSE(thinking_mode(r));
  r.messages = {{{"role", "user"}, {"content", "/no_think hi /think"}}};
  EXPECT_TRUE(thinking_mode(r));
  r.messages = {{{"role", "user"}, {"content", "plain"}}};
  EXPECT_TRUE(thinking_mode(r));
  r.enable_thinking = false;
  EXPECT_FALSE(thinking_mode(r));
}

}  // namespace
}  // namespace qwen3
