// Splits generated tokens into reasoning_content, content and OpenAI tool_calls, on token ids: <think>
// 151667,
// </think> 151668, <tool_call> 151657, </tool_call> 151658. The same parser serves streaming (the deltas
// returned by push/finish) and non-streaming (result() after finish); the concatenated deltas always equal
// the result.
//
// Rules (docs/CHAT.md explains the choices):
// - Text inside a think block is reasoning; the block opens with <think> or, when the prompt already opened
// it
//   (prompt_ends_in_thinking), at the start. It closes at </think>. A later <think> opens another block whose
//   text is appended to the reasoning. A </think> outside a block is dropped and reported.
// - Newlines Qwen strips are dropped: runs of '\n' at the start and end of a think block, and at the edges of
// the
//   content around </think>, tool-call blocks and the end of output. Newlines between text are kept.
// - <tool_call>{"name": ..., "arguments": {...}}</tool_call> outside thinking becomes a tool call; inside
// thinking
//   it is reasoning text. A block with invalid JSON, or left open at the end, goes to content verbatim and is
//   reported in `malformed`.
// - With stream_tool_arguments, a block that starts {"name": "...", "arguments": { is a tool call from that
//   point on: its head (id, name) is a delta at once and the arguments text follows piece by piece as it is
//   generated (OpenAI's streaming shape). Its arguments are then the text as the model wrote it, not
//   re-serialised; if the block turns out invalid or stays open, the call keeps what was streamed (reported
//   in `malformed`), since it cannot be taken back. Blocks in another shape are handled as above.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace qwen3 {

struct ToolCall {
  std::string id, name;
  std::string arguments;  // a JSON object, as a string (OpenAI's function.arguments)
};

// One streamed tool-call fragment, as OpenAI sends them: the first for an index carries id, type and name
// (with empty arguments); the following ones carry argument text only.
struct ToolCallDelta {
  int index = 0;
  std::string id, type, name;
  std::string arguments;
};

struct ParsedDelta {
  std::string reasoning, content;
  std::vector<ToolCallDelta> tool_calls;
  bool empty() const { return reasoning.empty() && content.empty() && tool_calls.empty(); }
};

struct ParsedOutput {
  std::string reasoning_content, content;
  std::vector<ToolCall> tool_calls;
  std::vector<std::string> malformed;  // one line per problem: tool-call blocks left in content, stray tags
  bool thinking_unclosed = false;      // output ended inside a think block (e.g. max_tokens)
};

class OutputParser {
 public:
  struct SpecialIds {
    int32_t think_open = 151667, think_close = 151668, tool_call_open = 151657, tool_call_close = 151658;
  };
  // call_id_prefix + index names each tool call ("call_0", "call_1", ...); a server passes a per-request
  // prefix.
  OutputParser(SpecialIds ids, bool starts_in_thinking, std::string call_id_prefix = "call_",
               bool stream_tool_arguments = false);

  // text: the decoded UTF-8 for this id (may be empty while the stream decoder holds back a split character).
  // For a special id, text before its tag (bytes released late by the decoder) is taken as ordinary text
  // first.
  ParsedDelta push(int32_t token_id, std::string_view text);
  // End of stream: drops held-back newlines, turns an unclosed <tool_call> into content (reported).
  ParsedDelta finish();
  const ParsedOutput& result() const { return out_; }

 private:
  enum class State { Content, Thinking, ToolCall };
  void text(std::string_view t, ParsedDelta& d);
  void emit(std::string_view s, ParsedDelta& d);
  void boundary();
  void close_tool_call(ParsedDelta& d);
  void restore_as_content(const std::string& raw, ParsedDelta& d);
  void stream_tool_call(ParsedDelta& d);
  void end_streamed_call(const char* why_unfinished);

  SpecialIds ids_;
  std::string prefix_;
  State state_;
  bool at_boundary_ = true;  // leading '\n' of the current text run are dropped
  std::string pending_nl_;   // trailing '\n' held back until more text (kept) or a boundary (dropped)
  std::string tool_buf_;
  bool finished_ = false;
  ParsedOutput out_;
  // stream_tool_arguments: the current block's head state and argument scan (positions in tool_buf_).
  bool stream_args_ = false;
  enum class Head { Pending, Streaming, NotStreamed } head_ = Head::Pending;
  ToolCall streamed_;                     // the call being streamed (arguments grow)
  size_t scan_ = 0;                       // next byte of tool_buf_ to scan once streaming
  size_t args_from_ = std::string::npos;  // the arguments' '{', until it is sent
  int depth_ = 0;                         // JSON nesting inside the arguments (0: the object has closed)
  bool in_string_ = false, escape_ = false;
};

}  // namespace qwen3
