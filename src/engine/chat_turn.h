// One chat turn end to end: render the messages with the model's own template, tokenize with the
// template-origin mask (control tokens only where the template wrote them), generate in a Session (reusing
// its cached prefix), and split the output into reasoning, content and tool calls with the streaming
// OutputParser.
#pragma once

#include <functional>
#include <optional>
#include <string>

#include <nlohmann/json.hpp>

#include "chat/chat_template.h"
#include "chat/output_parser.h"
#include "engine/session.h"

namespace qwen3 {

struct ChatRequest {
  nlohmann::ordered_json messages = nlohmann::ordered_json::array();
  nlohmann::ordered_json tools = nullptr;  // null or an array of OpenAI tool objects
  std::optional<bool> enable_thinking;     // absent: the template's default (thinking on for Qwen3)
  GenerationParams generation;
  bool parse_special_in_content = false;  // true: Hugging Face's behaviour, control tokens in content count
  std::string call_id_prefix = "call_";
};

struct ChatResult {
  ParsedOutput output;
  GenerationResult generation;
  int n_reasoning_tokens = 0;  // generated tokens inside think blocks (tags included)
  std::string prompt;          // the rendered prompt
};

// Streamed deltas; return false to stop generating.
using ChatDeltaCallback = std::function<bool(const ParsedDelta&)>;

// Tokens of the rendered prompt for `request` (also what run_chat_turn feeds the session).
std::vector<int32_t> chat_prompt_tokens(const ChatTemplate& tmpl, const Tokenizer& tok,
                                        const ChatRequest& request, std::string* rendered = nullptr);

ChatResult run_chat_turn(Session& session, const ChatTemplate& tmpl, const ChatRequest& request,
                         const ChatDeltaCallback& on_delta = nullptr);

// Whether the model is expected to think this turn: the hard switch (enable_thinking, default on), then
// Qwen's soft switches: the last "/think" or "/no_think" in the latest user message wins.
bool thinking_mode(const ChatRequest& request);

// Counts generated tokens that belong to think blocks (for usage.reasoning_tokens).
int count_reasoning_tokens(const std::vector<int32_t>& tokens, bool starts_in_thinking, int32_t think_open,
                           int32_t think_close);

}  // namespace qwen3
