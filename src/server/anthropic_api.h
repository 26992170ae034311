// Anthropic's Messages API (POST /v1/messages, POST /v1/messages/count_tokens) over the same scheduler, chat
// template and output parser: system, text/tool_use/tool_result blocks, tools, thinking with budget_tokens,
// stop_sequences, and the streamed events message_start ... content_block_delta ... message_stop. Errors as
// {"type":"error","error":{"type","message"}}; x-api-key is checked against --api-key (server.cpp).
#pragma once

#include <string>

#include "server/frontend.h"

namespace qwen3::server {

Prepared prepare_messages(const std::string& body, const ServedModel& served);
std::string count_tokens(const std::string& body, const ServedModel& served);

}  // namespace qwen3::server
