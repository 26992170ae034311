// Structured output in the API: the request fields that constrain what the model may write, compiled by the
// constraint engine (constrain/constrain.h) into the sequence's OutputConstraint.
//   response_format   {"type":"text"} | {"type":"json_object"[, "schema": S]} (llama.cpp's schema field) |
//                     {"type":"json_schema","json_schema":{"name","schema","strict"}}
//   json_schema, grammar                      llama.cpp's fields (a schema object; GBNF text)
//   guided_json, guided_regex, guided_grammar, guided_choice   vLLM's fields (GBNF for guided_grammar)
//   tools[].function.strict, tool_choice      "none" | "auto" | "required" |
//   {"type":"function","function":{"name"}}
// At most one of the answer constraints may be given. tool_choice "required" or a named function constrains
// the answer to Qwen3's Hermes tool calls (<tool_call>\n{"name": …, "arguments": …}\n</tool_call>, several
// when parallel_tool_calls), the arguments by the function's `parameters` schema; "auto" leaves the text
// free, and when some tool is strict a <tool_call> the model opens is constrained the same way. With tools
// and "auto", an answer constraint and tool calls are alternatives. In thinking mode a think block comes
// first, free.
//
// Compiled grammars are cached by their source (an LRU), so an agent that sends the same tools every turn
// compiles once. Compile errors are 400s naming the field (param) and the keyword.
#pragma once

#include <list>
#include <memory>
#include <mutex>
#include <string>
#include <unordered_map>

#include <nlohmann/json.hpp>

#include "constrain/constrain.h"

namespace qwen3::server {

struct ServedModel;
struct ApiRequest;

class GrammarCache {
 public:
  explicit GrammarCache(size_t capacity = 64) : capacity_(capacity) {}
  std::shared_ptr<const constrain::Grammar> find(const std::string& key);
  void put(const std::string& key, std::shared_ptr<const constrain::Grammar> grammar);
  size_t size() const;
  uint64_t hits() const;

 private:
  size_t capacity_;
  mutable std::mutex mu_;
  std::list<std::pair<std::string, std::shared_ptr<const constrain::Grammar>>> lru_;  // most recent first
  std::unordered_map<std::string, decltype(lru_)::iterator> index_;
  uint64_t hits_ = 0;
};

// Reads the structured-output fields of a request body into r.chat_request.generation.constraint (and the
// tools to render: tool_choice "none" drops them). `chat`: /v1/chat/completions (tools allowed), else
// /v1/completions. `thinking`: the chat template opens thinking mode. Throws ApiError.
void parse_structured_output(const nlohmann::ordered_json& body, const ServedModel& served, bool chat,
                             bool thinking, ApiRequest& r);

}  // namespace qwen3::server
