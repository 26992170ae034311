// Chat templates: the model's own `chat_template` (tokenizer_config.json or chat_template.jinja) rendered by
// the Jinja-subset interpreter byte-exactly as transformers' apply_chat_template does, plus a per-byte mask
// saying which bytes came from the template itself. The tokenizer matches control tokens such as <|im_start|>
// only in those bytes, so message content cannot forge them (see docs/CHAT.md).
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

namespace qwen3 {

namespace jinja {
struct Stmt;
}

struct RenderedPrompt {
  std::string text;
  std::vector<uint8_t>
      from_template;  // per byte of text: 1 = the template's own text, 0 = inserted from a value
};

struct ChatTemplateOptions {
  bool add_generation_prompt = true;
  std::optional<bool> enable_thinking;  // absent = not passed, so the template's default applies
  // More template variables, passed after the standard ones (as apply_chat_template's **kwargs).
  nlohmann::ordered_json extra_kwargs = nlohmann::ordered_json::object();
};

class ChatTemplate {
 public:
  // The chat template of a Hugging Face model directory: chat_template.jinja when present, else
  // tokenizer_config's "chat_template" (a string, or a list of {name, template} with a "default" entry), plus
  // its special tokens; or a .gguf file's tokenizer.chat_template, with the tokens its
  // tokenizer.ggml.*_token_id entries name.
  static ChatTemplate load(const std::string& model_dir);
  // A template from source; special tokens can be set with set_special_tokens.
  static ChatTemplate from_source(std::string source);

  // messages: array of message objects; tools: null or an array. Key order matters for tojson, so pass
  // ordered_json parsed from the request (a plain nlohmann::json converts, but with its keys sorted).
  RenderedPrompt render(const nlohmann::ordered_json& messages, const nlohmann::ordered_json& tools,
                        const ChatTemplateOptions& options) const;

  // tokenizer_config's special tokens map (bos_token, eos_token, pad_token, ..., additional_special_tokens),
  // passed to the template as variables like transformers does; their text counts as the template's own.
  void set_special_tokens(const nlohmann::ordered_json& special_tokens_map);
  const std::string& source() const { return source_; }
  // A special token's text from that map ("eos_token", "bos_token", ...); empty when the tokenizer has none.
  std::string special_token(const std::string& name) const;
  std::string bos_token() const { return special_token("bos_token"); }
  std::string eos_token() const { return special_token("eos_token"); }

 private:
  std::string source_;
  std::shared_ptr<const std::vector<std::unique_ptr<jinja::Stmt>>> body_;
  nlohmann::ordered_json special_tokens_ = nlohmann::ordered_json::object();
};

// enable_thinking for one request: its own value, else the engine's global default, else absent (the
// template's default applies).
inline std::optional<bool> effective_thinking(std::optional<bool> per_request,
                                              std::optional<bool> global_default) {
  return per_request ? per_request : global_default;
}

// True when the rendered prompt leaves the model inside a thinking block: after the last
// "<|im_start|>assistant" a
// "<think>" was opened and not closed (templates that open it themselves, e.g. QwQ and Qwen3-2507 thinking).
bool prompt_ends_in_thinking(std::string_view rendered_prompt);

}  // namespace qwen3
