#include "server/frontend.h"

#include <algorithm>
#include <mutex>
#include <random>

#include "core/error.h"
#include "core/json.h"

namespace qwen3::server {

ErrorShape error_shape_for(const std::string& path) {
  if (path.rfind("/api/", 0) == 0) return ErrorShape::kOllama;
  if (path == "/v1/messages" || path.rfind("/v1/messages/", 0) == 0) return ErrorShape::kAnthropic;
  return ErrorShape::kOpenAI;
}

namespace {

// Anthropic's error types by status (docs.anthropic.com, "Errors").
const char* anthropic_type(int status) {
  switch (status) {
    case 401:
      return "authentication_error";
    case 403:
      return "permission_error";
    case 404:
      return "not_found_error";
    case 413:
      return "request_too_large";
    case 429:
      return "rate_limit_error";
    case 503:
    case 529:
      return "overloaded_error";
    default:
      return status >= 500 ? "api_error" : "invalid_request_error";
  }
}

}  // namespace

std::string error_body(const ApiError& e, ErrorShape shape) {
  switch (shape) {
    case ErrorShape::kOllama:
      return dump(ojson{{"error", e.message}});
    case ErrorShape::kAnthropic:
      return dump(
          ojson{{"type", "error"}, {"error", {{"type", anthropic_type(e.status)}, {"message", e.message}}}});
    case ErrorShape::kOpenAI:
      break;
  }
  return error_body(e);
}

std::optional<ApiError> unsupported_route(const std::string& path) {
  auto starts = [&](const char* p) { return path.rfind(p, 0) == 0; };
  auto error = [](std::string message) {
    return ApiError{501, std::move(message), "not_supported_error", "", "not_implemented"};
  };
  if (path == "/v1/embeddings" || path == "/api/embed" || path == "/api/embeddings")
    return error(
        "Embeddings are not supported: qwen3 serve serves a generative Qwen3 model, not an embedding "
        "model.");
  if (starts("/v1/audio/") || starts("/v1/images/") || path == "/v1/moderations")
    return error(strfmt("%s is not supported: qwen3 serve serves a text-only Qwen3 model.", path.c_str()));
  for (const char* p : {"/v1/files", "/v1/batches", "/v1/fine_tuning", "/v1/assistants", "/v1/threads",
                        "/v1/vector_stores", "/v1/uploads", "/v1/realtime", "/v1/containers", "/v1/evals",
                        "/v1/conversations", "/v1/chat/completions/"})
    if (path == p || starts((std::string(p) + "/").c_str()) || (p[std::strlen(p) - 1] == '/' && starts(p)))
      return error(
          strfmt("%s is not supported: qwen3 serve implements chat completions, completions, the "
                 "Responses API and the model list.",
                 path.c_str()));
  for (const char* p : {"/api/pull", "/api/push", "/api/create", "/api/copy", "/api/delete", "/api/blobs"})
    if (path == p || starts((std::string(p) + "/").c_str()))
      return error(strfmt("%s is not supported: qwen3 serve serves the one model it was started with (-m).",
                          path.c_str()));
  return std::nullopt;
}

namespace {

void check_enum(const ojson& obj, const char* key, std::initializer_list<const char*> allowed,
                const std::string& param) {
  auto it = obj.find(key);
  if (it == obj.end() || it->is_null()) return;
  std::string list;
  for (const char* a : allowed) list += (list.empty() ? "" : ", ") + std::string(a);
  if (!it->is_string() ||
      std::none_of(allowed.begin(), allowed.end(), [&](const char* a) { return *it == a; }))
    throw ApiError{400,
                   strfmt("Invalid value for '%s': %s. Supported values are: %s.", param.c_str(),
                          it->dump().c_str(), list.c_str()),
                   "invalid_request_error", param, "invalid_value"};
}

}  // namespace

void check_enum_fields(const ojson& b) {
  check_enum(b, "reasoning_effort", {"none", "minimal", "low", "medium", "high"}, "reasoning_effort");
  check_enum(b, "service_tier", {"auto", "default", "flex", "scale", "priority"}, "service_tier");
  check_enum(b, "verbosity", {"low", "medium", "high"}, "verbosity");
  if (auto rf = b.find("response_format"); rf != b.end() && !rf->is_null()) {
    if (!rf->is_object() || !rf->contains("type"))
      throw ApiError{400, "'response_format' must be an object with a 'type'", "invalid_request_error",
                     "response_format", "invalid_type"};
    check_enum(*rf, "type", {"text", "json_object", "json_schema"}, "response_format.type");
  }
  if (auto pr = b.find("prediction"); pr != b.end() && !pr->is_null()) {
    if (!pr->is_object())
      throw ApiError{400, "'prediction' must be an object", "invalid_request_error", "prediction",
                     "invalid_type"};
    check_enum(*pr, "type", {"content"}, "prediction.type");
  }
  if (auto m = b.find("modalities"); m != b.end() && !m->is_null()) {
    if (!m->is_array())
      throw ApiError{400, "'modalities' must be an array", "invalid_request_error", "modalities",
                     "invalid_type"};
    for (const auto& v : *m) {
      if (v == "text") continue;
      if (v == "audio")
        throw ApiError{400, "Audio output is not supported: this model generates text only.",
                       "invalid_request_error", "modalities", "unsupported_value"};
      throw ApiError{
          400,
          strfmt("Invalid value in 'modalities': %s. Supported values are: text, audio.", v.dump().c_str()),
          "invalid_request_error", "modalities", "invalid_value"};
    }
  }
}

void set_sse(Prepared& p) {
  p.content_type = "text/event-stream";
  p.keepalive = ": keep-alive\n\n";
}
void set_ndjson(Prepared& p) {
  p.content_type = "application/x-ndjson";
  p.keepalive = " ";  // leading whitespace of the next line
}
void set_json(Prepared& p) {
  p.content_type = "application/json";
  p.keepalive = " ";
}

std::unique_ptr<OutputParser> make_output_parser(const ServedModel& served, bool starts_in_thinking,
                                                 const std::string& call_id_prefix) {
  const Tokenizer& tok = *served.tokenizer;
  OutputParser::SpecialIds ids;
  ids.think_open = tok.token_to_id("<think>").value_or(ids.think_open);
  ids.think_close = tok.token_to_id("</think>").value_or(ids.think_close);
  ids.tool_call_open = tok.token_to_id("<tool_call>").value_or(ids.tool_call_open);
  ids.tool_call_close = tok.token_to_id("</tool_call>").value_or(ids.tool_call_close);
  return std::make_unique<OutputParser>(ids, starts_in_thinking, call_id_prefix, true);
}

int reasoning_tokens(const ServedModel& served, const std::vector<int32_t>& tokens, bool starts_in_thinking) {
  const Tokenizer& tok = *served.tokenizer;
  return count_reasoning_tokens(tokens, starts_in_thinking, tok.token_to_id("<think>").value_or(-2),
                                tok.token_to_id("</think>").value_or(-2));
}

std::string sse_event(const std::string& name, const ojson& data) {
  return "event: " + name + "\ndata: " + dump(data) + "\n\n";
}

std::string random_hex() {
  static std::mutex mu;
  static std::mt19937_64 rng(std::random_device{}());
  std::lock_guard lock(mu);
  uint64_t a = rng(), b = rng();
  return strfmt("%016llx%08llx", static_cast<unsigned long long>(a),
                static_cast<unsigned long long>(b >> 32));
}

std::unique_ptr<ApiRequest> parse_translated(const ojson& chat_body, const ServedModel& served) {
  return std::make_unique<ApiRequest>(parse_chat_request(dump(chat_body), served));
}

ojson parse_json_body(const std::string& body) {
  ojson j;
  std::string error;
  if (!try_parse_json(body, j, &error, JsonLimits{128}))
    throw ApiError{400, strfmt("the request body is not valid JSON: %s", error.c_str()),
                   "invalid_request_error", "", "invalid_json"};
  if (!j.is_object())
    throw ApiError{400, "the request body must be a JSON object", "invalid_request_error", "",
                   "invalid_type"};
  return j;
}

}  // namespace qwen3::server
