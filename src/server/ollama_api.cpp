// Ollama's API (github.com/ollama/ollama docs/api.md): requests become chat-completions bodies (options →
// sampling fields), answers are Ollama's objects, one JSON line per piece when streaming (the default).
// Tool calls go out whole, when their block closes (Ollama's arguments are an object, not streamed text).
#include "server/ollama_api.h"

#include <cctype>
#include <chrono>
#include <ctime>

#include "core/error.h"
#include "core/json.h"
#include "server/adapters.h"

namespace qwen3::server {

namespace {

// The Ollama API version reported by /api/version (clients check it against features they need).
constexpr const char* kOllamaVersion = "0.12.0";

[[noreturn]] void bad(const std::string& message) {
  throw ApiError{400, message, "invalid_request_error", "", ""};
}

// RFC 3339 with nanoseconds, UTC, as Ollama writes created_at.
std::string now_rfc3339() {
  auto now = std::chrono::system_clock::now();
  std::time_t t = std::chrono::system_clock::to_time_t(now);
  long ns = static_cast<long>(
      std::chrono::duration_cast<std::chrono::nanoseconds>(now.time_since_epoch()).count() % 1000000000);
  std::tm tm{};
  gmtime_r(&t, &tm);
  char buf[64];
  std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%S", &tm);
  return strfmt("%s.%09ldZ", buf, ns);
}

// model, options, think, format and stream of a chat or generate body, onto a chat-completions body.
void translate_common(const ojson& b, ojson& chat, bool& has_num_predict) {
  // The model picks a LoRA adapter by its name; Ollama's clients may add the default tag (NAME:latest).
  if (const ojson* m = field(b, "model"); m && m->is_string()) {
    std::string name = m->get<std::string>();
    if (name.size() > 7 && name.ends_with(":latest")) name.resize(name.size() - 7);
    chat["model"] = name;
  }
  chat["stream"] = true;  // Ollama streams unless told not to
  if (const ojson* s = field(b, "stream")) {
    if (!s->is_boolean()) bad("'stream' must be a boolean");
    chat["stream"] = *s;
  }
  if (const ojson* t = field(b, "think")) {
    if (t->is_boolean())
      chat["chat_template_kwargs"] = {{"enable_thinking", *t}};
    else if (*t == "low" || *t == "medium" || *t == "high")
      chat["chat_template_kwargs"] = {{"enable_thinking", true}};
    else
      bad("'think' must be true, false, \"low\", \"medium\" or \"high\"");
  }
  if (const ojson* f = field(b, "format")) {
    if (*f == "json")
      chat["response_format"] = {{"type", "json_object"}};
    else if (f->is_object())
      chat["response_format"] = {{"type", "json_schema"},
                                 {"json_schema", {{"name", "format"}, {"schema", *f}}}};
    else if (!(f->is_string() && f->get<std::string>().empty()))
      bad("invalid format: expected \"json\" or a JSON schema");
  }
  if (const ojson* images = field(b, "images"); images && !images->empty())
    bad("images are not supported: the served model reads text only");
  has_num_predict = false;
  const ojson* o = field(b, "options");
  if (!o) return;
  if (!o->is_object()) bad("'options' must be an object");
  // Ollama's option names → the chat fields; logit_bias is a qwen3 extension (tests force outputs with it).
  static const std::pair<const char*, const char*> same[] = {{"temperature", "temperature"},
                                                             {"top_p", "top_p"},
                                                             {"top_k", "top_k"},
                                                             {"min_p", "min_p"},
                                                             {"seed", "seed"},
                                                             {"stop", "stop"},
                                                             {"repeat_penalty", "repetition_penalty"},
                                                             {"presence_penalty", "presence_penalty"},
                                                             {"frequency_penalty", "frequency_penalty"},
                                                             {"logit_bias", "logit_bias"}};
  for (auto [from, to] : same)
    if (const ojson* v = field(*o, from)) chat[to] = *v;
  if (const ojson* n = field(*o, "num_predict")) {
    if (!n->is_number_integer()) bad("option num_predict must be an integer");
    // -1: until the context is full, -2: fill the context (both: no limit here).
    if (n->get<int64_t>() >= 1)
      chat["max_tokens"] = *n, has_num_predict = true;
    else if (n->get<int64_t>() == 0)
      bad("option num_predict must not be 0");
  }
  // num_ctx, num_batch, num_thread, num_gpu, keep_alive...: the server's own settings (--ctx, -t) hold.
}

ojson details(const ServedModel& served) {
  const Model& m = *served.model;
  const ModelConfig& c = m.config;
  // Parameters from the shapes: embeddings (and an untied head), attention and MLP matrices per layer.
  double h = c.hidden_size, qd = double(c.num_attention_heads) * c.head_dim,
         kvd = double(c.num_key_value_heads) * c.head_dim;
  double params = double(c.vocab_size) * h * (c.tie_word_embeddings ? 1 : 2) +
                  double(c.num_hidden_layers) * (2 * h * qd + 2 * h * kvd + 3 * h * c.intermediate_size);
  std::string dt = dtype_name(m.matrix_dtype());
  for (char& ch : dt) ch = static_cast<char>(std::toupper(static_cast<unsigned char>(ch)));
  return {{"parent_model", ""},
          {"format", m.dir.size() > 5 && m.dir.substr(m.dir.size() - 5) == ".gguf" ? "gguf" : "safetensors"},
          {"family", "qwen3"},
          {"families", ojson::array({"qwen3"})},
          {"parameter_size", params >= 1e9 ? strfmt("%.1fB", params / 1e9) : strfmt("%.0fM", params / 1e6)},
          {"quantization_level", dt}};
}

class OllamaWriter : public ResponseWriter {
 public:
  OllamaWriter(const ApiRequest& req, const ServedModel& served, std::string model, bool chat)
      : req_(req),
        served_(served),
        model_(std::move(model)),
        chat_(chat),
        t0_(std::chrono::steady_clock::now()) {
    if (req.chat) parser_ = make_output_parser(served, req.starts_in_thinking, "call_" + random_hex() + "_");
  }
  std::string start() override { return ""; }

  std::string on_token(int, int32_t id, std::string_view text, const TokenLogprob*) override {
    std::string thinking, content;
    ojson calls = ojson::array();
    if (parser_) {
      size_t n_calls = parser_->result().tool_calls.size();
      ParsedDelta d = parser_->push(id, text);
      thinking = d.reasoning, content = d.content;
      calls = new_calls(n_calls);
    } else {
      content = text;
    }
    if (!req_.stream || (thinking.empty() && content.empty() && calls.empty())) return "";
    return dump(piece(thinking, content, calls, false)) + "\n";
  }

  std::string on_done(int, SequenceOutcome& outcome) override {
    std::string thinking, content;
    ojson calls = ojson::array();
    if (parser_) {
      size_t n_calls = parser_->result().tool_calls.size();
      ParsedDelta d = parser_->finish();
      thinking = d.reasoning, content = d.content;
      calls = new_calls(n_calls);
    }
    if (outcome.generation.finish == FinishReason::kError ||
        outcome.generation.finish == FinishReason::kAborted)
      return dump(ojson{{"error", outcome.error.empty() ? "generation was aborted" : outcome.error}}) + "\n";
    if (!req_.stream) {
      if (parser_) {
        const ParsedOutput& o = parser_->result();
        thinking = o.reasoning_content, content = o.content;
        calls = new_calls(0);
      } else {
        content = outcome.generation.text;
      }
    }
    ojson j = piece(thinking, content, calls, true);
    j["done_reason"] = outcome.generation.finish == FinishReason::kLength ? "length" : "stop";
    double total = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0_).count();
    double first = std::max(outcome.first_token_seconds, outcome.queue_seconds);
    auto ns = [](double s) { return static_cast<int64_t>(std::max(0.0, s) * 1e9); };
    j["total_duration"] = ns(total);
    j["load_duration"] = 0;
    j["prompt_eval_count"] = static_cast<int>(req_.prompt.size());
    j["prompt_eval_duration"] = ns(first - outcome.queue_seconds);
    j["eval_count"] = static_cast<int>(outcome.generation.tokens.size());
    j["eval_duration"] = ns(total - first);
    if (!chat_) {
      ojson ctx = ojson::array();
      for (int32_t t : req_.prompt) ctx.push_back(t);
      for (int32_t t : outcome.generation.tokens) ctx.push_back(t);
      j["context"] = ctx;
    }
    return dump(j) + (req_.stream ? "\n" : "");
  }

 private:
  // Calls completed since there were n_before: Ollama's shape, arguments as an object.
  ojson new_calls(size_t n_before) const {
    ojson calls = ojson::array();
    const auto& all = parser_->result().tool_calls;
    for (size_t k = n_before; k < all.size(); ++k) {
      if (!req_.parallel_tool_calls && k > 0) break;
      ojson args;
      if (!try_parse_json(all[k].arguments, args, nullptr, JsonLimits{64}) || !args.is_object())
        args = ojson::object();  // arguments the model left broken (reported by the parser)
      calls.push_back(
          {{"id", all[k].id},
           {"function", {{"index", static_cast<int>(k)}, {"name", all[k].name}, {"arguments", args}}}});
    }
    return calls;
  }

  ojson piece(const std::string& thinking, const std::string& content, const ojson& calls, bool done) const {
    ojson j = {{"model", model_}, {"created_at", now_rfc3339()}};
    if (chat_) {
      ojson msg = {{"role", "assistant"}, {"content", content}};
      if (!thinking.empty()) msg["thinking"] = thinking;
      if (!calls.empty()) msg["tool_calls"] = calls;
      j["message"] = msg;
    } else {
      j["response"] = content;
      if (!thinking.empty()) j["thinking"] = thinking;
    }
    j["done"] = done;
    return j;
  }

  const ApiRequest& req_;
  const ServedModel& served_;
  std::string model_;
  bool chat_;
  std::chrono::steady_clock::time_point t0_;
  std::unique_ptr<OutputParser> parser_;
};

std::string model_name(const ojson& b, const ServedModel& served) {
  const ojson* m = field(b, "model");
  if (!m) return served.id;
  if (!m->is_string()) bad("'model' must be a string");
  return m->get<std::string>();
}

Prepared finish_prepare(std::unique_ptr<ApiRequest> r, const ServedModel& served, std::string model,
                        bool chat, bool has_num_predict) {
  if (!has_num_predict) r->chat_request.generation.max_tokens = -1;
  Prepared p;
  p.request = std::move(r);
  p.writer = std::make_unique<OllamaWriter>(*p.request, served, std::move(model), chat);
  p.request->stream ? set_ndjson(p) : set_json(p);
  return p;
}

}  // namespace

Prepared prepare_ollama_chat(const std::string& body, const ServedModel& served) {
  ojson b = parse_json_body(body);
  ojson chat = ojson::object();
  bool has_num_predict = false;
  translate_common(b, chat, has_num_predict);
  const ojson* msgs = field(b, "messages");
  if (!msgs || !msgs->is_array() || msgs->empty()) bad("'messages' must be a non-empty array");
  ojson messages = ojson::array();
  for (size_t i = 0; i < msgs->size(); ++i) {
    const ojson& m = (*msgs)[i];
    if (!m.is_object() || !m.contains("role") || !m["role"].is_string())
      bad(strfmt("messages[%zu] must be an object with a 'role'", i));
    if (const ojson* images = field(m, "images"); images && !images->empty())
      bad("images are not supported: the served model reads text only");
    ojson out = {{"role", m["role"]}, {"content", m.contains("content") ? m["content"] : ojson("")}};
    if (const ojson* t = field(m, "thinking")) out["reasoning_content"] = *t;
    if (const ojson* calls = field(m, "tool_calls")) {
      if (!calls->is_array()) bad(strfmt("messages[%zu].tool_calls must be an array", i));
      out["tool_calls"] = ojson::array();
      for (size_t k = 0; k < calls->size(); ++k) {
        const ojson& c = (*calls)[k];
        if (!c.is_object() || !c.contains("function") || !c["function"].is_object() ||
            !c["function"].contains("name"))
          bad(strfmt("messages[%zu].tool_calls[%zu] must be {\"function\": {\"name\", \"arguments\"}}", i,
                     k));
        ojson fn = {{"name", c["function"]["name"]},
                    {"arguments",
                     c["function"].contains("arguments") ? c["function"]["arguments"] : ojson::object()}};
        out["tool_calls"].push_back(
            {{"id", c.value("id", strfmt("call_%zu", k))}, {"type", "function"}, {"function", fn}});
      }
    }
    messages.push_back(std::move(out));
  }
  chat["messages"] = std::move(messages);
  if (const ojson* tools = field(b, "tools")) chat["tools"] = *tools;
  std::string model = model_name(b, served);
  return finish_prepare(parse_translated(chat, served), served, model, true, has_num_predict);
}

Prepared prepare_ollama_generate(const std::string& body, const ServedModel& served) {
  ojson b = parse_json_body(body);
  std::string model = model_name(b, served);
  const ojson* prompt = field(b, "prompt");
  if (prompt && !prompt->is_string()) bad("'prompt' must be a string");
  for (const char* unsupported : {"suffix", "template", "context"})
    if (const ojson* v = field(b, unsupported);
        v && !(v->is_string() && v->get<std::string>().empty()) && !(v->is_array() && v->empty()))
      bad(strfmt("'%s' is not supported by qwen3 serve (the model's own chat template is used)",
                 unsupported));
  if (!prompt || prompt->get<std::string>().empty()) {  // Ollama's "load the model" request
    Prepared p;
    p.immediate = dump(ojson{{"model", model},
                             {"created_at", now_rfc3339()},
                             {"response", ""},
                             {"done", true},
                             {"done_reason", "load"}});
    return p;
  }
  ojson chat = ojson::object();
  bool has_num_predict = false;
  translate_common(b, chat, has_num_predict);
  const ojson* raw = field(b, "raw");
  if (raw && !raw->is_boolean()) bad("'raw' must be a boolean");
  if (raw && *raw == true) {  // the prompt as it is, no template: a text completion
    chat["prompt"] = *prompt;
    chat.erase("chat_template_kwargs");
    chat.erase("response_format");
    auto r = std::make_unique<ApiRequest>(parse_completion_request(dump(chat), served));
    return finish_prepare(std::move(r), served, model, false, has_num_predict);
  }
  ojson messages = ojson::array();
  if (const ojson* sys = field(b, "system")) messages.push_back({{"role", "system"}, {"content", *sys}});
  messages.push_back({{"role", "user"}, {"content", *prompt}});
  chat["messages"] = std::move(messages);
  return finish_prepare(parse_translated(chat, served), served, model, false, has_num_predict);
}

// The served model's id, then each LoRA adapter's name (server/adapters.h).
static std::vector<std::string> model_names(const ServedModel& served) {
  std::vector<std::string> names = {served.id};
  if (served.adapters)
    for (const ojson& o : served.adapters->model_objects(served.id, 0))
      names.push_back(o["id"].get<std::string>());
  return names;
}

std::string ollama_tags(const ServedModel& served) {
  ojson models = ojson::array();
  for (const std::string& name : model_names(served))
    models.push_back({{"name", name},
                      {"model", name},
                      {"modified_at", now_rfc3339()},
                      {"size", served.model->weight_bytes()},
                      {"digest", ""},
                      {"details", details(served)}});
  return dump(ojson{{"models", models}});
}

std::string ollama_show(const std::string& body, const ServedModel& served) {
  ojson b = parse_json_body(body);
  const ojson* name = field(b, "model");
  if (!name) name = field(b, "name");
  if (!name || !name->is_string() || name->get<std::string>().empty()) bad("'model' is required");
  const ModelConfig& c = served.model->config;
  ojson info = {{"general.architecture", "qwen3"},
                {"general.basename", served.id},
                {"qwen3.context_length", served.n_ctx},
                {"qwen3.embedding_length", c.hidden_size},
                {"qwen3.block_count", c.num_hidden_layers},
                {"qwen3.attention.head_count", c.num_attention_heads},
                {"qwen3.attention.head_count_kv", c.num_key_value_heads},
                {"qwen3.feed_forward_length", c.intermediate_size}};
  return dump(ojson{{"modelfile", ""},
                    {"parameters", ""},
                    {"template", served.chat_template ? served.chat_template->source() : ""},
                    {"details", details(served)},
                    {"model_info", info},
                    {"capabilities", ojson::array({"completion", "tools", "thinking"})},
                    {"modified_at", now_rfc3339()}});
}

std::string ollama_ps(const ServedModel& served) {
  ojson models = ojson::array();
  for (const std::string& name : model_names(served))
    models.push_back({{"name", name},
                      {"model", name},
                      {"size", served.model->weight_bytes()},
                      {"digest", ""},
                      {"details", details(served)},
                      {"expires_at", "2318-01-01T00:00:00Z"},  // loaded for the server's lifetime
                      {"size_vram", 0},
                      {"context_length", served.n_ctx}});
  return dump(ojson{{"models", models}});
}

std::string ollama_version() {
  return dump(ojson{{"version", kOllamaVersion}});
}

}  // namespace qwen3::server
