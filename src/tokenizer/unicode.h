// Unicode pieces the tokenizer needs, exactly as Hugging Face tokenizers sees them: UTF-8 validation and
// decoding, the Split-regex class of a code point (letter / number / whitespace / other), and NFC with HF's
// Unicode 9 view. Classes come from hf_char_classes.h and NFC from utf8proc corrected by hf_nfc_unknown.h,
// both generated from the reference by tools/tokenizer/make_unicode_tables.mjs;
// tests/tokenizer/unicode_test.cpp checks every code point.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

namespace qwen3::tok {

// The classes the Qwen2 Split regex distinguishes: \p{L}, \p{N}, \s (Unicode White_Space), everything else.
enum class CharClass : uint8_t { kOther = 0, kLetter = 1, kNumber = 2, kSpace = 3 };

// Returns the byte offset of the first invalid UTF-8 sequence (overlong, surrogate, > U+10FFFF, truncated),
// or std::string_view::npos when the text is valid.
size_t find_invalid_utf8(std::string_view text);

// Decodes the code point at text[i] of valid UTF-8; sets len to its byte length (1..4).
inline uint32_t decode_utf8(const unsigned char* s, size_t& len) {
  unsigned char c = s[0];
  if (c < 0x80) {
    len = 1;
    return c;
  }
  if (c < 0xE0) {
    len = 2;
    return (uint32_t(c & 0x1F) << 6) | (s[1] & 0x3F);
  }
  if (c < 0xF0) {
    len = 3;
    return (uint32_t(c & 0x0F) << 12) | (uint32_t(s[1] & 0x3F) << 6) | (s[2] & 0x3F);
  }
  len = 4;
  return (uint32_t(c & 0x07) << 18) | (uint32_t(s[1] & 0x3F) << 12) | (uint32_t(s[2] & 0x3F) << 6) |
         (s[3] & 0x3F);
}

void append_utf8(std::string& out, uint32_t cp);

// The class from utf8proc's general categories and Unicode White_Space, for checking the generated table
// hf_char_classes.h (which the tokenizer uses: the reference knows newer Unicode than utf8proc).
CharClass utf8proc_char_class(uint32_t cp);

// Per-code-point facts, one byte each in a table built once on first use.
enum : uint8_t { kClassMask = 3, kNfcBoundary = 4 };
const uint8_t* char_info_table();  // 0x110000 entries

inline CharClass char_class(uint32_t cp) {
  return CharClass(char_info_table()[cp] & kClassMask);
}

// True when HF's NFC (Unicode 9) does not know cp although current Unicode gives it NFC properties.
bool hf_nfc_unknown(uint32_t cp);

// NFC as HF tokenizers computes it. Returns false (and leaves `out` alone) when `text` is already normalised,
// which is the common case and costs one table look-up per code point; otherwise writes the result to `out`.
bool nfc_hf(std::string_view text, std::string& out);

}  // namespace qwen3::tok
