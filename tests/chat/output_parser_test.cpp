// The reasoning / tool-call parser: expected splits for normal and adversarial outputs, and for every case
// the streaming deltas, however the text is split across pushes, concatenate to the non-streaming result.
#include <gtest/gtest.h>

#include <cstring>
#include <random>

#include "chat/chat_template.h"
#include "chat/output_parser.h"

using namespace qwen3;

namespace {

constexpr int32_t kThink = 151667, kEndThink = 151668, kTool = 151657, kEndTool = 151658, kText = 100;

struct Event {
  int32_t id;
  std::string text;
};

// "<think>", "</think>", "<tool_call>", "</tool_call>" in `s` become their token ids; the rest is text.
std::vector<Event> events(const std::string& s) {
  std::vector<Event> out;
  const std::pair<const char*, int32_t> tags[] = {
      {"<think>", kThink}, {"</think>", kEndThink}, {"<tool_call>", kTool}, {"</tool_call>", kEndTool}};
  size_t pos = 0;
  std::string run;
  while (pos < s.size()) {
    bool tag = false;
    for (auto [t, id] : tags) {
      if (s.compare(pos, std::strlen(t), t) != 0) continue;
      if (!run.empty()) out.push_back({kText, run}), run.clear();
      out.push_back({id, t});
      pos += std::strlen(t);
      tag = true;
      break;
    }
    if (!tag) run += s[pos++];
  }
  if (!run.empty()) out.push_back({kText, run});
  return out;
}

struct Collected {
  ParsedOutput result;
  std::string reasoning, content;
  std::vector<ToolCallDelta> deltas;
};

// Feeds the events with each text run cut at the given byte positions (cuts[i] = true: cut before byte i of
// the concatenated text), plus an empty push at every cut, as a stream decoder holding back bytes would.
Collected run(const std::vector<Event>& evs, bool thinking, const std::vector<bool>& cuts,
              bool stream_args = false) {
  OutputParser p(OutputParser::SpecialIds{}, thinking, "call_", stream_args);
  Collected c;
  auto take = [&](ParsedDelta d) {
    c.reasoning += d.reasoning, c.content += d.content;
    for (auto& t : d.tool_calls) c.deltas.push_back(t);
  };
  size_t at = 0;
  for (const Event& e : evs) {
    if (e.id != kText) {
      take(p.push(e.id, e.text));
      continue;
    }
    std::string piece;
    for (char ch : e.text) {
      if (at < cuts.size() && cuts[at] && !piece.empty()) {
        take(p.push(kText, piece));
        take(p.push(kText, ""));
        piece.clear();
      }
      piece += ch, ++at;
    }
    take(p.push(kText, piece));
  }
  take(p.finish());
  c.result = p.result();
  return c;
}

size_t text_bytes(const std::vector<Event>& evs) {
  size_t n = 0;
  for (const auto& e : evs) n += e.id == kText ? e.text.size() : 0;
  return n;
}

void expect_same(const ParsedOutput& a, const ParsedOutput& b, const std::string& ctx) {
  EXPECT_EQ(a.reasoning_content, b.reasoning_content) << ctx;
  EXPECT_EQ(a.content, b.content) << ctx;
  ASSERT_EQ(a.tool_calls.size(), b.tool_calls.size()) << ctx;
  for (size_t k = 0; k < a.tool_calls.size(); ++k) {
    EXPECT_EQ(a.tool_calls[k].id, b.tool_calls[k].id) << ctx;
    EXPECT_EQ(a.tool_calls[k].name, b.tool_calls[k].name) << ctx;
    EXPECT_EQ(a.tool_calls[k].arguments, b.tool_calls[k].arguments) << ctx;
  }
  EXPECT_EQ(a.malformed, b.malformed) << ctx;
  EXPECT_EQ(a.thinking_unclosed, b.thinking_unclosed) << ctx;
}

// The deltas of one run reproduce its result: text concatenates, and tool-call deltas follow OpenAI's shape.
void expect_deltas_match(const Collected& c, const std::string& ctx) {
  EXPECT_EQ(c.reasoning, c.result.reasoning_content) << ctx;
  EXPECT_EQ(c.content, c.result.content) << ctx;
  std::vector<ToolCall> rebuilt;
  for (const auto& d : c.deltas) {
    if (d.index == int(rebuilt.size())) {
      ASSERT_FALSE(d.id.empty()) << ctx;
      EXPECT_EQ(d.type, "function") << ctx;
      rebuilt.push_back({d.id, d.name, d.arguments});
    } else {
      ASSERT_EQ(d.index, int(rebuilt.size()) - 1) << ctx;
      EXPECT_TRUE(d.id.empty() && d.name.empty() && d.type.empty()) << ctx;
      rebuilt.back().arguments += d.arguments;
    }
  }
  ASSERT_EQ(rebuilt.size(), c.result.tool_calls.size()) << ctx;
  for (size_t k = 0; k < rebuilt.size(); ++k) {
    EXPECT_EQ(rebuilt[k].id, c.result.tool_calls[k].id) << ctx;
    EXPECT_EQ(rebuilt[k].name, c.result.tool_calls[k].name) << ctx;
    EXPECT_EQ(rebuilt[k].arguments, c.result.tool_calls[k].arguments) << ctx;
  }
}

// Parses `output` in one go, checks it against the expectation, then replays every split (all of them for
// short texts, 300 random ones otherwise) and checks each gives the same result through its deltas.
ParsedOutput check(const std::string& output, bool thinking, bool stream_args = false) {
  auto evs = events(output);
  size_t n = text_bytes(evs);
  Collected whole = run(evs, thinking, std::vector<bool>(n, false), stream_args);
  expect_deltas_match(whole, output);
  auto check_split = [&](const std::vector<bool>& cuts) {
    Collected c = run(evs, thinking, cuts, stream_args);
    expect_deltas_match(c, output);
    expect_same(c.result, whole.result, output);
  };
  if (n <= 14) {
    for (uint32_t mask = 0; mask < (1u << n); ++mask) {
      std::vector<bool> cuts(n);
      for (size_t k = 0; k < n; ++k) cuts[k] = (mask >> k) & 1;
      check_split(cuts);
    }
  } else {
    std::mt19937 rng(1234);
    for (int r = 0; r < 300; ++r) {
      std::vector<bool> cuts(n);
      for (size_t k = 0; k < n; ++k) cuts[k] = rng() % (r % 3 + 2) == 0;
      check_split(cuts);
    }
    check_split(std::vector<bool>(n, true));  // one byte per push
  }
  return whole.result;
}

}  // namespace

TEST(OutputParser, ThinkingThenAnswer) {
  auto r = check("<think>\nLet me think.\nOK.\n</think>\n\nThe answer is 42.", false);
  EXPECT_EQ(r.reasoning_content, "Let me think.\nOK.");
  EXPECT_EQ(r.content, "The answer is 42.");
  EXPECT_TRUE(r.tool_calls.empty());
  EXPECT_TRUE(r.malformed.empty());
}

TEST(OutputParser, PromptOpenedThinking) {
  auto r = check("reasoning here\n</think>\n\nanswer\n", true);
  EXPECT_EQ(r.reasoning_content, "reasoning here");
  EXPECT_EQ(r.content, "answer");
}

TEST(OutputParser, ThinkingDisabledIsAllContent) {
  auto r = check("Hello!\n\nHow can I help?\n", false);
  EXPECT_EQ(r.reasoning_content, "");
  EXPECT_EQ(r.content, "Hello!\n\nHow can I help?");
}

TEST(OutputParser, EmptyThinkBlockGivesNoReasoning) {
  auto r = check("<think>\n\n</think>\n\nHi", false);
  EXPECT_EQ(r.reasoning_content, "");
  EXPECT_EQ(r.content, "Hi");
}

TEST(OutputParser, CloseThinkWithoutOpenIsDroppedAndReported) {
  auto r = check("abc</think>\n\ndef", false);
  EXPECT_EQ(r.reasoning_content, "");
  EXPECT_EQ(r.content, "abcdef");
  ASSERT_EQ(r.malformed.size(), 1u);
}

TEST(OutputParser, TwoThinkBlocks) {
  auto r = check("<think>a</think>mid<think>\nb\n</think>\n\nfinal", false);
  EXPECT_EQ(r.reasoning_content, "ab");
  EXPECT_EQ(r.content, "midfinal");
}

TEST(OutputParser, ToolCallInsideThinkingIsReasoning) {
  auto r =
      check("<think>I could <tool_call>{\"name\": \"f\", \"arguments\": {}}</tool_call> later</think>\n\nok",
            false);
  EXPECT_EQ(r.reasoning_content, "I could <tool_call>{\"name\": \"f\", \"arguments\": {}}</tool_call> later");
  EXPECT_EQ(r.content, "ok");
  EXPECT_TRUE(r.tool_calls.empty());
}

TEST(OutputParser, SingleToolCall) {
  auto r = check(
      "<think>\nneed weather\n</think>\n\n<tool_call>\n{\"name\": \"get_weather\", \"arguments\": "
      "{\"location\": {\"city\": \"東京\"}, \"days\": 3, \"t\": 1.0, \"e\": 1e-7}}\n</tool_call>",
      false);
  EXPECT_EQ(r.reasoning_content, "need weather");
  EXPECT_EQ(r.content, "");
  ASSERT_EQ(r.tool_calls.size(), 1u);
  EXPECT_EQ(r.tool_calls[0].id, "call_0");
  EXPECT_EQ(r.tool_calls[0].name, "get_weather");
  EXPECT_EQ(r.tool_calls[0].arguments,
            "{\"location\": {\"city\": \"東京\"}, \"days\": 3, \"t\": 1.0, \"e\": 1e-07}");
}

// Python's json keeps integers past int64 exact (json.dumps(json.loads(x)) == x here); they were refused.
TEST(OutputParser, IntegersPastInt64StayExact) {
  const std::string args =
      "{\"order\": 12345678901234567890, \"max\": 18446744073709551615, "
      "\"min\": -9223372036854775808}";
  auto r = check("<tool_call>\n{\"name\": \"lookup\", \"arguments\": " + args + "}\n</tool_call>", false);
  ASSERT_EQ(r.tool_calls.size(), 1u);
  EXPECT_EQ(r.tool_calls[0].arguments, args);
}

TEST(OutputParser, SeveralCallsWithTextBetween) {
  auto r = check(
      "Let me check.\n<tool_call>\n{\"name\": \"a\", \"arguments\": {\"x\": 1}}\n</tool_call>\nand then\n"
      "<tool_call>\n{\"name\": \"b\"}\n</tool_call>\n",
      false);
  EXPECT_EQ(r.content, "Let me check.and then");
  ASSERT_EQ(r.tool_calls.size(), 2u);
  EXPECT_EQ(r.tool_calls[0].name, "a");
  EXPECT_EQ(r.tool_calls[0].arguments, "{\"x\": 1}");
  EXPECT_EQ(r.tool_calls[1].id, "call_1");
  EXPECT_EQ(r.tool_calls[1].arguments, "{}");
}

TEST(OutputParser, InvalidJsonStaysInContent) {
  auto r = check("<tool_call>\n{\"name\": \"a\", \"arguments\": {\n</tool_call>", false);
  EXPECT_EQ(r.content, "<tool_call>\n{\"name\": \"a\", \"arguments\": {\n</tool_call>");
  EXPECT_TRUE(r.tool_calls.empty());
  ASSERT_EQ(r.malformed.size(), 1u);
}

TEST(OutputParser, ArgumentsMustBeAnObject) {
  auto r = check(
      "<tool_call>{\"name\": \"a\", \"arguments\": \"{}\"}</tool_call>"
      "<tool_call>{\"arguments\": {}}</tool_call><tool_call>[1]</tool_call>",
      false);
  EXPECT_TRUE(r.tool_calls.empty());
  EXPECT_EQ(r.malformed.size(), 3u);
  EXPECT_EQ(r.content,
            "<tool_call>{\"name\": \"a\", \"arguments\": \"{}\"}</tool_call><tool_call>{\"arguments\": "
            "{}}</tool_call>"
            "<tool_call>[1]</tool_call>");
}

TEST(OutputParser, UnclosedToolCallAtEnd) {
  auto r = check("Sure <tool_call>\n{\"name\": \"x\"", false);
  EXPECT_EQ(r.content, "Sure <tool_call>\n{\"name\": \"x\"");
  EXPECT_TRUE(r.tool_calls.empty());
  ASSERT_EQ(r.malformed.size(), 1u);
}

TEST(OutputParser, GoodCallThenMalformedCall) {
  auto r = check("<tool_call>{\"name\": \"a\"}</tool_call>\n<tool_call>{oops}</tool_call>", false);
  ASSERT_EQ(r.tool_calls.size(), 1u);
  EXPECT_EQ(r.content, "<tool_call>{oops}</tool_call>");
  EXPECT_EQ(r.malformed.size(), 1u);
}

TEST(OutputParser, UnclosedThinkingAtEnd) {
  auto r = check("<think>\nstill thinking\n\n", false);
  EXPECT_EQ(r.reasoning_content, "still thinking");
  EXPECT_EQ(r.content, "");
  EXPECT_TRUE(r.thinking_unclosed);
}

TEST(OutputParser, StrayCloseToolCallAndNewlinesInside) {
  auto r = check("a\n\n</tool_call>\n\nb\n", false);
  EXPECT_EQ(r.content, "a\n\n</tool_call>\n\nb");
  EXPECT_EQ(r.malformed.size(), 1u);
}

TEST(OutputParser, SpecialTokensInsideToolCallMakeItMalformed) {
  auto r = check("<tool_call>{\"name\": \"a\"<think>}</tool_call>", false);
  EXPECT_TRUE(r.tool_calls.empty());
  EXPECT_EQ(r.content, "<tool_call>{\"name\": \"a\"<think>}</tool_call>");
}

TEST(OutputParser, PromptEndsInThinking) {
  EXPECT_FALSE(prompt_ends_in_thinking("<|im_start|>user\nhi<|im_end|>\n<|im_start|>assistant\n"));
  EXPECT_TRUE(prompt_ends_in_thinking("<|im_start|>user\nhi<|im_end|>\n<|im_start|>assistant\n<think>\n"));
  EXPECT_FALSE(prompt_ends_in_thinking("<|im_start|>assistant\n<think>\n\n</think>\n\n"));
  EXPECT_FALSE(prompt_ends_in_thinking("<|im_start|>user\n<think><|im_end|>\n<|im_start|>assistant\n"));
}

TEST(OutputParser, ThinkingStartFollowsRenderedPrompt) {
  ChatTemplate t = ChatTemplate::from_source(
      "<|im_start|>assistant\n{% if enable_thinking is defined and enable_thinking is false "
      "%}<think>\n\n</think>\n\n"
      "{% elif force_open %}<think>\n{% endif %}");
  nlohmann::ordered_json none = nlohmann::ordered_json::array();
  ChatTemplateOptions off;
  off.enable_thinking = effective_thinking(std::nullopt, false);
  EXPECT_FALSE(prompt_ends_in_thinking(t.render(none, nullptr, off).text));
  ChatTemplateOptions open;
  open.enable_thinking = effective_thinking(true, false);
  open.extra_kwargs = {{"force_open", true}};
  EXPECT_TRUE(prompt_ends_in_thinking(t.render(none, nullptr, open).text));
  EXPECT_EQ(effective_thinking(std::nullopt, std::nullopt), std::nullopt);
}

// A stream decoder may hand the held-back end of a split character over together with a special token.
TEST(OutputParser, HeldBytesArriveWithSpecialToken) {
  OutputParser p(OutputParser::SpecialIds{}, true);
  std::string reasoning, content;
  auto take = [&](ParsedDelta d) { reasoning += d.reasoning, content += d.content; };
  take(p.push(kText, "abc"));
  take(p.push(kText, ""));                          // first bytes of a character held back
  take(p.push(kEndThink, "\xEF\xBF\xBD</think>"));  // ... released as U+FFFD with </think>
  take(p.push(kText, "\n\nans"));
  take(p.push(kText, ""));
  take(p.push(kTool, "\xC3\xA9"));  // held bytes only (decoder skipping special tokens)
  take(p.push(kText, "{\"name\": \"f\"}"));
  take(p.push(kEndTool, "</tool_call>"));
  take(p.finish());
  EXPECT_EQ(p.result().reasoning_content, "abc\xEF\xBF\xBD");
  EXPECT_EQ(p.result().content, "ans\xC3\xA9");
  EXPECT_EQ(p.result().tool_calls.size(), 1u);
  EXPECT_EQ(reasoning, p.result().reasoning_content);
  EXPECT_EQ(content, p.result().content);
}

// stream_tool_arguments: the head of a call as soon as "arguments": { is seen, then each generated piece of
// the arguments, one delta at a time; the result's arguments are exactly the pieces (the model's own text).
TEST(OutputParser, StreamedArgumentsArriveAsGenerated) {
  OutputParser p(OutputParser::SpecialIds{}, false, "call_", true);
  std::vector<std::vector<ToolCallDelta>> seen;
  auto take = [&](ParsedDelta d) { seen.push_back(d.tool_calls); };
  take(p.push(kTool, "<tool_call>"));
  take(p.push(kText, "\n{\"name\": \"get_"));
  take(p.push(kText, "weather\", \"arguments\""));
  take(p.push(kText, ": {\"city\": \"Pa"));
  take(p.push(kText, "ris}{\", \"n\": [1, {}]"));
  take(p.push(kText, "}}\n"));
  take(p.push(kEndTool, "</tool_call>"));
  take(p.finish());
  ASSERT_EQ(seen.size(), 8u);
  EXPECT_TRUE(seen[0].empty() && seen[1].empty() && seen[2].empty());
  ASSERT_EQ(seen[3].size(), 2u);  // the head, then the first piece: one entry each
  EXPECT_EQ(seen[3][0].id, "call_0");
  EXPECT_EQ(seen[3][0].name, "get_weather");
  EXPECT_EQ(seen[3][0].type, "function");
  EXPECT_EQ(seen[3][0].arguments, "");
  EXPECT_EQ(seen[3][1].name, "");
  EXPECT_EQ(seen[3][1].arguments, "{\"city\": \"Pa");
  ASSERT_EQ(seen[4].size(), 1u);
  EXPECT_EQ(seen[4][0].arguments, "ris}{\", \"n\": [1, {}]");  // braces inside a string do not close it
  ASSERT_EQ(seen[5].size(), 1u);
  EXPECT_EQ(seen[5][0].arguments, "}");  // the block's own closing brace and newline are not arguments
  EXPECT_TRUE(seen[6].empty() && seen[7].empty());
  ASSERT_EQ(p.result().tool_calls.size(), 1u);
  EXPECT_EQ(p.result().tool_calls[0].arguments, "{\"city\": \"Paris}{\", \"n\": [1, {}]}");
  EXPECT_TRUE(p.result().malformed.empty());
  EXPECT_EQ(p.result().content, "");
}

TEST(OutputParser, StreamedArgumentsEverySplit) {
  auto r = check(
      "Let me check.\n<tool_call>\n{\"name\": \"a\", \"arguments\": {\"x\": 1, \"s\": "
      "\"\\\"}\"}}\n</tool_call>\n"
      "<tool_call>\n{\"name\":\"b\",\"arguments\":{}}\n</tool_call>",
      false, true);
  EXPECT_EQ(r.content, "Let me check.");
  ASSERT_EQ(r.tool_calls.size(), 2u);
  EXPECT_EQ(r.tool_calls[0].arguments, "{\"x\": 1, \"s\": \"\\\"}\"}");
  EXPECT_EQ(r.tool_calls[1].id, "call_1");
  EXPECT_EQ(r.tool_calls[1].arguments, "{}");
  EXPECT_TRUE(r.malformed.empty());
  // Not the streamable shape: handled whole, as without the option.
  r = check("<tool_call>{\"arguments\": {\"y\": 1e-7}, \"name\": \"c\"}</tool_call>", false, true);
  ASSERT_EQ(r.tool_calls.size(), 1u);
  EXPECT_EQ(r.tool_calls[0].arguments, "{\"y\": 1e-07}");
  r = check("<tool_call>{\"name\": \"a\", \"arguments\": \"{}\"}</tool_call>", false, true);
  EXPECT_TRUE(r.tool_calls.empty());
  EXPECT_EQ(r.malformed.size(), 1u);
}

// Once announced, a call cannot be taken back: broken or unfinished arguments stay as streamed, reported.
TEST(OutputParser, StreamedCallKeptWhenBroken) {
  auto r = check("<tool_call>{\"name\": \"a\", \"arguments\": {\"x\": </tool_call>ok", false, true);
  ASSERT_EQ(r.tool_calls.size(), 1u);
  EXPECT_EQ(r.tool_calls[0].arguments, "{\"x\": ");
  EXPECT_EQ(r.content, "ok");
  ASSERT_EQ(r.malformed.size(), 1u);
  EXPECT_NE(r.malformed[0].find("never closed"), std::string::npos);
  r = check("<tool_call>{\"name\": \"a\", \"arguments\": {} oops</tool_call>", false, true);
  ASSERT_EQ(r.tool_calls.size(), 1u);
  EXPECT_EQ(r.tool_calls[0].arguments, "{}");
  ASSERT_EQ(r.malformed.size(), 1u);
  r = check("x<tool_call>{\"name\": \"a\", \"arguments\": {\"q\": \"long", false, true);
  ASSERT_EQ(r.tool_calls.size(), 1u);
  EXPECT_EQ(r.tool_calls[0].arguments, "{\"q\": \"long");
  EXPECT_EQ(r.content, "x");
  ASSERT_EQ(r.malformed.size(), 1u);
}
