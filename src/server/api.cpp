#include "server/api.h"

#include <cmath>
#include <random>
#include <unordered_map>
#include <utility>

#include "core/error.h"
#include "core/json.h"
#include "server/frontend.h"
#include "server/structured.h"

namespace qwen3::server {

namespace {

// Nesting a request may use: messages → content parts, tools → JSON Schema parameters (deep schemas nest
// a few levels per property).
constexpr int kMaxBodyDepth = 128;

[[noreturn]] void bad(const std::string& param, const std::string& message, const std::string& code = "") {
  throw ApiError{400, message, "invalid_request_error", param, code};
}

const char* type_name(const ojson& v) {
  if (v.is_null()) return "null";
  if (v.is_boolean()) return "a boolean";
  if (v.is_number()) return "a number";
  if (v.is_string()) return "a string";
  if (v.is_array()) return "an array";
  return "an object";
}

// A finite number, within [lo, hi] when they are given (the sampling fields are judged afterwards, as the
// floats the sampler computes with, by check_sampling_params).
std::optional<double> number(const ojson& body, const char* key, double lo = -HUGE_VAL,
                             double hi = HUGE_VAL) {
  const ojson* v = field(body, key);
  if (!v) return std::nullopt;
  if (!v->is_number()) bad(key, strfmt("'%s' must be a number, got %s", key, type_name(*v)), "invalid_type");
  double x = v->get<double>();
  if (!std::isfinite(x)) bad(key, strfmt("'%s' must be a finite number", key));
  if (x < lo || x > hi) bad(key, strfmt("'%s' is %g: it must be in [%g, %g]", key, x, lo, hi));
  return x;
}

// A logit_bias key: a token id written as plain decimal digits (no sign, space or exponent), below n_vocab.
std::optional<int32_t> token_id_key(const std::string& key, int n_vocab) {
  if (key.empty() || key.size() > 9) return std::nullopt;  // 9 digits cannot overflow int32
  int32_t id = 0;
  for (char ch : key) {
    if (ch < '0' || ch > '9') return std::nullopt;
    id = id * 10 + (ch - '0');
  }
  if (id >= n_vocab) return std::nullopt;
  return id;
}

std::optional<int64_t> integer(const ojson& body, const char* key, int64_t lo, int64_t hi) {
  const ojson* v = field(body, key);
  if (!v) return std::nullopt;
  if (!v->is_number_integer())
    bad(key, strfmt("'%s' must be an integer, got %s", key, type_name(*v)), "invalid_type");
  // nlohmann stores non-negative integers as unsigned: compare in the type the value has.
  bool in_range = v->is_number_unsigned() ? v->get<uint64_t>() <= static_cast<uint64_t>(hi) &&
                                                (lo <= 0 || v->get<uint64_t>() >= static_cast<uint64_t>(lo))
                                          : v->get<int64_t>() >= lo && v->get<int64_t>() <= hi;
  if (!in_range)
    bad(key, strfmt("'%s' is %s: it must be in [%lld, %lld]", key, v->dump().c_str(),
                    static_cast<long long>(lo), static_cast<long long>(hi)));
  return v->is_number_unsigned() ? static_cast<int64_t>(v->get<uint64_t>()) : v->get<int64_t>();
}

std::optional<bool> boolean(const ojson& body, const char* key) {
  const ojson* v = field(body, key);
  if (!v) return std::nullopt;
  if (!v->is_boolean())
    bad(key, strfmt("'%s' must be a boolean, got %s", key, type_name(*v)), "invalid_type");
  return v->get<bool>();
}

// Bounded depth, linear time (core/json.h): a hostile body can neither overflow the stack nor take seconds.
ojson parse_body(const std::string& body) {
  ojson j;
  std::string error;
  if (!try_parse_json(body, j, &error, JsonLimits{kMaxBodyDepth}))
    bad("", strfmt("the request body is not valid JSON: %s", error.c_str()), "invalid_json");
  if (!j.is_object()) bad("", "the request body must be a JSON object");
  return j;
}

// Sampling and limits shared by both endpoints; defaults: generation_config.json in thinking mode, Qwen's
// non-thinking recommendations otherwise (as `qwen3 chat`), overridden by what the request gives.
void parse_generation(const ojson& b, const ServedModel& served, bool thinking, ApiRequest& r) {
  GenerationParams& p = r.chat_request.generation;
  SamplingParams& s = p.sampling;
  const GenerationConfig& g = served.model->generation;
  if (const ojson* m = field(b, "model")) {
    if (!m->is_string()) bad("model", "'model' must be a string", "invalid_type");
    r.model = m->get<std::string>();
  }
  if (thinking) {
    s.temperature = g.do_sample ? g.temperature : 0.0f;
    s.top_k = g.top_k;
    s.top_p = g.top_p;
    s.min_p = g.min_p;
    s.repetition_penalty = g.repetition_penalty;
  } else {
    s = qwen3_recommended(false);
  }
  // The ranges are the sampler's (check_sampling_params, below), judged on the float each value becomes:
  // 1e-320 passes (0, 1] as a double but is 0 as a float. Only temperature and logit_bias have narrower
  // ranges, OpenAI's. OpenAI documents [-2, 2] for presence/frequency_penalty; like llama.cpp, a wider range
  // is accepted (a large presence penalty makes every token appear at most once, which the tests use to force
  // token sequences with logit_bias).
  if (auto v = number(b, "temperature", 0, 2)) s.temperature = to_sampling_float(*v);
  if (auto v = number(b, "top_p")) s.top_p = to_sampling_float(*v);
  if (auto v = integer(b, "top_k", -1, 1 << 30)) s.top_k = static_cast<int>(*v);
  if (auto v = number(b, "min_p")) s.min_p = to_sampling_float(*v);
  if (auto v = number(b, "presence_penalty")) s.presence_penalty = to_sampling_float(*v);
  if (auto v = number(b, "frequency_penalty")) s.frequency_penalty = to_sampling_float(*v);
  if (auto v = number(b, "repetition_penalty")) s.repetition_penalty = to_sampling_float(*v);
  if (auto v = integer(b, "seed", INT64_MIN, INT64_MAX)) {
    s.seed = static_cast<uint64_t>(*v);
    r.seed_given = true;
  } else {
    s.seed = (static_cast<uint64_t>(std::random_device{}()) << 32) | std::random_device{}();
  }
  if (const ojson* lb = field(b, "logit_bias")) {
    if (!lb->is_object())
      bad("logit_bias", "'logit_bias' must be an object of token id → bias", "invalid_type");
    // Linear in the number of keys (a whole-vocabulary bias is 151,936 of them). An id given twice ("5" and
    // "05") keeps the last value.
    std::unordered_map<int32_t, size_t> index;  // id → its entry in s.logit_bias
    index.reserve(lb->size());
    s.logit_bias.reserve(lb->size());
    for (auto& [key, val] : lb->items()) {
      std::optional<int32_t> id = token_id_key(key, served.model->n_vocab_tokens);
      if (!id)
        bad("logit_bias", strfmt("logit_bias: '%s' is not a token id (decimal digits) below %d", key.c_str(),
                                 served.model->n_vocab_tokens));
      if (!val.is_number())
        bad("logit_bias",
            strfmt("logit_bias[%s]: the bias must be a number, got %s", key.c_str(), type_name(val)),
            "invalid_type");
      float bias = to_sampling_float(val.get<double>());
      if (!(bias >= -100 && bias <= 100))  // OpenAI's range (the sampler's is wider)
        bad("logit_bias", strfmt("logit_bias[%s] is %g: it must be in [-100, 100]", key.c_str(), bias));
      auto [it, added] = index.try_emplace(*id, s.logit_bias.size());
      if (added)
        s.logit_bias.emplace_back(*id, bias);
      else
        s.logit_bias[it->second].second = bias;
    }
  }
  // Every sampling value as the sampler will see it, by the sampler's own rules (defaults included: in
  // thinking mode they come from the model's generation_config.json).
  if (auto e = check_sampling_params(s, served.model->n_vocab_tokens)) bad(e->param, e->message);
  std::optional<int64_t> max_tokens = integer(b, "max_completion_tokens", 1, INT32_MAX);
  if (!max_tokens) max_tokens = integer(b, "max_tokens", 1, INT32_MAX);
  p.max_tokens = max_tokens ? static_cast<int>(*max_tokens) : -1;
  if (const ojson* stop = field(b, "stop")) {
    if (stop->is_string()) {
      p.stop.push_back(stop->get<std::string>());
    } else if (stop->is_array() && stop->size() <= 16) {
      for (auto& s1 : *stop) {
        if (!s1.is_string()) bad("stop", "'stop' must be a string or an array of strings", "invalid_type");
        p.stop.push_back(s1.get<std::string>());
      }
    } else {
      bad("stop", "'stop' must be a string or an array of at most 16 strings", "invalid_type");
    }
    for (auto& s1 : p.stop)
      if (s1.empty()) bad("stop", "stop strings must not be empty");
  }
  if (auto v = integer(b, "n", 1, 16)) r.n = static_cast<int>(*v);
  if (r.n > served.n_parallel)
    bad("n", strfmt("'n' is %d but the server runs at most %d sequences at once (--parallel)", r.n,
                    served.n_parallel));
  r.stream = boolean(b, "stream").value_or(false);
  if (const ojson* so = field(b, "stream_options")) {
    if (!so->is_object()) bad("stream_options", "'stream_options' must be an object", "invalid_type");
    r.include_usage = boolean(*so, "include_usage").value_or(false);
  }
}

void check_prompt(const ApiRequest& r, const ServedModel& served) {
  if (r.prompt.empty()) bad("messages", "the prompt is empty");
  if (static_cast<int>(r.prompt.size()) >= served.n_ctx)
    bad("messages",
        strfmt("This model's maximum context length is %d tokens. However, your messages resulted in %zu "
               "tokens.",
               served.n_ctx, r.prompt.size()),
        "context_length_exceeded");
}

// OpenAI content: a string, or an array of {"type":"text","text":...} parts (joined with newlines).
void normalise_content(ojson& msg, size_t i) {
  std::string param = strfmt("messages[%zu].content", i);
  auto it = msg.find("content");
  if (it == msg.end() ||
      it->is_null()) {  // an assistant message with tool_calls only: templates expect a string
    if (msg.contains("tool_calls")) msg["content"] = "";
    return;
  }
  if (it->is_string()) return;
  if (!it->is_array()) bad(param, param + " must be a string or an array of text parts", "invalid_type");
  std::string text;
  for (auto& part : *it) {
    if (!part.is_object() || part.value("type", "") != "text" || !part.contains("text") ||
        !part["text"].is_string())
      bad(param, param + ": only parts of type 'text' with a string 'text' are supported");
    if (!text.empty()) text += "\n";
    text += part["text"].get<std::string>();
  }
  *it = text;
}

}  // namespace

std::string dump(const ojson& j) {
  return j.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
}

std::string error_body(const ApiError& e) {
  ojson err = {{"message", e.message}, {"type", e.type}, {"param", nullptr}, {"code", nullptr}};
  if (!e.param.empty()) err["param"] = e.param;
  if (!e.code.empty()) err["code"] = e.code;
  return dump(ojson{{"error", err}});
}

ApiRequest parse_chat_request(const std::string& body, const ServedModel& served) {
  ojson b = parse_body(body);
  check_enum_fields(b);
  ApiRequest r;
  r.chat = true;
  ChatRequest& c = r.chat_request;
  const ojson* msgs = field(b, "messages");
  if (!msgs) bad("messages", "'messages' is required");
  if (!msgs->is_array() || msgs->empty())
    bad("messages", "'messages' must be a non-empty array", "invalid_type");
  c.messages = *msgs;
  for (size_t i = 0; i < c.messages.size(); ++i) {
    ojson& m = c.messages[i];
    if (!m.is_object()) bad(strfmt("messages[%zu]", i), "each message must be an object", "invalid_type");
    const ojson* role = field(m, "role");
    static const char* roles[] = {"system", "developer", "user", "assistant", "tool"};
    if (!role || !role->is_string() ||
        std::find(std::begin(roles), std::end(roles), role->get<std::string>()) == std::end(roles))
      bad(strfmt("messages[%zu].role", i), "role must be one of system, developer, user, assistant, tool");
    if (*role == "developer") m["role"] = "system";  // Qwen's template knows system
    normalise_content(m, i);
    if (!field(m, "content")) bad(strfmt("messages[%zu].content", i), "message content is required");
  }
  r.parallel_tool_calls = boolean(b, "parallel_tool_calls").value_or(true);
  if (const ojson* kw = field(b, "chat_template_kwargs")) {
    if (!kw->is_object())
      bad("chat_template_kwargs", "'chat_template_kwargs' must be an object", "invalid_type");
    if (auto t = boolean(*kw, "enable_thinking")) c.enable_thinking = *t;
  }
  if (const ojson* effort = field(b, "reasoning_effort")) {
    if (!effort->is_string()) bad("reasoning_effort", "'reasoning_effort' must be a string", "invalid_type");
    if (*effort == "none") c.enable_thinking = false;
  }
  // tools, tool_choice, response_format and the other structured-output fields (server/structured.h).
  parse_structured_output(b, served, true, thinking_mode(c), r);
  parse_generation(b, served, thinking_mode(c), r);
  std::string rendered;
  try {
    r.prompt = chat_prompt_tokens(*served.chat_template, *served.tokenizer, c, &rendered);
  } catch (const Error& e) {
    bad("messages", e.what());
  }
  r.starts_in_thinking = prompt_ends_in_thinking(rendered);
  c.generation.starts_in_thinking = r.starts_in_thinking;
  check_prompt(r, served);
  if (auto v = boolean(b, "logprobs"); v && *v) r.top_logprobs = 0;
  if (auto v = integer(b, "top_logprobs", 0, 20)) {
    if (r.top_logprobs < 0) bad("top_logprobs", "'top_logprobs' needs 'logprobs': true");
    r.top_logprobs = static_cast<int>(*v);
  }
  return r;
}

ApiRequest parse_completion_request(const std::string& body, const ServedModel& served) {
  ojson b = parse_body(body);
  ApiRequest r;
  r.chat = false;
  const ojson* prompt = field(b, "prompt");
  if (!prompt) bad("prompt", "'prompt' is required");
  const ojson* p = prompt;
  if (p->is_array() && p->size() == 1 && (*p)[0].is_string()) p = &(*p)[0];
  try {
    if (p->is_string()) {
      r.prompt = served.tokenizer->encode(p->get<std::string>());
    } else if (p->is_array() && !p->empty() && (*p)[0].is_number_integer()) {
      for (auto& id : *p) {
        if (!id.is_number_integer() || id.get<int64_t>() < 0 ||
            id.get<int64_t>() >= served.model->n_vocab_tokens)
          bad("prompt", strfmt("prompt token ids must be integers below %d", served.model->n_vocab_tokens));
        r.prompt.push_back(id.get<int32_t>());
      }
    } else {
      bad("prompt", "'prompt' must be a string, an array of one string, or an array of token ids",
          "invalid_type");
    }
  } catch (const Error& e) {
    bad("prompt", e.what());
  }
  parse_structured_output(b, served, false, false, r);
  parse_generation(b, served, false, r);
  if (r.chat_request.generation.max_tokens < 0 && !field(b, "max_tokens"))
    r.chat_request.generation.max_tokens = 16;
  check_prompt(r, served);
  if (auto v = integer(b, "logprobs", 0, 20)) r.top_logprobs = static_cast<int>(*v);
  r.echo = boolean(b, "echo").value_or(false);
  if (r.echo && r.top_logprobs >= 0)
    bad("echo", "'echo' together with 'logprobs' is not supported (prompt tokens are not scored)");
  return r;
}

// ---------------------------------------------------------------------------------------------------------------

ResponseBuilder::ResponseBuilder(const ApiRequest& request, const ServedModel& served, std::string id,
                                 int64_t created)
    : req_(request), served_(served), id_(std::move(id)), created_(created), choices_(request.n) {
  if (req_.chat) {
    for (size_t i = 0; i < choices_.size(); ++i)
      choices_[i].parser = make_output_parser(served, req_.starts_in_thinking,
                                              strfmt("call_%s_%zu_", id_.c_str() + id_.find('-') + 1, i));
  }
}

ojson ResponseBuilder::chunk(ojson choices) const {
  ojson j = {{"id", id_},
             {"object", req_.chat ? "chat.completion.chunk" : "text_completion"},
             {"created", created_},
             {"model", req_.lora ? req_.model : served_.id},
             {"system_fingerprint", "qwen3.cpp"},
             {"choices", std::move(choices)}};
  if (req_.include_usage) j["usage"] = nullptr;
  return j;
}

std::string ResponseBuilder::sse(const ojson& j) const {
  return "data: " + dump(j) + "\n\n";
}

ojson ResponseBuilder::logprobs_json(const std::vector<TokenLogprob>& lps) const {
  const Tokenizer& tok = *served_.tokenizer;
  auto text = [&](int32_t id) {
    std::string s;
    append_utf8_lossy(s, tok.token_bytes(id));
    return s;
  };
  auto bytes = [&](int32_t id) {
    ojson a = ojson::array();
    for (unsigned char ch : tok.token_bytes(id)) a.push_back(static_cast<int>(ch));
    return a;
  };
  if (req_.chat) {
    ojson content = ojson::array();
    for (const auto& lp : lps) {
      ojson top = ojson::array();
      for (auto& [id, l] : lp.top) top.push_back({{"token", text(id)}, {"logprob", l}, {"bytes", bytes(id)}});
      content.push_back(
          {{"token", text(lp.id)}, {"logprob", lp.logprob}, {"bytes", bytes(lp.id)}, {"top_logprobs", top}});
    }
    return {{"content", content}, {"refusal", nullptr}};
  }
  ojson tokens = ojson::array(), token_logprobs = ojson::array(), tops = ojson::array(),
        offsets = ojson::array();
  for (const auto& lp : lps) {
    tokens.push_back(text(lp.id));
    token_logprobs.push_back(lp.logprob);
    ojson top = ojson::object();
    for (auto& [id, l] : lp.top) top[text(id)] = l;
    tops.push_back(top);
    offsets.push_back(0);
  }
  return {{"tokens", tokens},
          {"token_logprobs", token_logprobs},
          {"top_logprobs", tops},
          {"text_offset", offsets}};
}

ojson ResponseBuilder::delta_choice(int index, const ParsedDelta& d, Choice& c) {
  ojson delta = ojson::object();
  if (!d.reasoning.empty()) delta["reasoning_content"] = d.reasoning;
  if (!d.content.empty()) delta["content"] = d.content;
  ojson calls = ojson::array();
  for (const auto& t : d.tool_calls) {
    if (!req_.parallel_tool_calls && t.index > 0) continue;
    ojson call = {{"index", t.index}};
    if (!t.id.empty()) call["id"] = t.id;
    if (!t.type.empty()) call["type"] = t.type;
    ojson fn = ojson::object();
    if (!t.name.empty()) fn["name"] = t.name;
    fn["arguments"] = t.arguments;
    call["function"] = fn;
    calls.push_back(call);
    c.n_tool_calls_streamed = std::max(c.n_tool_calls_streamed, t.index + 1);
  }
  if (!calls.empty()) delta["tool_calls"] = calls;
  ojson choice = {{"index", index}, {"delta", delta}, {"logprobs", nullptr}, {"finish_reason", nullptr}};
  if (req_.top_logprobs >= 0 && !c.pending_logprobs.empty()) {
    choice["logprobs"] = logprobs_json(c.pending_logprobs);
    c.pending_logprobs.clear();
  }
  return choice;
}

// One chunk for the text (and logprobs), then one per tool-call entry: OpenAI sends a call's head and each
// piece of its arguments as deltas of their own, and some clients (LlamaIndex) read only tool_calls[0].
std::string ResponseBuilder::delta_chunks(int index, const ParsedDelta& d, Choice& c) {
  ParsedDelta text = d;
  text.tool_calls.clear();
  std::string out;
  ojson choice = delta_choice(index, text, c);
  if (!choice["delta"].empty() || !choice["logprobs"].is_null()) out += sse(chunk(ojson::array({choice})));
  for (const auto& t : d.tool_calls) {
    ParsedDelta one;
    one.tool_calls.push_back(t);
    choice = delta_choice(index, one, c);
    if (!choice["delta"].empty()) out += sse(chunk(ojson::array({choice})));
  }
  return out;
}

std::string ResponseBuilder::echo_text() const {
  return req_.echo ? served_.tokenizer->decode(req_.prompt) : std::string();
}

std::string ResponseBuilder::start() {
  if (!req_.stream) return "";
  std::string out;
  for (int i = 0; i < req_.n; ++i) {
    if (req_.chat)
      out += sse(chunk(ojson::array({{{"index", i},
                                      {"delta", {{"role", "assistant"}, {"content", ""}}},
                                      {"logprobs", nullptr},
                                      {"finish_reason", nullptr}}})));
    else if (req_.echo)
      out += sse(chunk(ojson::array(
          {{{"index", i}, {"text", echo_text()}, {"logprobs", nullptr}, {"finish_reason", nullptr}}})));
  }
  return out;
}

std::string ResponseBuilder::on_token(int index, int32_t id, std::string_view text,
                                      const TokenLogprob* logprob) {
  Choice& c = choices_[index];
  if (logprob) c.pending_logprobs.push_back(*logprob);
  if (req_.chat) {
    ParsedDelta d = c.parser->push(id, text);
    if (!req_.stream || d.empty()) return "";
    return delta_chunks(index, d, c);
  }
  if (!req_.stream || (text.empty() && c.pending_logprobs.empty())) return "";
  ojson choice = {{"index", index}, {"text", text}, {"logprobs", nullptr}, {"finish_reason", nullptr}};
  if (req_.top_logprobs >= 0) {
    choice["logprobs"] = logprobs_json(c.pending_logprobs);
    c.pending_logprobs.clear();
  }
  return sse(chunk(ojson::array({choice})));
}

std::string ResponseBuilder::finish_reason(const Choice& c) const {
  switch (c.outcome.generation.finish) {
    case FinishReason::kLength:
      return "length";
    case FinishReason::kCancelled:  // the client left (nobody reads this)
    case FinishReason::kAborted:    // the server ended it: shutdown, a failed forward pass
    case FinishReason::kError:      // answered as an error instead (error_json), never as a choice
      return "abort";
    case FinishReason::kStop:
      break;
  }
  if (req_.chat && !c.parser->result().tool_calls.empty()) return "tool_calls";
  return "stop";
}

// A choice that failed alone (FinishReason::kError), in OpenAI's error shape.
std::string ResponseBuilder::error_json(int index, const Choice& c) const {
  std::string message = c.outcome.error.empty() ? "generation failed" : c.outcome.error;
  if (req_.n > 1) message = strfmt("choice %d: %s", index, message.c_str());
  return error_body(ApiError{500, message, "server_error", "", "generation_failed"});
}

ojson ResponseBuilder::usage() const {
  int completion = 0, reasoning = 0;
  const Tokenizer& tok = *served_.tokenizer;
  for (const auto& c : choices_) {
    completion += static_cast<int>(c.outcome.generation.tokens.size());
    if (req_.chat)
      reasoning += count_reasoning_tokens(c.outcome.generation.tokens, req_.starts_in_thinking,
                                          tok.token_to_id("<think>").value_or(-2),
                                          tok.token_to_id("</think>").value_or(-2));
  }
  int prompt = static_cast<int>(req_.prompt.size());
  int cached = choices_.empty() ? 0 : choices_[0].outcome.generation.n_reused;
  return {{"prompt_tokens", prompt},
          {"completion_tokens", completion},
          {"total_tokens", prompt + completion},
          {"prompt_tokens_details", {{"cached_tokens", cached}}},
          {"completion_tokens_details", {{"reasoning_tokens", reasoning}}}};
}

// llama.cpp's `timings` object (its web page and clients read it): prompt tokens computed now and the time
// they took from admission, generated tokens and the time from the end of the prompt to the last one. With
// n > 1 the choices run side by side: tokens add up, the times are the longest.
ojson ResponseBuilder::timings() const {
  int prompt_n = 0, cache_n = 0, predicted_n = 0;
  double prompt_s = 0, predicted_s = 0;
  for (const auto& c : choices_) {
    const GenerationResult& g = c.outcome.generation;
    prompt_n = std::max(prompt_n, g.n_prefilled);
    cache_n = std::max(cache_n, g.n_reused);
    prompt_s = std::max(prompt_s, g.prompt_seconds);
    predicted_n += static_cast<int>(g.tokens.size());
    predicted_s = std::max(predicted_s, g.decode_seconds);
  }
  auto per_second = [](int n, double s) { return s > 0 ? n / s : 0.0; };
  return {{"cache_n", cache_n},
          {"prompt_n", prompt_n},
          {"prompt_ms", prompt_s * 1e3},
          {"prompt_per_second", per_second(prompt_n, prompt_s)},
          {"predicted_n", predicted_n},
          {"predicted_ms", predicted_s * 1e3},
          {"predicted_per_second", per_second(predicted_n, predicted_s)}};
}

// The per-choice chunks wait in held_ until every choice is done: a non-empty return ends the response (the
// server closes the stream), which would cut off choices still generating.
std::string ResponseBuilder::on_done(int index, SequenceOutcome& outcome) {
  Choice& c = choices_[index];
  c.outcome = std::move(outcome);
  c.done = true;
  std::string& out = held_;
  if (req_.stream && c.outcome.generation.finish == FinishReason::kError) {
    // The text streamed so far stays; the failure is an error event (the openai clients raise it).
    if (req_.chat) c.parser->finish();
    out += "data: " + error_json(index, c) + "\n\n";
  } else if (req_.stream) {
    ojson choice;
    if (req_.chat) {
      ParsedDelta d = c.parser->finish();
      out += delta_chunks(index, d, c);
      choice = {{"index", index}, {"delta", ojson::object()}, {"logprobs", nullptr}};
    } else {
      choice = {{"index", index}, {"text", ""}, {"logprobs", nullptr}};
      if (req_.top_logprobs >= 0 && !c.pending_logprobs.empty()) {
        choice["logprobs"] = logprobs_json(c.pending_logprobs);
        c.pending_logprobs.clear();
      }
    }
    choice["finish_reason"] = finish_reason(c);
    out += sse(chunk(ojson::array({choice})));
  } else if (req_.chat) {
    c.parser->finish();
  }
  if (++n_done_ < req_.n) return "";
  if (!req_.stream) return final_body();
  if (req_.include_usage) {
    ojson j = chunk(ojson::array());
    j["usage"] = usage();
    j["timings"] = timings();
    out += sse(j);
  }
  return std::exchange(held_, "") + "data: [DONE]\n\n";
}

// The whole non-streamed body. The HTTP status (200) is already sent by now (leading whitespace keeps the
// connection alive while the answer is computed), so a choice that failed makes the body an error object.
std::string ResponseBuilder::final_body() {
  for (int i = 0; i < req_.n; ++i)
    if (choices_[i].outcome.generation.finish == FinishReason::kError) return error_json(i, choices_[i]);
  ojson choices = ojson::array();
  for (int i = 0; i < req_.n; ++i) {
    Choice& c = choices_[i];
    ojson lp = nullptr;
    if (req_.top_logprobs >= 0) lp = logprobs_json(c.outcome.logprobs);
    if (req_.chat) {
      const ParsedOutput& o = c.parser->result();
      ojson msg = {{"role", "assistant"}, {"content", nullptr}};
      if (!o.content.empty() || o.tool_calls.empty()) msg["content"] = o.content;
      if (!o.reasoning_content.empty()) msg["reasoning_content"] = o.reasoning_content;
      if (!o.tool_calls.empty()) {
        ojson calls = ojson::array();
        for (const auto& t : o.tool_calls) {
          calls.push_back({{"id", t.id},
                           {"type", "function"},
                           {"function", {{"name", t.name}, {"arguments", t.arguments}}}});
          if (!req_.parallel_tool_calls) break;
        }
        msg["tool_calls"] = calls;
      }
      choices.push_back(
          {{"index", i}, {"message", msg}, {"logprobs", lp}, {"finish_reason", finish_reason(c)}});
    } else {
      choices.push_back({{"index", i},
                         {"text", echo_text() + c.outcome.generation.text},
                         {"logprobs", lp},
                         {"finish_reason", finish_reason(c)}});
    }
  }
  ojson j = {{"id", id_},
             {"object", req_.chat ? "chat.completion" : "text_completion"},
             {"created", created_},
             {"model", req_.lora ? req_.model : served_.id},
             {"system_fingerprint", "qwen3.cpp"},
             {"choices", choices},
             {"usage", usage()},
             {"timings", timings()}};
  return dump(j);
}

}  // namespace qwen3::server
