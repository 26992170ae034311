// What the API frontends share (chat/legacy completions in api.cpp, the Responses API, Ollama's and
// Anthropic's APIs): each parses its body into the same typed ApiRequest, posts it to the same scheduler
// (server.cpp) and writes its own wire shape with a ResponseWriter; the helpers they have in common are here.
#pragma once

#include <memory>
#include <string>

#include "server/api.h"
#include "server/writer.h"

namespace qwen3::server {

// Whose error shape an answer uses, chosen by the request's path.
enum class ErrorShape { kOpenAI, kOllama, kAnthropic };
ErrorShape error_shape_for(const std::string& path);
// OpenAI: {"error":{"message","type","param","code"}}; Ollama: {"error":"message"}; Anthropic:
// {"type":"error","error":{"type","message"}} with Anthropic's type for the status.
std::string error_body(const ApiError& e, ErrorShape shape);

// 501 for a known OpenAI or Ollama route this server does not implement (embeddings, audio, images, model
// management...), naming why; nullopt for a path that is simply unknown (404).
std::optional<ApiError> unsupported_route(const std::string& path);

// Enumerated fields of a chat-completions body: a value OpenAI does not define is a 400 (not silently
// ignored), as is one it defines but this server cannot honour (audio output).
void check_enum_fields(const ojson& body);

// A validated request with the writer that will answer it.
struct Prepared {
  std::unique_ptr<ApiRequest> request;  // the writer refers to it: keep it where it is
  std::unique_ptr<ResponseWriter> writer;
  std::string content_type;  // of the answer
  std::string keepalive;     // written after a second of silence (ignored by that format's readers)
  std::string immediate;     // non-empty: the whole answer (JSON), nothing to generate (request/writer unset)
};
// The content type and keep-alive of the three wire formats.
void set_sse(Prepared& p);
void set_ndjson(Prepared& p);
void set_json(Prepared& p);

// The output parser of a chat request (reasoning, content, tool calls with streamed arguments).
std::unique_ptr<OutputParser> make_output_parser(const ServedModel& served, bool starts_in_thinking,
                                                 const std::string& call_id_prefix);
// Generated tokens inside think blocks (usage's reasoning tokens).
int reasoning_tokens(const ServedModel& served, const std::vector<int32_t>& tokens, bool starts_in_thinking);

// "event: NAME\ndata: JSON\n\n".
std::string sse_event(const std::string& name, const ojson& data);
// 24 random hex digits, for ids ("resp_" + ...).
std::string random_hex();

// A translated body (a frontend's request rewritten as a chat-completions body) parsed and tokenized as
// /v1/chat/completions does it.
std::unique_ptr<ApiRequest> parse_translated(const ojson& chat_body, const ServedModel& served);

// A JSON body for a frontend: an object, bounded depth, or an ApiError 400.
ojson parse_json_body(const std::string& body);

}  // namespace qwen3::server
