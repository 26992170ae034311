// The Qwen3 tokenizer, loaded from a Hugging Face tokenizer.json: byte-level BPE with NFC, the Qwen2 Split
// pre-tokenizer and added tokens. Encoding and decoding are exactly those of HF tokenizers (encode with
// add_special_tokens=False, decode), checked against goldens from the official binding (tests/tokenizer/).
// Thread-safe: a Tokenizer is immutable after load and cheap to copy (shared data).
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace qwen3 {

namespace tok {
struct TokenizerData;
}
namespace gguf {
struct Vocab;
}

class Tokenizer {
 public:
  // Reads model_dir/tokenizer.json (+ tokenizer_config.json if present), or the tokenizer of a .gguf file.
  // Throws qwen3::Error naming the file and the unsupported component when the file asks for anything this
  // implementation does not do exactly.
  static Tokenizer load(const std::string& model_dir);
  // From GGUF's tokenizer.ggml.* entries (llama.cpp's "gpt2" model with the "qwen2" pre-tokenizer: Qwen's
  // byte-level BPE with NFC). Added tokens are the CONTROL (special) and USER_DEFINED ids, matched in the raw
  // text as Qwen's tokenizer.json has them (normalized=false).
  static Tokenizer from_gguf(const gguf::Vocab& vocab, const std::string& origin);
  // Same, from the contents of the two files (config may be empty). `origin` names them in errors.
  static Tokenizer from_json(std::string_view tokenizer_json, std::string_view config_json,
                             const std::string& origin = "tokenizer.json");

  // HF encode(text, add_special_tokens=False). Throws qwen3::Error on invalid UTF-8 (naming the byte offset).
  // special_allowed: optional per-byte mask (same length as text); an added token matches only where every
  // byte of its match has mask != 0, elsewhere its text is encoded as plain text (injection-safe chat
  // rendering).
  std::vector<int32_t> encode(std::string_view text,
                              const std::vector<uint8_t>* special_allowed = nullptr) const;
  // Appends to ids instead of returning a new vector (no allocation when ids has room).
  void encode_into(std::string_view text, std::vector<int32_t>& ids,
                   const std::vector<uint8_t>* special_allowed = nullptr) const;

  // HF decode: ids outside the vocabulary are skipped as HF skips them; bytes that are not valid UTF-8 become
  // U+FFFD per maximal ill-formed subsequence (Rust's String::from_utf8_lossy).
  std::string decode(std::span<const int32_t> ids, bool skip_special_tokens = false) const;

  int32_t vocab_size() const;  // base vocab + added tokens (151669 for Qwen3)
  std::optional<int32_t> token_to_id(std::string_view token) const;  // exact token string, added tokens too
  std::string id_to_token(int32_t id) const;  // raw token string (byte-level form); "" for an unknown id
  bool is_special(int32_t id) const;          // an added token flagged "special"
  // An added token, special or not (Qwen3's <think>, <tool_call>, ... are added but not "special"): encode
  // makes its text this one id, so constrained decoding and the output parser treat it as a symbol, not text.
  bool is_added(int32_t id) const;
  // The bytes an id decodes to (before UTF-8 repair); empty for unknown ids and, when skip_special, special
  // ones.
  std::string_view token_bytes(int32_t id, bool skip_special = false) const;

 private:
  std::shared_ptr<const tok::TokenizerData> d_;
};

// Streaming decode for generation: push ids one at a time and get back only complete, valid UTF-8. A partial
// character is held until its last byte arrives; bytes that can never become valid UTF-8 come out as U+FFFD
// exactly where the full decode would put them, so the concatenated output equals decode(all ids).
class StreamDecoder {
 public:
  explicit StreamDecoder(const Tokenizer& tokenizer, bool skip_special_tokens = false);
  std::string push(int32_t id);
  std::string flush();  // whatever is held, with a trailing incomplete character as U+FFFD; then resets

 private:
  Tokenizer tokenizer_;
  bool skip_special_;
  std::string pending_;
};

// Appends `bytes` to out as UTF-8, each maximal ill-formed subsequence replaced by U+FFFD. Returns the number
// of bytes consumed: all of them, or when hold_incomplete, all but a trailing truncated (still completable)
// sequence.
size_t append_utf8_lossy(std::string& out, std::string_view bytes, bool hold_incomplete = false);

}  // namespace qwen3
