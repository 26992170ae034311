// Added-token matching (see added_tokens.h). Mirrors AddedVocabulary::find_matches in HF tokenizers.
#include "tokenizer/added_tokens.h"

#include <algorithm>
#include <cstring>

#include "tokenizer/unicode.h"

namespace qwen3::tok {
namespace {

bool is_white_space(uint32_t cp) {
  return char_class(cp) == CharClass::kSpace;
}
bool is_alnum(uint32_t cp) {
  CharClass c = char_class(cp);
  return c == CharClass::kLetter || c == CharClass::kNumber;
}

// The code point that ends s[0, end) (end > 0).
uint32_t cp_before(const unsigned char* s, size_t end, size_t& start) {
  start = end - 1;
  while (start > 0 && (s[start] & 0xC0) == 0x80) --start;
  size_t len;
  return decode_utf8(s + start, len);
}

}  // namespace

AddedMatcher::AddedMatcher(std::vector<AddedToken> tokens, bool skip_special)
    : tokens_(std::move(tokens)), by_first_(256), skip_special_(skip_special) {
  tokens_.erase(
      std::remove_if(tokens_.begin(), tokens_.end(), [](const AddedToken& t) { return t.content.empty(); }),
      tokens_.end());
  std::stable_sort(tokens_.begin(), tokens_.end(), [](const AddedToken& a, const AddedToken& b) {
    return a.content.size() > b.content.size();
  });
  for (size_t i = 0; i < tokens_.size(); ++i)
    by_first_[static_cast<unsigned char>(tokens_[i].content[0])].push_back(uint16_t(i));
}

void AddedMatcher::split(std::string_view text, const uint8_t* mask, std::vector<Segment>& out) const {
  const auto* s = reinterpret_cast<const unsigned char*>(text.data());
  const size_t n = text.size();
  size_t done = 0;  // end of the last emitted segment
  size_t i = 0;
  while (i < n) {
    const auto& cands = by_first_[s[i]];
    if (cands.empty()) {
      ++i;
      continue;
    }
    const AddedToken* tok = nullptr;
    for (uint16_t k : cands) {  // longest first: the first that fits is the leftmost-longest match
      const AddedToken& t = tokens_[k];
      size_t len = t.content.size();
      if (len > n - i || std::memcmp(s + i, t.content.data(), len) != 0) continue;
      if (mask && std::memchr(mask + i, 0, len) != nullptr) continue;
      tok = &t;
      break;
    }
    if (!tok) {
      ++i;
      continue;
    }
    size_t start = i, stop = i + tok->content.size();
    i = stop;  // the automaton consumes the match even when the checks below reject it
    if (skip_special_ && tok->special) continue;
    if (tok->single_word) {
      size_t pos;
      bool start_ok = start == 0 || !is_alnum(cp_before(s, start, pos));
      size_t len = 0;
      bool stop_ok = stop == n || !is_alnum(decode_utf8(s + stop, len));
      if (!start_ok || !stop_ok) continue;
    }
    if (tok->lstrip) {
      size_t p = start;
      while (p > 0) {
        size_t q;
        if (!is_white_space(cp_before(s, p, q))) break;
        p = q;
      }
      start = std::max(p, done);
    }
    if (tok->rstrip) {
      while (stop < n) {
        size_t len;
        if (!is_white_space(decode_utf8(s + stop, len))) break;
        stop += len;
      }
      i = stop;
    }
    if (done < start) out.push_back(Segment{done, start, -1});
    out.push_back(Segment{start, stop, tok->id});
    done = stop;
  }
  if (done < n || n == 0) out.push_back(Segment{done, n, -1});
}

}  // namespace qwen3::tok
