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

OutputParser::OutputParser(SpecialIds ids, bool starts_in_thinking, std::string call_id_prefix,
                           bool stream_tool_arguments)
    : ids_(ids),
      prefix_(std::move(call_id_prefix)),
      state_(starts_in_thinking ? State::Thinking : State::Content),
      stream_args_(stream_tool_arguments) {}

namespace {

enum class HeadMatch { NeedMore, Yes, No };

// Whether `b` starts {"name": "<string>", "arguments": { (any JSON whitespace between): Yes with the name and
// the position of the arguments' '{', NeedMore while it is a prefix of that, No otherwise.
HeadMatch match_head(std::string_view b, std::string* name, size_t* args_pos) {
  size_t i = 0;
  auto ws = [&] {
    while (i < b.size() && (b[i] == ' ' || b[i] == '\n' || b[i] == '\r' || b[i] == '\t')) ++i;
  };
  // The literal `lit` next (after whitespace): Yes, No, or NeedMore when the buffer ends inside it.
  auto literal = [&](std::string_view lit) {
    ws();
    std::string_view rest = b.substr(i);
    if (rest.size() < lit.size())
      return lit.substr(0, rest.size()) == rest ? HeadMatch::NeedMore : HeadMatch::No;
    if (rest.substr(0, lit.size()) != lit) return HeadMatch::No;
    i += lit.size();
    return HeadMatch::Yes;
  };
  for (std::string_view lit : {"{", "\"name\"", ":"})
    if (HeadMatch m = literal(lit); m != HeadMatch::Yes) return m;
  ws();
  if (i == b.size()) return HeadMatch::NeedMore;
  if (b[i] != '"') return HeadMatch::No;
  size_t start = i++;
  for (bool esc = false; i < b.size(); ++i) {
    if (esc)
      esc = false;
    else if (b[i] == '\\')
      esc = true;
    else if (b[i] == '"')
      break;
  }
  if (i == b.size()) return HeadMatch::NeedMore;
  nlohmann::ordered_json j;
  if (!try_parse_json(b.substr(start, ++i - start), j, nullptr, JsonLimits{2}) || !j.is_string() ||
      j.get<std::string>().empty())
    return HeadMatch::No;
  for (std::string_view lit : {",", "\"arguments\"", ":", "{"})
    if (HeadMatch m = literal(lit); m != HeadMatch::Yes) return m;
  *name = j.get<std::string>();
  *args_pos = i - 1;
  return HeadMatch::Yes;
}

}  // namespace

// stream_tool_arguments: after each piece of a tool-call block, the head once it is complete, then the
// arguments' bytes up to the '}' that closes them.
void OutputParser::stream_tool_call(ParsedDelta& d) {
  if (head_ == Head::NotStreamed) return;
  int index = int(out_.tool_calls.size());
  if (head_ == Head::Pending) {
    std::string name;
    size_t args_pos = 0;
    HeadMatch m = match_head(tool_buf_, &name, &args_pos);
    if (m == HeadMatch::No) head_ = Head::NotStreamed;
    if (m != HeadMatch::Yes) return;
    head_ = Head::Streaming;
    streamed_ = ToolCall{prefix_ + std::to_string(index), name, ""};
    ToolCallDelta head;
    head.index = index, head.id = streamed_.id, head.type = "function", head.name = name;
    d.tool_calls.push_back(std::move(head));
    // From the arguments' '{' on (it is in the buffer already).
    args_from_ = args_pos, scan_ = args_pos + 1, depth_ = 1, in_string_ = escape_ = false;
  }
  size_t from = std::min(args_from_, scan_);
  args_from_ = std::string::npos;
  for (; scan_ < tool_buf_.size() && depth_ > 0; ++scan_) {
    char ch = tool_buf_[scan_];
    if (in_string_) {
      if (escape_)
        escape_ = false;
      else if (ch == '\\')
        escape_ = true;
      else if (ch == '"')
        in_string_ = false;
    } else if (ch == '"') {
      in_string_ = true;
    } else if (ch == '{' || ch == '[') {
      ++depth_;
    } else if (ch == '}' || ch == ']') {
      --depth_;
    }
  }
  if (scan_ == from) return;
  std::string piece = tool_buf_.substr(from, scan_ - from);
  streamed_.arguments += piece;
  if (!d.tool_calls.empty() && d.tool_calls.back().index == index && d.tool_calls.back().name.empty()) {
    d.tool_calls.back().arguments += piece;
  } else {
    ToolCallDelta body;
    body.index = index, body.arguments = std::move(piece);
    d.tool_calls.push_back(std::move(body));
  }
}

// A streamed call ends (its block closed, or the output ended inside it): it stays a call, with the arguments
// streamed; anything wrong is reported, never taken back.
void OutputParser::end_streamed_call(const char* why_unfinished) {
  std::string why = why_unfinished ? why_unfinished : "";
  if (why.empty()) {
    nlohmann::ordered_json j;
    if (depth_ != 0 || in_string_)
      why = "its arguments never closed";
    else if (!try_parse_json(tool_buf_, j, nullptr, JsonLimits{64}) || !j.is_object())
      why = "the block is not valid JSON";
  }
  if (!why.empty())
    out_.malformed.push_back(strfmt("tool call %s kept as streamed: %s", streamed_.id.c_str(), why.c_str()));
  out_.tool_calls.push_back(std::move(streamed_));
  streamed_ = ToolCall{};
  head_ = Head::Pending;
}

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
    if (stream_args_) stream_tool_call(d);
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
  if (head_ == Head::Streaming) return end_streamed_call(nullptr);
  head_ = Head::Pending;
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
    if (stream_args_) stream_tool_call(d);
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
  if (state_ == State::ToolCall && head_ == Head::Streaming) {
    state_ = State::Content;
    end_streamed_call("the output ended inside its block");
  } else if (state_ == State::ToolCall) {
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
