// libFuzzer harness: the input is a chat template. Lexing, parsing, name checks and rendering (with a small chat
// context) must either succeed or throw qwen3::Error: no crash, hang, leak or sanitizer report.
#include <cstddef>
#include <cstdint>
#include <string>

#include "chat/chat_template.h"
#include "core/error.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static const nlohmann::ordered_json messages = nlohmann::ordered_json::parse(R"([
    {"role": "system", "content": "sys"},
    {"role": "user", "content": "hi <|im_start|> é"},
    {"role": "assistant", "content": "<think>\nr\n</think>\n\nok", "tool_calls": [
      {"type": "function", "function": {"name": "f", "arguments": {"a": [1, 2.5, null, true]}}}]},
    {"role": "tool", "content": "{\"x\": 1}"}])");
  static const nlohmann::ordered_json tools = nlohmann::ordered_json::parse(
      R"([{"type": "function", "function": {"name": "f", "parameters": {"type": "object"}}}])");
  try {
    qwen3::ChatTemplate t = qwen3::ChatTemplate::from_source(std::string(reinterpret_cast<const char*>(data), size));
    qwen3::ChatTemplateOptions opt;
    opt.enable_thinking = size % 2 == 0;
    qwen3::RenderedPrompt r = t.render(messages, tools, opt);
    if (r.text.size() != r.from_template.size()) __builtin_trap();
  } catch (const qwen3::Error&) {
  }
  return 0;
}
