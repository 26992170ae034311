// libFuzzer harness: the input is a token stream for the output parser (reasoning + tool calls). Byte 0
// chooses the initial state (bit 0) and whether tool-call arguments stream (bit 1); then each byte < 10 is a
// special token (<think>, </think>, <tool_call>,
// </tool_call>) with empty text or with its tag's text, or an empty push; runs of other bytes are text. The
// stream is parsed twice, once whole and once with every text byte pushed alone; both must give the same
// result, and each run's deltas must concatenate to its result.
#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "chat/output_parser.h"

namespace {

struct Ev {
  int32_t id;
  std::string text;
};

qwen3::ParsedOutput run(const std::vector<Ev>& evs, bool thinking, bool stream_args, bool bytewise) {
  qwen3::OutputParser p({}, thinking, "call_", stream_args);
  std::string reasoning, content;
  std::vector<std::string> args;
  auto take = [&](const qwen3::ParsedDelta& d) {
    reasoning += d.reasoning, content += d.content;
    for (const auto& t : d.tool_calls) {
      if (size_t(t.index) == args.size()) args.emplace_back();
      if (size_t(t.index) + 1 != args.size()) __builtin_trap();
      args.back() += t.arguments;
    }
  };
  for (const Ev& e : evs) {
    if (bytewise && e.id == 100 && e.text.size() > 1) {
      for (char c : e.text) take(p.push(e.id, std::string(1, c)));
    } else {
      take(p.push(e.id, e.text));
    }
  }
  take(p.finish());
  const auto& r = p.result();
  if (reasoning != r.reasoning_content || content != r.content || args.size() != r.tool_calls.size())
    __builtin_trap();
  for (size_t k = 0; k < args.size(); ++k)
    if (args[k] != r.tool_calls[k].arguments) __builtin_trap();
  return r;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size == 0) return 0;
  const int32_t ids[] = {151667, 151668, 151657, 151658};
  const char* tags[] = {"<think>", "</think>", "<tool_call>", "</tool_call>"};
  std::vector<Ev> evs;
  for (size_t k = 1; k < size; ++k) {
    uint8_t b = data[k];
    if (b < 4)
      evs.push_back({ids[b], ""});
    else if (b < 6)
      evs.push_back({100, ""});
    else if (b < 10)
      evs.push_back({ids[b - 6], tags[b - 6]});  // as a decoder that keeps special tokens
    else if (!evs.empty() && evs.back().id == 100 && !evs.back().text.empty())
      evs.back().text += char(b);
    else
      evs.push_back({100, std::string(1, char(b))});
  }
  bool thinking = data[0] & 1, stream_args = data[0] & 2;
  auto a = run(evs, thinking, stream_args, false), b = run(evs, thinking, stream_args, true);
  if (a.reasoning_content != b.reasoning_content || a.content != b.content || a.malformed != b.malformed ||
      a.tool_calls.size() != b.tool_calls.size())
    __builtin_trap();
  for (size_t k = 0; k < a.tool_calls.size(); ++k)
    if (a.tool_calls[k].name != b.tool_calls[k].name ||
        a.tool_calls[k].arguments != b.tool_calls[k].arguments)
      __builtin_trap();
  return 0;
}
