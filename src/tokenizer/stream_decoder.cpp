// UTF-8 repair as Rust's String::from_utf8_lossy does it (one U+FFFD per maximal ill-formed subsequence, the
// Unicode-recommended practice), and the streaming decoder built on it.
#include "tokenizer/tokenizer.h"

namespace qwen3 {

namespace {
constexpr std::string_view kReplacement = "\xEF\xBF\xBD";

// Valid range of the second byte for each lead byte; later bytes are always 80..BF.
bool second_ok(unsigned char lead, unsigned char b) {
  if (lead == 0xE0) return b >= 0xA0 && b <= 0xBF;
  if (lead == 0xED) return b >= 0x80 && b <= 0x9F;
  if (lead == 0xF0) return b >= 0x90 && b <= 0xBF;
  if (lead == 0xF4) return b >= 0x80 && b <= 0x8F;
  return b >= 0x80 && b <= 0xBF;
}
}  // namespace

size_t append_utf8_lossy(std::string& out, std::string_view bytes, bool hold_incomplete) {
  const auto* s = reinterpret_cast<const unsigned char*>(bytes.data());
  const size_t n = bytes.size();
  size_t i = 0, run = 0;  // bytes [run, i) are valid and not yet copied
  while (i < n) {
    unsigned char c = s[i];
    if (c < 0x80) {
      ++i;
      continue;
    }
    size_t need = (c >= 0xC2 && c <= 0xDF)   ? 2
                  : (c >= 0xE0 && c <= 0xEF) ? 3
                  : (c >= 0xF0 && c <= 0xF4) ? 4
                                             : 0;
    size_t k = 1;  // length of the longest valid prefix of a sequence starting at i
    if (need) {
      if (i + 1 < n && second_ok(c, s[i + 1])) {
        k = 2;
        while (k < need && i + k < n && (s[i + k] & 0xC0) == 0x80) ++k;
      }
    }
    if (need && k == need) {
      i += k;
      continue;
    }
    if (need && i + k == n && hold_incomplete) {  // truncated, may still complete
      out.append(bytes.data() + run, i - run);
      return i;
    }
    out.append(bytes.data() + run, i - run);
    out += kReplacement;
    i += k;
    run = i;
  }
  out.append(bytes.data() + run, n - run);
  return n;
}

StreamDecoder::StreamDecoder(const Tokenizer& tokenizer, bool skip_special_tokens)
    : tokenizer_(tokenizer), skip_special_(skip_special_tokens) {}

std::string StreamDecoder::push(int32_t id) {
  pending_ += tokenizer_.token_bytes(id, skip_special_);
  std::string out;
  size_t used = append_utf8_lossy(out, pending_, /*hold_incomplete=*/true);
  pending_.erase(0, used);
  return out;
}

std::string StreamDecoder::flush() {
  std::string out;
  append_utf8_lossy(out, pending_);
  pending_.clear();
  return out;
}

}  // namespace qwen3
