// libFuzzer harness: the input is a request's JSON (messages, or {"messages", "tools"}) rendered with the real Qwen3
// template, as the server would. Invalid JSON is skipped; everything else must render or throw qwen3::Error.
#include <cstddef>
#include <cstdint>
#include <string>

#include "chat/chat_template.h"
#include "core/error.h"
#include "core/file.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static const qwen3::ChatTemplate tmpl =
      qwen3::ChatTemplate::from_source(qwen3::read_text_file(QWEN3_SOURCE_DIR "/tests/data/chat/templates/qwen3.jinja"));
  auto j = nlohmann::ordered_json::parse(reinterpret_cast<const char*>(data), reinterpret_cast<const char*>(data) + size,
                                         nullptr, false);
  if (j.is_discarded()) return 0;
  nlohmann::ordered_json messages = j, tools = nullptr;
  if (j.is_object()) {
    messages = j.value("messages", nlohmann::ordered_json::array());
    tools = j.value("tools", nlohmann::ordered_json());
  }
  try {
    qwen3::ChatTemplateOptions opt;
    if (size % 3) opt.enable_thinking = size % 3 == 1;
    tmpl.render(messages, tools, opt);
  } catch (const qwen3::Error&) {
  }
  return 0;
}
