// The OpenAI API surface without HTTP: request bodies validated into typed structs (ApiError on anything
// wrong, with the status, type, param and code OpenAI would answer), and the response objects and stream
// chunks in OpenAI's shapes. server.cpp is the HTTP glue around this; nothing here includes the HTTP library.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "chat/chat_template.h"
#include "chat/output_parser.h"
#include "constrain/constrain.h"
#include "engine/chat_turn.h"
#include "engine/scheduler.h"
#include "server/writer.h"

namespace qwen3::server {

using ojson = nlohmann::ordered_json;

struct ApiError {
  int status = 400;
  std::string message;
  std::string type = "invalid_request_error";
  std::string param;  // empty: null
  std::string code;   // empty: null
};

// {"error":{"message","type","param","code"}}, serialised (invalid UTF-8 replaced, never thrown).
std::string error_body(const ApiError& e);
std::string dump(const ojson& j);

// An optional field of a request object: absent or null both mean "not given" (every API frontend reads
// bodies this way).
inline const ojson* field(const ojson& body, const char* key) {
  auto it = body.find(key);
  return it == body.end() || it->is_null() ? nullptr : &*it;
}

class GrammarCache;
class AdapterRegistry;

// What the server knows about the model, for defaults and validation.
struct ServedModel {
  const Model* model = nullptr;
  const Tokenizer* tokenizer = nullptr;
  const ChatTemplate* chat_template = nullptr;
  std::string id;  // the name /v1/models reports
  int n_ctx = 0;
  int n_parallel = 1;
  std::shared_ptr<const constrain::Vocabulary> vocab;  // structured output (null: not available)
  GrammarCache* grammars = nullptr;                    // compiled grammars by source (server/structured.h)
  AdapterRegistry* adapters = nullptr;                 // LoRA adapters by name (server/adapters.h)
};

// A validated /v1/chat/completions or /v1/completions request.
struct ApiRequest {
  bool chat = true;
  ChatRequest chat_request;         // chat: messages, tools, enable_thinking; generation params for both
  std::vector<int32_t> prompt;      // tokenized prompt (both endpoints)
  bool starts_in_thinking = false;  // chat: the rendered prompt opened a think block
  int n = 1;
  bool stream = false, include_usage = false;
  int top_logprobs = -1;  // < 0: logprobs off
  bool parallel_tool_calls = true;
  bool seed_given = false;
  bool echo = false;                      // completions: the prompt's text comes back before the completion
  std::string model;                      // the "model" field (empty: not given)
  std::shared_ptr<const LoraStack> lora;  // the adapters it names (null: the base model; server/adapters.h)
};

// Parses and validates a body; tokenizes the prompt (rendered with the chat template for chat).
ApiRequest parse_chat_request(const std::string& body, const ServedModel& served);
ApiRequest parse_completion_request(const std::string& body, const ServedModel& served);

// Builds the responses of one request with n choices from events of the scheduler thread. Streaming chunks
// come out of on_token/on_done as complete SSE events ("data: {...}\n\n"); the non-streamed body comes out of
// on_done once every choice has finished.
class ResponseBuilder : public ResponseWriter {
 public:
  ResponseBuilder(const ApiRequest& request, const ServedModel& served, std::string id, int64_t created);
  std::string start() override;  // the first SSE chunks (role), "" when not streaming
  std::string on_token(int choice, int32_t id, std::string_view text, const TokenLogprob* logprob) override;
  // Returns the final SSE chunks, or the whole JSON body when not streaming, once all choices are done (""
  // before). finish_reason "abort": the server ended the choice (shutdown, a failed forward pass). A choice
  // that failed alone (FinishReason::kError) becomes {"error": {...}, type server_error, code
  // generation_failed}: an SSE event before [DONE], or the whole body (the status, 200, is sent by then).
  std::string on_done(int choice, SequenceOutcome& outcome) override;

 private:
  struct Choice {
    std::unique_ptr<OutputParser> parser;
    std::vector<TokenLogprob> pending_logprobs;  // streamed with the next chunk
    SequenceOutcome outcome;
    bool done = false;
    int n_tool_calls_streamed = 0;
  };
  ojson chunk(ojson choices) const;
  std::string sse(const ojson& j) const;
  ojson logprobs_json(const std::vector<TokenLogprob>& lps) const;
  ojson delta_choice(int index, const ParsedDelta& d, Choice& c);
  std::string delta_chunks(int index, const ParsedDelta& d, Choice& c);
  std::string echo_text() const;
  std::string finish_reason(const Choice& c) const;
  std::string error_json(int index, const Choice& c) const;
  ojson usage() const;
  ojson timings() const;
  std::string final_body();

  const ApiRequest& req_;
  const ServedModel& served_;
  std::string id_;
  int64_t created_;
  std::vector<Choice> choices_;
  int n_done_ = 0;
  std::string held_;  // streamed chunks of finished choices, sent once all are done
};

}  // namespace qwen3::server
