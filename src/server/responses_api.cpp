// The Responses API: input items → chat messages (parse_chat_request does the validation and tokenizing
// /v1/chat/completions does), the parser's deltas → output items and their streamed events. The event order
// follows OpenAI's: response.created, response.in_progress, then per item output_item.added, its part/text
// events, output_item.done, and last response.completed (or .incomplete at max_output_tokens, .failed).
#include "server/responses_api.h"

#include <ctime>

#include "core/error.h"

namespace qwen3::server {

namespace {

[[noreturn]] void bad(const std::string& param, const std::string& message, const std::string& code = "") {
  throw ApiError{400, message, "invalid_request_error", param, code};
}

std::string string_field(const ojson& o, const char* key, const std::string& param, bool required = true) {
  const ojson* v = field(o, key);
  if (!v) {
    if (required)
      bad(param + "." + key, strfmt("'%s.%s' is required", param.c_str(), key), "missing_required_parameter");
    return "";
  }
  if (!v->is_string())
    bad(param + "." + key, strfmt("'%s.%s' must be a string", param.c_str(), key), "invalid_type");
  return v->get<std::string>();
}

void check_enum(const ojson& o, const char* key, std::initializer_list<const char*> allowed,
                const std::string& param) {
  const ojson* v = field(o, key);
  if (!v) return;
  std::string list;
  bool ok = false;
  for (const char* a : allowed) {
    list += (list.empty() ? "" : ", ") + std::string(a);
    ok = ok || *v == a;
  }
  if (!ok)
    bad(param,
        strfmt("Invalid value for '%s': %s. Supported values are: %s.", param.c_str(), v->dump().c_str(),
               list.c_str()),
        "invalid_value");
}

// Message content: a string or an array of text parts (input_text, output_text; refusal as text).
std::string content_text(const ojson& content, const std::string& param) {
  if (content.is_string()) return content.get<std::string>();
  if (!content.is_array())
    bad(param, param + " must be a string or an array of content parts", "invalid_type");
  std::string text;
  for (size_t k = 0; k < content.size(); ++k) {
    const ojson& part = content[k];
    std::string type = part.is_object() ? part.value("type", "") : "";
    std::string p = strfmt("%s[%zu]", param.c_str(), k);
    if (type == "input_text" || type == "output_text" || type == "text" || type == "summary_text" ||
        type == "reasoning_text") {
      text += string_field(part, "text", p);
    } else if (type == "refusal") {
      text += string_field(part, "refusal", p);
    } else if (type == "input_image" || type == "input_file" || type == "input_audio") {
      bad(p,
          strfmt("%s: content of type '%s' is not supported: the served model reads text only", p.c_str(),
                 type.c_str()),
          "unsupported_value");
    } else {
      bad(p,
          strfmt("%s: unknown content part type %s", p.c_str(),
                 part.is_object() && part.contains("type") ? part["type"].dump().c_str() : "(none)"),
          "invalid_value");
    }
  }
  return text;
}

// Builds chat messages from input items; reasoning items attach to the next assistant message.
struct InputTranslator {
  explicit InputTranslator(const ResponseStore& s) : store(s) {}
  const ResponseStore& store;
  ojson messages = ojson::array();
  std::string pending_reasoning;

  ojson& assistant_for_tool_call() {
    if (!messages.empty() && messages.back()["role"] == "assistant") return messages.back();
    messages.push_back(assistant(""));
    return messages.back();
  }
  ojson assistant(const std::string& text) {
    ojson m = {{"role", "assistant"}, {"content", text}};
    if (!pending_reasoning.empty()) m["reasoning_content"] = std::exchange(pending_reasoning, "");
    return m;
  }

  void add(const ojson& item, const std::string& param, int depth = 0) {
    if (!item.is_object()) bad(param, param + " must be an object", "invalid_type");
    std::string type = item.contains("type") && item["type"].is_string() ? item["type"].get<std::string>()
                       : item.contains("role")                           ? "message"
                                                                         : "";
    if (type == "item_reference" && depth == 0) {
      std::string id = string_field(item, "id", param);
      std::optional<ojson> stored = store.item(id);
      if (!stored) {
        if (id.rfind("rs_", 0) == 0) return;  // past reasoning: the template drops it anyway
        throw ApiError{404,
                       strfmt("Item with id '%s' not found (responses are kept in memory, bounded: see "
                              "docs/SERVER.md).",
                              id.c_str()),
                       "invalid_request_error", param, "item_not_found"};
      }
      return add(*stored, param, depth + 1);
    }
    if (type == "message") {
      std::string role = string_field(item, "role", param);
      if (role != "user" && role != "system" && role != "developer" && role != "assistant")
        bad(param + ".role", "role must be one of user, system, developer, assistant", "invalid_value");
      const ojson* content = field(item, "content");
      if (!content) bad(param + ".content", "'content' is required", "missing_required_parameter");
      std::string text = content_text(*content, param + ".content");
      if (role == "assistant") {
        messages.push_back(assistant(text));
      } else {
        messages.push_back({{"role", role == "developer" ? "system" : role}, {"content", text}});
      }
    } else if (type == "function_call") {
      ojson call = {{"id", string_field(item, "call_id", param)},
                    {"type", "function"},
                    {"function",
                     {{"name", string_field(item, "name", param)},
                      {"arguments", string_field(item, "arguments", param)}}}};
      ojson& m = assistant_for_tool_call();
      if (!pending_reasoning.empty() && !m.contains("reasoning_content"))
        m["reasoning_content"] = std::exchange(pending_reasoning, "");
      m["tool_calls"].push_back(std::move(call));
    } else if (type == "function_call_output") {
      const ojson* out = field(item, "output");
      if (!out) bad(param + ".output", "'output' is required", "missing_required_parameter");
      messages.push_back({{"role", "tool"},
                          {"tool_call_id", string_field(item, "call_id", param)},
                          {"content", content_text(*out, param + ".output")}});
    } else if (type == "reasoning") {
      std::string text;
      for (const char* key : {"content", "summary"})
        if (const ojson* parts = field(item, key); parts && text.empty())
          text = content_text(*parts, param + "." + key);
      if (!text.empty()) pending_reasoning += text;
    } else {
      bad(param + ".type",
          strfmt("input item type '%s' is not supported (message, function_call, function_call_output, "
                 "reasoning "
                 "and item_reference are)",
                 type.c_str()),
          "unsupported_value");
    }
  }
};

// The chat-completions body a Responses request means; `conversation` gets the messages to store.
ojson translate(const ojson& b, const ResponseStore& store, ojson& conversation, bool& summary_mode) {
  InputTranslator tr(store);
  if (const ojson* prev = field(b, "previous_response_id")) {
    if (!prev->is_string())
      bad("previous_response_id", "'previous_response_id' must be a string", "invalid_type");
    std::optional<ResponseStore::Stored> s = store.get(prev->get<std::string>());
    if (!s)
      throw ApiError{
          404,
          strfmt("Previous response with id '%s' not found (responses are kept in memory, at most %zu; "
                 "see docs/SERVER.md).",
                 prev->get<std::string>().c_str(), ResponseStore::kMaxResponses),
          "invalid_request_error", "previous_response_id", "previous_response_not_found"};
    tr.messages = s->conversation;
  }
  const ojson* input = field(b, "input");
  if (!input) bad("input", "'input' is required", "missing_required_parameter");
  if (input->is_string()) {
    tr.messages.push_back({{"role", "user"}, {"content", *input}});
  } else if (input->is_array()) {
    for (size_t i = 0; i < input->size(); ++i) tr.add((*input)[i], strfmt("input[%zu]", i));
  } else {
    bad("input", "'input' must be a string or an array of input items", "invalid_type");
  }
  conversation = tr.messages;

  ojson chat = ojson::object();
  if (const ojson* m = field(b, "model")) chat["model"] = *m;  // a LoRA adapter's name picks it
  ojson messages = ojson::array();
  if (const ojson* ins = field(b, "instructions")) {
    if (!ins->is_string()) bad("instructions", "'instructions' must be a string", "invalid_type");
    messages.push_back({{"role", "system"}, {"content", *ins}});
  }
  for (auto& m : tr.messages) messages.push_back(m);
  if (messages.empty()) bad("input", "'input' has no messages", "invalid_value");
  chat["messages"] = std::move(messages);

  if (const ojson* tools = field(b, "tools")) {
    if (!tools->is_array()) bad("tools", "'tools' must be an array", "invalid_type");
    ojson out = ojson::array();
    for (size_t i = 0; i < tools->size(); ++i) {
      const ojson& t = (*tools)[i];
      std::string p = strfmt("tools[%zu]", i);
      if (!t.is_object() || t.value("type", "") != "function")
        bad(p + ".type",
            strfmt("%s: only tools of type 'function' are supported (got %s)", p.c_str(),
                   t.is_object() && t.contains("type") ? t["type"].dump().c_str() : "none"),
            "unsupported_value");
      ojson fn = {{"name", string_field(t, "name", p)}};
      if (const ojson* d = field(t, "description")) fn["description"] = *d;
      if (const ojson* ps = field(t, "parameters")) fn["parameters"] = *ps;
      if (const ojson* st = field(t, "strict")) fn["strict"] = *st;
      out.push_back({{"type", "function"}, {"function", fn}});
    }
    chat["tools"] = out;
  }
  if (const ojson* tc = field(b, "tool_choice")) {
    if (tc->is_string()) {
      check_enum(b, "tool_choice", {"none", "auto", "required"}, "tool_choice");
      chat["tool_choice"] = *tc;
    } else if (tc->is_object() && tc->value("type", "") == "function") {
      chat["tool_choice"] = {{"type", "function"},
                             {"function", {{"name", string_field(*tc, "name", "tool_choice")}}}};
    } else {
      bad("tool_choice",
          "'tool_choice' must be none, auto, required or {\"type\": \"function\", \"name\": ...}",
          "invalid_value");
    }
  }
  if (const ojson* text = field(b, "text")) {
    if (!text->is_object()) bad("text", "'text' must be an object", "invalid_type");
    check_enum(*text, "verbosity", {"low", "medium", "high"}, "text.verbosity");
    if (const ojson* f = field(*text, "format")) {
      if (!f->is_object()) bad("text.format", "'text.format' must be an object", "invalid_type");
      check_enum(*f, "type", {"text", "json_object", "json_schema"}, "text.format.type");
      std::string type = f->value("type", "text");
      if (type == "json_object") {
        chat["response_format"] = {{"type", "json_object"}};
      } else if (type == "json_schema") {
        ojson js = {{"name", f->value("name", "response")}};
        if (const ojson* s = field(*f, "schema")) js["schema"] = *s;
        if (const ojson* s = field(*f, "strict")) js["strict"] = *s;
        if (const ojson* s = field(*f, "description")) js["description"] = *s;
        chat["response_format"] = {{"type", "json_schema"}, {"json_schema", js}};
      }
    }
  }
  if (const ojson* r = field(b, "reasoning")) {
    if (!r->is_object()) bad("reasoning", "'reasoning' must be an object", "invalid_type");
    check_enum(*r, "effort", {"none", "minimal", "low", "medium", "high"}, "reasoning.effort");
    check_enum(*r, "summary", {"auto", "concise", "detailed"}, "reasoning.summary");
    check_enum(*r, "generate_summary", {"auto", "concise", "detailed"}, "reasoning.generate_summary");
    if (const ojson* e = field(*r, "effort"))
      chat["chat_template_kwargs"] = {{"enable_thinking", *e != "none" && *e != "minimal"}};
    summary_mode = field(*r, "summary") || field(*r, "generate_summary");
  }
  check_enum(b, "truncation", {"auto", "disabled"}, "truncation");
  check_enum(b, "service_tier", {"auto", "default", "flex", "scale", "priority"}, "service_tier");
  if (const ojson* bg = field(b, "background"); bg && *bg == true)
    bad("background", "'background': true is not supported: responses are generated while the request waits",
        "unsupported_value");
  if (const ojson* m = field(b, "max_output_tokens")) {
    if (!m->is_number_integer() || m->get<int64_t>() < 1)
      bad("max_output_tokens", "'max_output_tokens' must be a positive integer", "invalid_value");
    chat["max_tokens"] = *m;
  }
  // Sampling fields, the Responses API's and (beyond it, as llama-server accepts them) the chat ones.
  for (const char* key :
       {"temperature", "top_p", "top_k", "min_p", "presence_penalty", "frequency_penalty",
        "repetition_penalty", "seed", "logit_bias", "stop", "parallel_tool_calls", "stream"})
    if (const ojson* v = field(b, key)) chat[key] = *v;
  return chat;
}

// A sampling float as the decimal it was written as (0.95f, not 0.949999988...).
double rounded(float x) {
  return std::stod(strfmt("%g", static_cast<double>(x)));
}

std::string status_of(FinishReason f) {
  switch (f) {
    case FinishReason::kStop:
      return "completed";
    case FinishReason::kLength:
      return "incomplete";
    default:
      return "failed";
  }
}

class ResponsesWriter : public ResponseWriter {
 public:
  ResponsesWriter(const ApiRequest& req, const ServedModel& served, ResponseStore& store, const ojson& body,
                  ojson conversation, bool summary_mode)
      : req_(req),
        served_(served),
        store_(store),
        hex_(random_hex()),
        id_("resp_" + hex_),
        created_(static_cast<int64_t>(std::time(nullptr))),
        body_(body),
        conversation_(std::move(conversation)),
        summary_mode_(summary_mode),
        store_it_(!body.contains("store") || body["store"] != false) {
    parser_ = make_output_parser(served, req.starts_in_thinking, "call_" + hex_.substr(0, 16) + "_");
  }

  std::string start() override {
    if (!req_.stream) return "";
    ojson r = response("in_progress");
    std::string out = event("response.created", {{"response", r}});
    return out + event("response.in_progress", {{"response", r}});
  }

  std::string on_token(int, int32_t id, std::string_view text, const TokenLogprob*) override {
    return feed(parser_->push(id, text));
  }

  std::string on_done(int, SequenceOutcome& outcome) override {
    outcome_ = std::move(outcome);
    std::string out = feed(parser_->finish());
    out += close_item();
    std::string status = status_of(outcome_.generation.finish);
    ojson r = response(status);
    if (store_it_ && status != "failed") save(r);
    if (!req_.stream) return dump(r);
    return out + event(status == "completed"    ? "response.completed"
                       : status == "incomplete" ? "response.incomplete"
                                                : "response.failed",
                       {{"response", r}});
  }

 private:
  enum class Kind { kNone, kReasoning, kMessage, kCall };

  std::string event(const std::string& name, const ojson& data) {
    if (!req_.stream) return "";
    ojson j = {{"type", name}, {"sequence_number", seq_++}};
    for (auto& [k, v] : data.items()) j[k] = v;
    return sse_event(name, j);
  }

  ojson ids(const ojson& item) const {
    return {{"item_id", item["id"]}, {"output_index", static_cast<int>(items_.size()) - 1}};
  }

  // The text of the open reasoning or message item, and its part's shape.
  ojson& text_part() {
    ojson& item = items_.back();
    if (kind_ == Kind::kMessage) return item["content"][0];
    return summary_mode_ ? item["summary"][0] : item["content"][0];
  }

  std::string open_item(Kind kind) {
    std::string out = close_item();
    kind_ = kind;
    ojson item;
    if (kind == Kind::kReasoning) {
      item = {{"id", "rs_" + random_hex()}, {"type", "reasoning"}, {"summary", ojson::array()}};
      if (!summary_mode_) item["content"] = ojson::array();
    } else if (kind == Kind::kMessage) {
      item = {{"id", "msg_" + random_hex()},
              {"type", "message"},
              {"status", "in_progress"},
              {"role", "assistant"},
              {"content", ojson::array()}};
    }
    items_.push_back(item);
    out += event("response.output_item.added", {{"output_index", items_.size() - 1}, {"item", item}});
    ojson& it = items_.back();
    if (kind == Kind::kMessage) {
      ojson part = {{"type", "output_text"},
                    {"text", ""},
                    {"annotations", ojson::array()},
                    {"logprobs", ojson::array()}};
      it["content"].push_back(part);
      ojson d = ids(it);
      d["content_index"] = 0, d["part"] = part;
      out += event("response.content_part.added", d);
    } else if (summary_mode_) {
      ojson part = {{"type", "summary_text"}, {"text", ""}};
      it["summary"].push_back(part);
      ojson d = ids(it);
      d["summary_index"] = 0, d["part"] = part;
      out += event("response.reasoning_summary_part.added", d);
    } else {
      ojson part = {{"type", "reasoning_text"}, {"text", ""}};
      it["content"].push_back(part);
      ojson d = ids(it);
      d["content_index"] = 0, d["part"] = part;
      out += event("response.content_part.added", d);
    }
    return out;
  }

  std::string append_text(Kind kind, const std::string& text) {
    std::string out;
    if (kind_ != kind) out += open_item(kind);
    ojson& part = text_part();
    part["text"] = part["text"].get<std::string>() + text;
    ojson d = ids(items_.back());
    if (kind == Kind::kMessage) {
      d["content_index"] = 0, d["delta"] = text, d["logprobs"] = ojson::array();
      out += event("response.output_text.delta", d);
    } else if (summary_mode_) {
      d["summary_index"] = 0, d["delta"] = text;
      out += event("response.reasoning_summary_text.delta", d);
    } else {
      d["content_index"] = 0, d["delta"] = text;
      out += event("response.reasoning_text.delta", d);
    }
    return out;
  }

  std::string close_item() {
    if (kind_ == Kind::kNone) return "";
    Kind kind = std::exchange(kind_, Kind::kNone);
    ojson& it = items_.back();
    std::string out;
    ojson d = ids(it);
    if (kind == Kind::kMessage) {
      ojson part = it["content"][0];
      d["content_index"] = 0;
      ojson t = d;
      t["text"] = part["text"], t["logprobs"] = ojson::array();
      out += event("response.output_text.done", t);
      d["part"] = part;
      out += event("response.content_part.done", d);
      it["status"] = "completed";
    } else if (kind == Kind::kReasoning && summary_mode_) {
      ojson part = it["summary"][0];
      d["summary_index"] = 0;
      ojson t = d;
      t["text"] = part["text"];
      out += event("response.reasoning_summary_text.done", t);
      d["part"] = part;
      out += event("response.reasoning_summary_part.done", d);
    } else if (kind == Kind::kReasoning) {
      ojson part = it["content"][0];
      d["content_index"] = 0;
      ojson t = d;
      t["text"] = part["text"];
      out += event("response.reasoning_text.done", t);
      d["part"] = part;
      out += event("response.content_part.done", d);
    } else {
      ojson t = d;
      t["arguments"] = it["arguments"];
      out += event("response.function_call_arguments.done", t);
      it["status"] = "completed";
    }
    out += event("response.output_item.done", {{"output_index", items_.size() - 1}, {"item", it}});
    return out;
  }

  std::string feed(const ParsedDelta& d) {
    std::string out;
    if (!d.reasoning.empty()) out += append_text(Kind::kReasoning, d.reasoning);
    if (!d.content.empty()) out += append_text(Kind::kMessage, d.content);
    for (const ToolCallDelta& t : d.tool_calls) {
      if (!req_.parallel_tool_calls && t.index > 0) continue;
      if (!t.id.empty()) {  // a new call
        out += close_item();
        kind_ = Kind::kCall;
        ojson item = {{"id", "fc_" + random_hex()},
                      {"type", "function_call"},
                      {"status", "in_progress"},
                      {"arguments", ""},
                      {"call_id", t.id},
                      {"name", t.name}};
        items_.push_back(item);
        out += event("response.output_item.added", {{"output_index", items_.size() - 1}, {"item", item}});
      }
      if (t.arguments.empty() || kind_ != Kind::kCall) continue;
      ojson& it = items_.back();
      it["arguments"] = it["arguments"].get<std::string>() + t.arguments;
      ojson e = ids(it);
      e["delta"] = t.arguments;
      out += event("response.function_call_arguments.delta", e);
    }
    return out;
  }

  ojson usage() const {
    int prompt = static_cast<int>(req_.prompt.size());
    int out = static_cast<int>(outcome_.generation.tokens.size());
    return {{"input_tokens", prompt},
            {"input_tokens_details", {{"cached_tokens", outcome_.generation.n_reused}}},
            {"output_tokens", out},
            {"output_tokens_details",
             {{"reasoning_tokens",
               reasoning_tokens(served_, outcome_.generation.tokens, req_.starts_in_thinking)}}},
            {"total_tokens", prompt + out}};
  }

  ojson response(const std::string& status) const {
    auto echo = [&](const char* key, ojson dflt) {
      auto it = body_.find(key);
      return it == body_.end() || it->is_null() ? dflt : *it;
    };
    ojson r = {{"id", id_},
               {"object", "response"},
               {"created_at", created_},
               {"status", status},
               {"background", false},
               {"error", nullptr},
               {"incomplete_details", nullptr},
               {"instructions", echo("instructions", nullptr)},
               {"max_output_tokens", echo("max_output_tokens", nullptr)},
               {"model", req_.lora ? req_.model : served_.id},
               {"output", items_},
               {"parallel_tool_calls", req_.parallel_tool_calls},
               {"previous_response_id", echo("previous_response_id", nullptr)},
               {"reasoning", echo("reasoning", ojson{{"effort", nullptr}, {"summary", nullptr}})},
               {"service_tier", "default"},
               {"store", store_it_},
               {"temperature", rounded(req_.chat_request.generation.sampling.temperature)},
               {"text", echo("text", ojson{{"format", {{"type", "text"}}}})},
               {"tool_choice", echo("tool_choice", "auto")},
               {"tools", echo("tools", ojson::array())},
               {"top_p", rounded(req_.chat_request.generation.sampling.top_p)},
               {"truncation", echo("truncation", "disabled")},
               {"usage", nullptr},
               {"user", echo("user", nullptr)},
               {"metadata", echo("metadata", ojson::object())}};
    if (status == "in_progress") return r;
    r["usage"] = usage();
    if (status == "incomplete") r["incomplete_details"] = {{"reason", "max_output_tokens"}};
    if (status == "failed")
      r["error"] = {{"code", "server_error"},
                    {"message", outcome_.error.empty() ? "generation was aborted" : outcome_.error}};
    return r;
  }

  void save(const ojson& r) {
    const ParsedOutput& o = parser_->result();
    ojson m = {{"role", "assistant"}, {"content", o.content}};
    if (!o.reasoning_content.empty()) m["reasoning_content"] = o.reasoning_content;
    for (const ToolCall& t : o.tool_calls) {
      m["tool_calls"].push_back(
          {{"id", t.id}, {"type", "function"}, {"function", {{"name", t.name}, {"arguments", t.arguments}}}});
      if (!req_.parallel_tool_calls) break;
    }
    conversation_.push_back(std::move(m));
    store_.put(id_, ResponseStore::Stored{r, std::move(conversation_), 0});
  }

  const ApiRequest& req_;
  const ServedModel& served_;
  ResponseStore& store_;
  std::string hex_, id_;
  int64_t created_;
  ojson body_, conversation_;
  bool summary_mode_, store_it_;
  std::unique_ptr<OutputParser> parser_;
  std::vector<ojson> items_;
  Kind kind_ = Kind::kNone;
  int64_t seq_ = 0;
  SequenceOutcome outcome_;
};

std::string id_from_path(const std::string& path) {
  std::string id = path.substr(std::string("/v1/responses/").size());
  if (id.empty() || id.find('/') != std::string::npos)
    throw ApiError{404, strfmt("Unknown request URL: %s", path.c_str()), "invalid_request_error", "",
                   "unknown_url"};
  return id;
}

}  // namespace

void ResponseStore::erase_locked(const std::string& id) {
  auto it = responses_.find(id);
  if (it == responses_.end()) return;
  for (const auto& item : it->second.response["output"]) items_.erase(item["id"].get<std::string>());
  bytes_ -= it->second.bytes;
  responses_.erase(it);
}

void ResponseStore::put(const std::string& id, Stored s) {
  s.bytes = dump(s.response).size() + dump(s.conversation).size();
  std::lock_guard lock(mu_);
  if (s.bytes > kMaxBytes) return;
  while (!order_.empty() && (responses_.size() >= kMaxResponses || bytes_ + s.bytes > kMaxBytes)) {
    erase_locked(order_.front());
    order_.pop_front();
  }
  for (const auto& item : s.response["output"]) items_[item["id"].get<std::string>()] = item;
  bytes_ += s.bytes;
  responses_[id] = std::move(s);
  order_.push_back(id);
}

std::optional<ResponseStore::Stored> ResponseStore::get(const std::string& id) const {
  std::lock_guard lock(mu_);
  auto it = responses_.find(id);
  if (it == responses_.end()) return std::nullopt;
  return it->second;
}

std::optional<ojson> ResponseStore::item(const std::string& item_id) const {
  std::lock_guard lock(mu_);
  auto it = items_.find(item_id);
  if (it == items_.end()) return std::nullopt;
  return it->second;
}

bool ResponseStore::erase(const std::string& id) {
  std::lock_guard lock(mu_);
  if (!responses_.count(id)) return false;
  erase_locked(id);
  order_.erase(std::find(order_.begin(), order_.end(), id));
  return true;
}

Prepared prepare_response(const std::string& body, const ServedModel& served, ResponseStore& store) {
  ojson b = parse_json_body(body);
  ojson conversation;
  bool summary_mode = false;
  ojson chat = translate(b, store, conversation, summary_mode);
  Prepared p;
  p.request = parse_translated(chat, served);
  p.writer =
      std::make_unique<ResponsesWriter>(*p.request, served, store, b, std::move(conversation), summary_mode);
  p.request->stream ? set_sse(p) : set_json(p);
  return p;
}

std::string stored_response(const std::string& path, ResponseStore& store) {
  std::string id = id_from_path(path);
  auto s = store.get(id);
  if (!s)
    throw ApiError{404, strfmt("Response with id '%s' not found.", id.c_str()), "invalid_request_error", "",
                   "not_found"};
  return dump(s->response);
}

std::string delete_response(const std::string& path, ResponseStore& store) {
  std::string id = id_from_path(path);
  if (!store.erase(id))
    throw ApiError{404, strfmt("Response with id '%s' not found.", id.c_str()), "invalid_request_error", "",
                   "not_found"};
  return dump(ojson{{"id", id}, {"object", "response"}, {"deleted", true}});
}

}  // namespace qwen3::server
