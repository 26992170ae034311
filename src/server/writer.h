// What the HTTP glue (server.cpp) needs from a frontend's response writer: the wire text of one request's
// answer, built from the scheduler thread's events. Chat/legacy completions (api.h ResponseBuilder), the
// Responses API, Ollama's and Anthropic's APIs each implement it in their own shape.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "engine/scheduler.h"

namespace qwen3::server {

class ResponseWriter {
 public:
  virtual ~ResponseWriter() = default;
  // The first bytes of a streamed answer ("" when there are none, or when not streaming).
  virtual std::string start() = 0;
  // What to send for one generated token of choice `choice` ("" for nothing yet).
  virtual std::string on_token(int choice, int32_t id, std::string_view text,
                               const TokenLogprob* logprob) = 0;
  // Called once per choice. Non-empty only once every choice is done: the rest of the answer (the whole body
  // when not streaming), after which the response ends.
  virtual std::string on_done(int choice, SequenceOutcome& outcome) = 0;
};

}  // namespace qwen3::server
