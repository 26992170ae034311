// Anthropic's Messages API (docs.anthropic.com, "Messages" and "Streaming Messages"): content blocks become
// chat messages (tool_use → tool_calls, tool_result → tool messages, thinking → reasoning_content), and the
// parser's deltas become thinking, text and tool_use blocks; tool_use input streams as input_json_delta.
#include "server/anthropic_api.h"

#include "core/error.h"
#include "core/json.h"

namespace qwen3::server {

namespace {

[[noreturn]] void bad(const std::string& message) {
  throw ApiError{400, message, "invalid_request_error", "", ""};
}

std::string str(const ojson& o, const char* key, const std::string& where) {
  const ojson* v = field(o, key);
  if (!v || !v->is_string()) bad(strfmt("%s.%s: Field required (a string)", where.c_str(), key));
  return v->get<std::string>();
}

// A string, or text blocks joined (system prompts, tool_result content).
std::string text_of(const ojson& c, const std::string& where) {
  if (c.is_string()) return c.get<std::string>();
  if (!c.is_array()) bad(where + ": must be a string or an array of content blocks");
  std::string text;
  for (size_t k = 0; k < c.size(); ++k) {
    std::string w = strfmt("%s.%zu", where.c_str(), k);
    if (!c[k].is_object() || c[k].value("type", "") != "text")
      bad(w + ": only text blocks are supported here (the served model reads text only)");
    text += str(c[k], "text", w);
  }
  return text;
}

// One Anthropic message → chat messages (a user turn with tool results becomes tool messages first).
void add_message(const ojson& m, size_t i, ojson& out) {
  std::string where = strfmt("messages.%zu", i);
  if (!m.is_object()) bad(where + ": must be an object");
  std::string role = str(m, "role", where);
  if (role != "user" && role != "assistant") bad(where + ".role: Input should be 'user' or 'assistant'");
  const ojson* content = field(m, "content");
  if (!content) bad(where + ".content: Field required");
  if (content->is_string()) {
    out.push_back({{"role", role}, {"content", *content}});
    return;
  }
  if (!content->is_array()) bad(where + ".content: must be a string or an array of content blocks");
  std::string text, thinking;
  ojson calls = ojson::array();
  for (size_t k = 0; k < content->size(); ++k) {
    const ojson& b = (*content)[k];
    std::string w = strfmt("%s.content.%zu", where.c_str(), k);
    std::string type = b.is_object() ? b.value("type", "") : "";
    if (type == "text") {
      text += str(b, "text", w);
    } else if (type == "thinking" && role == "assistant") {
      thinking += str(b, "thinking", w);
    } else if (type == "redacted_thinking") {
      continue;
    } else if (type == "tool_use" && role == "assistant") {
      const ojson* input = field(b, "input");
      calls.push_back(
          {{"id", str(b, "id", w)},
           {"type", "function"},
           {"function", {{"name", str(b, "name", w)}, {"arguments", input ? *input : ojson::object()}}}});
    } else if (type == "tool_result" && role == "user") {
      const ojson* c = field(b, "content");
      std::string result = c ? text_of(*c, w + ".content") : "";
      if (b.value("is_error", false)) result = "Error: " + result;
      out.push_back({{"role", "tool"}, {"tool_call_id", str(b, "tool_use_id", w)}, {"content", result}});
    } else if (type == "image" || type == "document" || type == "search_result") {
      bad(strfmt("%s: content blocks of type '%s' are not supported: the served model reads text only",
                 w.c_str(), type.c_str()));
    } else {
      bad(strfmt("%s: unknown or misplaced content block type '%s' in a %s message", w.c_str(), type.c_str(),
                 role.c_str()));
    }
  }
  if (role == "user") {
    if (!text.empty() || out.empty() || out.back()["role"] != "tool")
      out.push_back({{"role", "user"}, {"content", text}});
    return;
  }
  ojson msg = {{"role", "assistant"}, {"content", text}};
  if (!thinking.empty()) msg["reasoning_content"] = thinking;
  if (!calls.empty()) msg["tool_calls"] = calls;
  out.push_back(std::move(msg));
}

struct Translated {
  ojson chat = ojson::object();
  int thinking_budget = -1;
  std::vector<std::string> stop;
};

Translated translate(const ojson& b, bool for_count) {
  Translated t;
  ojson& chat = t.chat;
  if (const ojson* m = field(b, "model")) chat["model"] = *m;  // a LoRA adapter's name picks it
  ojson messages = ojson::array();
  if (const ojson* sys = field(b, "system"))
    messages.push_back({{"role", "system"}, {"content", text_of(*sys, "system")}});
  const ojson* msgs = field(b, "messages");
  if (!msgs || !msgs->is_array() || msgs->empty()) bad("messages: Field required (a non-empty array)");
  for (size_t i = 0; i < msgs->size(); ++i) add_message((*msgs)[i], i, messages);
  chat["messages"] = std::move(messages);
  if (const ojson* tools = field(b, "tools")) {
    if (!tools->is_array()) bad("tools: must be an array");
    ojson out = ojson::array();
    for (size_t i = 0; i < tools->size(); ++i) {
      const ojson& tool = (*tools)[i];
      std::string w = strfmt("tools.%zu", i);
      if (!tool.is_object()) bad(w + ": must be an object");
      if (tool.contains("type") && tool["type"] != "custom")
        bad(strfmt("%s: tools of type %s are not supported (only client tools with an input_schema are)",
                   w.c_str(), tool["type"].dump().c_str()));
      ojson fn = {{"name", str(tool, "name", w)}};
      if (const ojson* d = field(tool, "description")) fn["description"] = *d;
      const ojson* schema = field(tool, "input_schema");
      if (!schema) bad(w + ".input_schema: Field required");
      fn["parameters"] = *schema;
      out.push_back({{"type", "function"}, {"function", fn}});
    }
    chat["tools"] = out;
  }
  if (const ojson* tc = field(b, "tool_choice")) {
    if (!tc->is_object()) bad("tool_choice: must be an object");
    std::string type = str(*tc, "type", "tool_choice");
    if (type == "auto" || type == "none")
      chat["tool_choice"] = type;
    else if (type == "any")
      chat["tool_choice"] = "required";
    else if (type == "tool")
      chat["tool_choice"] = {{"type", "function"}, {"function", {{"name", str(*tc, "name", "tool_choice")}}}};
    else
      bad("tool_choice.type: Input should be 'auto', 'any', 'tool' or 'none'");
    if (tc->value("disable_parallel_tool_use", false)) chat["parallel_tool_calls"] = false;
  }
  // Thinking is off unless asked for, as with Anthropic's models.
  chat["chat_template_kwargs"] = {{"enable_thinking", false}};
  if (const ojson* th = field(b, "thinking")) {
    if (!th->is_object()) bad("thinking: must be an object");
    std::string type = str(*th, "type", "thinking");
    if (type == "enabled") {
      const ojson* budget = field(*th, "budget_tokens");
      if (!budget || !budget->is_number_integer() || budget->get<int64_t>() < 1)
        bad("thinking.budget_tokens: Field required (a positive integer)");
      if (const ojson* mt = field(b, "max_tokens"); mt && mt->is_number_integer() && *budget >= *mt)
        bad("`max_tokens` must be greater than `thinking.budget_tokens`");
      t.thinking_budget = static_cast<int>(std::min<int64_t>(budget->get<int64_t>(), INT32_MAX));
      chat["chat_template_kwargs"] = {{"enable_thinking", true}};
    } else if (type != "disabled") {
      bad("thinking.type: Input should be 'enabled' or 'disabled'");
    }
  }
  if (for_count) return t;
  const ojson* mt = field(b, "max_tokens");
  if (!mt) bad("max_tokens: Field required");
  if (!mt->is_number_integer() || mt->get<int64_t>() < 1) bad("max_tokens: must be a positive integer");
  chat["max_tokens"] = *mt;
  if (const ojson* stop = field(b, "stop_sequences")) {
    if (!stop->is_array()) bad("stop_sequences: must be an array of strings");
    for (const auto& s : *stop) {
      if (!s.is_string()) bad("stop_sequences: must be an array of strings");
      t.stop.push_back(s.get<std::string>());
    }
    if (!stop->empty()) chat["stop"] = *stop;
  }
  for (const char* key :
       {"temperature", "top_p", "top_k", "stream", "logit_bias", "presence_penalty", "seed"})
    if (const ojson* v = field(b, key)) chat[key] = *v;
  if (const ojson* temp = field(b, "temperature"); temp && temp->is_number() && temp->get<double>() > 1)
    bad("temperature: must be between 0 and 1");
  return t;
}

class MessagesWriter : public ResponseWriter {
 public:
  MessagesWriter(const ApiRequest& req, const ServedModel& served, std::vector<std::string> stop)
      : req_(req), served_(served), stop_(std::move(stop)), id_("msg_" + random_hex()) {
    parser_ = make_output_parser(served, req.starts_in_thinking, "toolu_" + random_hex() + "_");
  }

  std::string start() override {
    if (!req_.stream) return "";
    ojson msg = message_object();
    msg["usage"]["output_tokens"] = 0;
    return event("message_start", {{"message", msg}});
  }

  std::string on_token(int, int32_t id, std::string_view text, const TokenLogprob*) override {
    return feed(parser_->push(id, text));
  }

  std::string on_done(int, SequenceOutcome& outcome) override {
    outcome_ = std::move(outcome);
    std::string out = feed(parser_->finish());
    out += close_block();
    FinishReason f = outcome_.generation.finish;
    if (f == FinishReason::kError || f == FinishReason::kAborted || f == FinishReason::kCancelled) {
      ApiError e{500, outcome_.error.empty() ? "generation was aborted" : outcome_.error, "api_error", "",
                 ""};
      if (!req_.stream) return error_body(e, ErrorShape::kAnthropic);
      return out + "event: error\ndata: " + error_body(e, ErrorShape::kAnthropic) + "\n\n";
    }
    if (!req_.stream) {
      ojson msg = message_object();
      msg["content"] = blocks_;
      return dump(msg);
    }
    auto [reason, seq] = stop_reason();
    out += event("message_delta", {{"delta", {{"stop_reason", reason}, {"stop_sequence", seq}}},
                                   {"usage", {{"output_tokens", outcome_.generation.tokens.size()}}}});
    return out + event("message_stop", ojson::object());
  }

 private:
  enum class Kind { kNone, kThinking, kText, kToolUse };

  std::string event(const std::string& name, const ojson& data) {
    if (!req_.stream) return "";
    ojson j = {{"type", name}};
    for (auto& [k, v] : data.items()) j[k] = v;
    return sse_event(name, j);
  }

  std::pair<ojson, ojson> stop_reason() const {
    if (outcome_.generation.finish == FinishReason::kLength) return {"max_tokens", nullptr};
    if (!parser_->result().tool_calls.empty()) return {"tool_use", nullptr};
    if (!stop_.empty()) {  // the text streamed stops before a stop sequence; the tokens include it
      std::string all = served_.tokenizer->decode(outcome_.generation.tokens);
      const std::string& shown = outcome_.generation.text;
      size_t from = shown.size() > 0 ? shown.size() - 1 : 0;
      for (const auto& s : stop_)
        if (all.size() >= shown.size() &&
            all.find(s, from > s.size() ? from - s.size() : 0) != std::string::npos)
          return {"stop_sequence", s};
    }
    return {"end_turn", nullptr};
  }

  ojson message_object() const {
    int prompt = static_cast<int>(req_.prompt.size()), reused = outcome_.generation.n_reused;
    auto [reason, seq] = req_.stream && outcome_.generation.tokens.empty()
                             ? std::pair<ojson, ojson>{nullptr, nullptr}
                             : stop_reason();
    return {{"id", id_},
            {"type", "message"},
            {"role", "assistant"},
            {"model", req_.lora ? req_.model : served_.id},
            {"content", ojson::array()},
            {"stop_reason", reason},
            {"stop_sequence", seq},
            {"usage",
             {{"input_tokens", prompt - reused},
              {"cache_creation_input_tokens", 0},
              {"cache_read_input_tokens", reused},
              {"output_tokens", outcome_.generation.tokens.size()}}}};
  }

  std::string open_block(Kind kind, ojson block) {
    std::string out = close_block();
    kind_ = kind;
    blocks_.push_back(block);
    return out + event("content_block_start", {{"index", blocks_.size() - 1}, {"content_block", block}});
  }

  std::string close_block() {
    if (kind_ == Kind::kNone) return "";
    Kind kind = std::exchange(kind_, Kind::kNone);
    ojson& b = blocks_.back();
    std::string out;
    if (kind == Kind::kThinking)
      out += event("content_block_delta", {{"index", blocks_.size() - 1},
                                           {"delta", {{"type", "signature_delta"}, {"signature", ""}}}});
    if (kind == Kind::kToolUse) {
      ojson input;
      if (!try_parse_json(tool_json_, input, nullptr, JsonLimits{64}) || !input.is_object())
        input = ojson::object();
      b["input"] = input;
    }
    return out + event("content_block_stop", {{"index", blocks_.size() - 1}});
  }

  std::string append(Kind kind, const std::string& text) {
    std::string out;
    if (kind_ != kind)
      out += open_block(kind, kind == Kind::kThinking
                                  ? ojson{{"type", "thinking"}, {"thinking", ""}, {"signature", ""}}
                                  : ojson{{"type", "text"}, {"text", ""}});
    const char* key = kind == Kind::kThinking ? "thinking" : "text";
    ojson& b = blocks_.back();
    b[key] = b[key].get<std::string>() + text;
    return out +
           event("content_block_delta",
                 {{"index", blocks_.size() - 1},
                  {"delta",
                   {{"type", kind == Kind::kThinking ? "thinking_delta" : "text_delta"}, {key, text}}}});
  }

  std::string feed(const ParsedDelta& d) {
    std::string out;
    if (!d.reasoning.empty()) out += append(Kind::kThinking, d.reasoning);
    if (!d.content.empty()) out += append(Kind::kText, d.content);
    for (const ToolCallDelta& t : d.tool_calls) {
      if (!req_.parallel_tool_calls && t.index > 0) continue;
      if (!t.id.empty()) {
        tool_json_.clear();
        out += open_block(Kind::kToolUse,
                          {{"type", "tool_use"}, {"id", t.id}, {"name", t.name}, {"input", ojson::object()}});
      }
      if (t.arguments.empty() || kind_ != Kind::kToolUse) continue;
      tool_json_ += t.arguments;
      out += event("content_block_delta",
                   {{"index", blocks_.size() - 1},
                    {"delta", {{"type", "input_json_delta"}, {"partial_json", t.arguments}}}});
    }
    return out;
  }

  const ApiRequest& req_;
  const ServedModel& served_;
  std::vector<std::string> stop_;
  std::string id_;
  std::unique_ptr<OutputParser> parser_;
  ojson blocks_ = ojson::array();
  Kind kind_ = Kind::kNone;
  std::string tool_json_;
  SequenceOutcome outcome_;
};

}  // namespace

Prepared prepare_messages(const std::string& body, const ServedModel& served) {
  ojson b = parse_json_body(body);
  Translated t = translate(b, false);
  Prepared p;
  p.request = parse_translated(t.chat, served);
  if (t.thinking_budget >= 0) p.request->chat_request.generation.thinking_budget = t.thinking_budget;
  p.writer = std::make_unique<MessagesWriter>(*p.request, served, std::move(t.stop));
  p.request->stream ? set_sse(p) : set_json(p);
  return p;
}

std::string count_tokens(const std::string& body, const ServedModel& served) {
  ojson b = parse_json_body(body);
  Translated t = translate(b, true);
  return dump(ojson{{"input_tokens", parse_translated(t.chat, served)->prompt.size()}});
}

}  // namespace qwen3::server
