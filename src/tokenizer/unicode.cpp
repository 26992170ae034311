// UTF-8 validation, code point classes and HF-compatible NFC (see unicode.h).
#include "tokenizer/unicode.h"

#include <utf8proc.h>

#include <algorithm>
#include <cstring>
#include <vector>

#include "tokenizer/hf_char_classes.h"
#include "tokenizer/hf_nfc_unknown.h"

namespace qwen3::tok {

size_t find_invalid_utf8(std::string_view text) {
  const auto* s = reinterpret_cast<const unsigned char*>(text.data());
  size_t n = text.size(), i = 0;
  while (i < n) {
    // ASCII runs dominate real text: check 8 bytes at a time.
    if (i + 8 <= n) {
      uint64_t w;
      std::memcpy(&w, s + i, 8);
      if ((w & 0x8080808080808080ull) == 0) {
        i += 8;
        continue;
      }
    }
    unsigned char c = s[i];
    if (c < 0x80) {
      ++i;
      continue;
    }
    size_t len;
    uint32_t min;
    if (c >= 0xC2 && c <= 0xDF)
      len = 2, min = 0x80;
    else if (c >= 0xE0 && c <= 0xEF)
      len = 3, min = 0x800;
    else if (c >= 0xF0 && c <= 0xF4)
      len = 4, min = 0x10000;
    else
      return i;  // continuation byte, C0/C1 (overlong) or F5..FF
    if (i + len > n) return i;
    for (size_t k = 1; k < len; ++k)
      if ((s[i + k] & 0xC0) != 0x80) return i;
    size_t got;
    uint32_t cp = decode_utf8(s + i, got);
    if (cp < min || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF)) return i;
    i += len;
  }
  return std::string_view::npos;
}

void append_utf8(std::string& out, uint32_t cp) {
  char b[4];
  size_t n = size_t(utf8proc_encode_char(int32_t(cp), reinterpret_cast<utf8proc_uint8_t*>(b)));
  out.append(b, n);
}

bool hf_nfc_unknown(uint32_t cp) {
  auto it = std::upper_bound(std::begin(kHfNfcUnknown), std::end(kHfNfcUnknown), cp,
                             [](uint32_t v, const CodePointRange& r) { return v < r.first; });
  return it != std::begin(kHfNfcUnknown) && cp <= (it - 1)->last;
}

// NFC of one chunk (a starter and the non-starters after it) with utf8proc, appended to out.
static void nfc_chunk(const unsigned char* s, size_t n, std::string& out) {
  const auto options = utf8proc_option_t(UTF8PROC_STABLE | UTF8PROC_COMPOSE);
  int32_t stack[64];
  std::vector<int32_t> heap;
  int32_t* buf = stack;
  utf8proc_ssize_t len = utf8proc_decompose(s, utf8proc_ssize_t(n), buf, 64, options);
  if (len > 64) {
    heap.resize(size_t(len));
    buf = heap.data();
    len = utf8proc_decompose(s, utf8proc_ssize_t(n), buf, len, options);
  }
  if (len < 0) {  // cannot happen on validated UTF-8; keep the text rather than lose it
    out.append(reinterpret_cast<const char*>(s), n);
    return;
  }
  len = utf8proc_normalize_utf32(buf, len, options);
  for (utf8proc_ssize_t k = 0; k < len; ++k) {
    uint32_t cp = uint32_t(buf[k]);
    // A composite HF does not know can only have come from composing its parts (the chunk never starts with
    // an HF-unknown code point, see nfc_hf): HF leaves those parts uncomposed.
    if (cp >= 0x300 && hf_nfc_unknown(cp)) {
      int32_t parts[8];
      int boundclass = UTF8PROC_BOUNDCLASS_START;
      utf8proc_ssize_t np = utf8proc_decompose_char(int32_t(cp), parts, 8, UTF8PROC_DECOMPOSE, &boundclass);
      for (utf8proc_ssize_t q = 0; q < np && q < 8; ++q) append_utf8(out, uint32_t(parts[q]));
      continue;
    }
    append_utf8(out, cp);
  }
}

static bool is_white_space(uint32_t cp) {  // Unicode White_Space, what Oniguruma's \s matches
  return (cp >= 0x09 && cp <= 0x0D) || cp == 0x20 || cp == 0x85 || cp == 0xA0 || cp == 0x1680 ||
         (cp >= 0x2000 && cp <= 0x200A) || cp == 0x2028 || cp == 0x2029 || cp == 0x202F || cp == 0x205F ||
         cp == 0x3000;
}

CharClass utf8proc_char_class(uint32_t cp) {
  if (is_white_space(cp)) return CharClass::kSpace;
  switch (utf8proc_category(int32_t(cp))) {
    case UTF8PROC_CATEGORY_LU:
    case UTF8PROC_CATEGORY_LL:
    case UTF8PROC_CATEGORY_LT:
    case UTF8PROC_CATEGORY_LM:
    case UTF8PROC_CATEGORY_LO:
      return CharClass::kLetter;
    case UTF8PROC_CATEGORY_ND:
    case UTF8PROC_CATEGORY_NL:
    case UTF8PROC_CATEGORY_NO:
      return CharClass::kNumber;
    default:
      return CharClass::kOther;
  }
}

static uint8_t compute_info(uint32_t cp, CharClass cls_value) {
  uint8_t cls = uint8_t(cls_value);
  if (cp >= 0xD800 && cp <= 0xDFFF) return cls;
  // An NFC boundary: nothing before it can change it or what follows (combining class 0, never the second
  // half of a composition, unchanged by NFC on its own). HF-unknown code points are boundaries for HF.
  bool boundary = true;
  if (!hf_nfc_unknown(cp)) {
    const utf8proc_property_t* p = utf8proc_get_property(int32_t(cp));
    bool second = (p->comb_index != UINT16_MAX && (p->comb_index & 0x8000)) ||
                  (cp >= 0x1161 && cp <= 0x1175) || (cp >= 0x11A8 && cp <= 0x11C2);  // Hangul V and T jamo
    if (p->combining_class != 0 || second) {
      boundary = false;
    } else if (p->decomp_seqindex != UINT16_MAX && p->decomp_type == 0) {  // canonical decomposition
      unsigned char b[4];
      size_t n = size_t(utf8proc_encode_char(int32_t(cp), b));
      std::string out;
      nfc_chunk(b, n, out);
      boundary = out.size() == n && std::memcmp(out.data(), b, n) == 0;
    }
  }
  return uint8_t(cls | (boundary ? kNfcBoundary : 0));
}

const uint8_t* char_info_table() {
  static const std::vector<uint8_t> table = [] {
    std::vector<uint8_t> t(0x110000, uint8_t(CharClass::kOther));
    for (const ClassRange& r : kHfCharClasses)
      for (uint32_t cp = r.first; cp <= r.last; ++cp) t[cp] = uint8_t(r.cls);
    for (uint32_t cp = 0; cp < 0x110000; ++cp) t[cp] = compute_info(cp, CharClass(t[cp]));
    return t;
  }();
  return table.data();
}

bool nfc_hf(std::string_view text, std::string& out) {
  const auto* s = reinterpret_cast<const unsigned char*>(text.data());
  const size_t n = text.size();
  const uint8_t* info = char_info_table();
  bool changed = false;
  size_t copied = 0;      // text[0, copied) is already in out (once changed)
  size_t chunk = 0;       // start of the current chunk: the last boundary code point
  bool has_tail = false;  // whether non-boundary code points follow it
  std::string tmp;
  auto flush_chunk = [&](size_t end) {
    tmp.clear();
    size_t a = chunk;
    size_t len;
    uint32_t first = decode_utf8(s + a, len);
    if ((info[first] & kNfcBoundary) &&
        hf_nfc_unknown(first)) {  // HF: an unknown starter composes with nothing
      tmp.append(reinterpret_cast<const char*>(s + a), len);
      a += len;
    }
    nfc_chunk(s + a, end - a, tmp);
    if (tmp.size() == end - chunk && std::memcmp(tmp.data(), s + chunk, tmp.size()) == 0) return;
    if (!changed) {
      out.clear();
      changed = true;
    }
    out.append(text.data() + copied, chunk - copied);
    out += tmp;
    copied = end;
  };
  size_t i = 0;
  while (i < n) {
    if (s[i] < 0x80) {  // ASCII is always a boundary
      if (has_tail) flush_chunk(i), has_tail = false;
      chunk = i++;
      continue;
    }
    size_t len;
    uint32_t cp = decode_utf8(s + i, len);
    if (info[cp] & kNfcBoundary) {
      if (has_tail) flush_chunk(i), has_tail = false;
      chunk = i;
    } else {
      has_tail = true;
    }
    i += len;
  }
  if (has_tail) flush_chunk(n);
  if (changed) out.append(text.data() + copied, n - copied);
  return changed;
}

}  // namespace qwen3::tok
