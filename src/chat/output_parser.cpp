// Reasoning / content / tool-call split of generated output. A small state machine over token ids; text only
// ever moves forward into the deltas, so streaming and non-streaming agree by construction
// (tests/chat/output_parser_test checks it over every split of each stream).
#include "chat/output_parser.h"

#include <nlohmann/json.hpp>

#include "chat/jinja_value.h"
#include "core/error.h"
#include "core/json.h"

namespace qwen3 {

static constexpr const char* kToolOpen = "<tool_call>";
static constexpr const char* kToolClose = "</tool_call>";

OutputParser::OutputParser(SpecialIds ids, bool starts_in_thinking, std::string call_id_prefix)
    : ids_(ids),
      prefix_(std::move(call_id_prefix)),
      state_(starts_in_thinking ? State::Thinking : State::Content) {}

void OutputParser::emit(std::string_view s, ParsedDelta& d) {
  if (s.empty()) return;
  if (state_ == State::Thinking) {
    d.reasoning += s;
    out_.reasoning_content += s;
  } else {
    d.content += s;
    out_.content += s;
  }
}

// A structural edge (think tag, tool-call block, end of output): newlines held back before it are dropped,
// and newlines right after it will be.
void OutputParser::boundary() {
  pending_nl_.clear();
  at_boundary_ = true;
}

void OutputParser::text(std::string_view t, ParsedDelta& d) {
  if (state_ == State::ToolCall) {
    tool_buf_ += t;
    return;
  }
  if (at_boundary_) {
    size_t k = t.find_first_not_of('\n');
    if (k == std::string_view::npos) return;
    t.remove_prefix(k);
    at_boundary_ = false;
  }
  size_t end = t.find_last_not_of('\n');
  if (end == std::string_view::npos) {  // only newlines: hold them
    pending_nl_ += t;
    return;
  }
  emit(pending_nl_, d);
  pending_nl_.clear();
  emit(t.substr(0, end + 1), d);
  pending_nl_.append(t.substr(end + 1));
}

void OutputParser::restore_as_content(const std::string& raw, ParsedDelta& d) {
  State saved = state_;
  state_ = State::Content;
  text(raw, d);
  state_ = saved;
}

// Validates the buffered block as {"name": string, "arguments": object (absent = {})}; anything else is
// content.
void OutputParser::close_tool_call(ParsedDelta& d) {
  std::string raw = std::string(kToolOpen) + tool_buf_ + kToolClose;
  std::string why;
  // The model's text is as untrusted as a request body: bounded depth, linear-time objects.
  nlohmann::ordered_json j;
  bool parsed = try_parse_json(tool_buf_, j, nullptr, JsonLimits{64});
  std::string name, args;
  if (!parsed) {
    why = "invalid JSON";
  } else if (!j.is_object() || !j.contains("name") || !j["name"].is_string() ||
             j["name"].get<std::string>().empty()) {
    why = "no \"name\" string";
  } else if (j.contains("arguments") && !j["arguments"].is_object()) {
    why = "\"arguments\" is not an object";
  } else {
    name = j["name"].get<std::string>();
    try {
      // Same text as Python's json.dumps(arguments, ensure_ascii=False), which vLLM sends.
      jinja::JsonOptions opt;
      args = j.contains("arguments") ? jinja::to_json(jinja::from_json(j["arguments"]), opt, 0).text : "{}";
    } catch (const Error& e) {
      why = e.what();
    }
  }
  int index = int(out_.tool_calls.size());
  if (!why.empty()) {
    out_.malformed.push_back("tool call block left in content: " + why);
    restore_as_content(raw, d);
    return;
  }
  ToolCall call{prefix_ + std::to_string(index), name, args};
  ToolCallDelta head;
  head.index = index, head.id = call.id, head.type = "function", head.name = call.name;
  ToolCallDelta body;
  body.index = index, body.arguments = call.arguments;
  d.tool_calls.push_back(std::move(head));
  d.tool_calls.push_back(std::move(body));
  out_.tool_calls.push_back(std::move(call));
}

ParsedDelta OutputParser::push(int32_t id, std::string_view t) {
  QWEN3_CHECK(!finished_, "output parser: push after finish");
  ParsedDelta d;
  const char* tag = id == ids_.think_open        ? "<think>"
                    : id == ids_.think_close     ? "</think>"
                    : id == ids_.tool_call_open  ? kToolOpen
                    : id == ids_.tool_call_close ? kToolClose
                                                 : nullptr;
  if (tag && !t.empty()) {
    // A stream decoder releases bytes it held back (the end of a split character) with the next token, which
    // may be this special one: "<held bytes><tag>", or only the held bytes when it skips special tokens.
    // Those bytes belong before the tag.
    std::string_view tv(tag);
    if (t.size() >= tv.size() && t.substr(t.size() - tv.size()) == tv) t.remove_suffix(tv.size());
    text(t, d);
  }
  if (state_ == State::ToolCall && id != ids_.tool_call_close) {
    // Inside a block every token is raw text; a special token there makes the JSON invalid, which is
    // reported.
    if (id == ids_.think_open)
      tool_buf_ += "<think>";
    else if (id == ids_.think_close)
      tool_buf_ += "</think>";
    else if (id == ids_.tool_call_open)
      tool_buf_ += kToolOpen;
    else
      tool_buf_ += t;
    return d;
  }
  if (id == ids_.think_open) {
    if (state_ == State::Content) {
      boundary();
      state_ = State::Thinking;
    }  // a <think> inside thinking changes nothing
  } else if (id == ids_.think_close) {
    if (state_ == State::Thinking)
      state_ = State::Content;
    else
      out_.malformed.push_back("stray </think> outside a think block dropped");
    boundary();
  } else if (id == ids_.tool_call_open) {
    if (state_ == State::Thinking) {
      text(kToolOpen, d);  // a tool call while thinking is only thought about
    } else {
      boundary();
      state_ = State::ToolCall;
      tool_buf_.clear();
    }
  } else if (id == ids_.tool_call_close) {
    if (state_ == State::ToolCall) {
      state_ = State::Content;
      close_tool_call(d);
      boundary();
    } else if (state_ == State::Thinking) {
      text(kToolClose, d);
    } else {
      out_.malformed.push_back("stray </tool_call> left in content");
      text(kToolClose, d);
    }
  } else {
    text(t, d);
  }
  return d;
}

ParsedDelta OutputParser::finish() {
  ParsedDelta d;
  if (finished_) return d;
  if (state_ == State::ToolCall) {
    state_ = State::Content;
    out_.malformed.push_back("unclosed <tool_call> at end of output left in content");
    restore_as_content(kToolOpen + tool_buf_, d);
  }
  out_.thinking_unclosed = state_ == State::Thinking;
  boundary();
  finished_ = true;
  return d;
}

}  // namespace qwen3
