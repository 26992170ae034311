// Qwen2 Split pre-tokenizer (see split.h). Each branch below is one alternative of the pattern, in order.
#include "tokenizer/split.h"

#include "tokenizer/unicode.h"

namespace qwen3::tok {
namespace {

struct Cursor {
  const unsigned char* s;
  size_t n;
  const uint8_t* info;

  // Code point and class at byte i (i < n).
  uint32_t at(size_t i, size_t& len, CharClass& cls) const {
    uint32_t cp = decode_utf8(s + i, len);
    cls = CharClass(info[cp] & kClassMask);
    return cp;
  }
  CharClass cls_at(size_t i, size_t& len) const {
    CharClass c;
    at(i, len, c);
    return c;
  }
  // End of the run of code points of class `want` starting at i.
  size_t run(size_t i, CharClass want) const {
    while (i < n) {
      size_t len;
      if (cls_at(i, len) != want) break;
      i += len;
    }
    return i;
  }
};

inline char lower_ascii(unsigned char c) {
  return (c >= 'A' && c <= 'Z') ? char(c + 32) : char(c);
}

// (?i:'s|'t|'re|'ve|'m|'ll|'d) after the apostrophe at i-1: returns the match end or 0. Oniguruma folds case
// with Unicode rules, so U+017F LATIN SMALL LETTER LONG S matches 's' too.
size_t contraction(const Cursor& c, size_t i) {
  if (i >= c.n) return 0;
  if (i + 1 < c.n && c.s[i] == 0xC5 && c.s[i + 1] == 0xBF) return i + 2;  // U+017F
  char a = lower_ascii(c.s[i]);
  if (a == 's' || a == 't' || a == 'm' || a == 'd') return i + 1;
  if (i + 1 >= c.n) return 0;
  char b = lower_ascii(c.s[i + 1]);
  if ((a == 'r' && b == 'e') || (a == 'v' && b == 'e') || (a == 'l' && b == 'l')) return i + 2;
  return 0;
}

}  // namespace

void split_qwen2(std::string_view text, std::vector<uint32_t>& ends) {
  Cursor c{reinterpret_cast<const unsigned char*>(text.data()), text.size(), char_info_table()};
  size_t i = 0;
  while (i < c.n) {
    size_t len;
    CharClass cls;
    uint32_t cp = c.at(i, len, cls);
    size_t next = i + len, end = 0;
    size_t next_len = 0;
    CharClass next_cls = CharClass::kOther;
    bool has_next = next < c.n;
    if (has_next) next_cls = c.cls_at(next, next_len);

    if (cp == '\'') end = contraction(c, next);  // 1. contractions
    if (end) {
    } else if (cls == CharClass::kLetter) {  // 2. \p{L}+ (the optional prefix matched nothing)
      end = c.run(next, CharClass::kLetter);
    } else if (cls != CharClass::kNumber && cp != '\r' && cp != '\n' && has_next &&
               next_cls == CharClass::kLetter) {  // 2. one non-letter/number/newline, then \p{L}+
      end = c.run(next + next_len, CharClass::kLetter);
    } else if (cls == CharClass::kNumber) {  // 3. \p{N}
      end = next;
    } else if (cls == CharClass::kOther || (cp == ' ' && has_next && next_cls == CharClass::kOther)) {
      // 4. ' ?[^\s\p{L}\p{N}]+[\r\n]*'
      size_t j = c.run(cp == ' ' ? next : i, CharClass::kOther);
      while (j < c.n && (c.s[j] == '\r' || c.s[j] == '\n')) ++j;
      end = j;
    } else {  // whitespace: alternatives 5, 6, 7 over the maximal run of \s
      size_t j = i, last_start = i, newline_end = 0;
      while (j < c.n) {
        size_t l;
        uint32_t q = c.at(j, l, cls);
        if (cls != CharClass::kSpace) break;
        if (q == '\r' || q == '\n') newline_end = j + l;
        last_start = j;
        j += l;
      }
      if (newline_end)
        end = newline_end;  // 5. \s*[\r\n]+ : up to the run's last newline
      else if (j == c.n)
        end = j;  // 6. \s+(?!\S) at the end of the text
      else if (last_start > i)
        end = last_start;  // 6. leave the last space to the next word
      else
        end = j;  // 7. \s+
    }
    ends.push_back(uint32_t(end));
    i = end;
  }
}

}  // namespace qwen3::tok
