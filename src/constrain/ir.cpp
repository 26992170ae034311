// Building blocks of the grammar form: literals, code point classes as UTF-8 byte sequences, repetition.
#include <algorithm>

#include "constrain/ir.h"

namespace qwen3::constrain {

void append_utf8(std::string& out, uint32_t cp) {
  if (cp < 0x80) {
    out += char(cp);
  } else if (cp < 0x800) {
    out += char(0xC0 | (cp >> 6));
    out += char(0x80 | (cp & 0x3F));
  } else if (cp < 0x10000) {
    out += char(0xE0 | (cp >> 12));
    out += char(0x80 | ((cp >> 6) & 0x3F));
    out += char(0x80 | (cp & 0x3F));
  } else {
    out += char(0xF0 | (cp >> 18));
    out += char(0x80 | ((cp >> 12) & 0x3F));
    out += char(0x80 | ((cp >> 6) & 0x3F));
    out += char(0x80 | (cp & 0x3F));
  }
}

bool next_utf8(std::string_view s, size_t& i, uint32_t& cp) {
  auto b = [&](size_t k) { return uint8_t(s[k]); };
  uint8_t c = b(i);
  int n;
  uint32_t min;
  if (c < 0x80) {
    cp = c;
    i++;
    return true;
  } else if (c >= 0xC2 && c <= 0xDF) {
    n = 1, cp = c & 0x1F, min = 0x80;
  } else if (c >= 0xE0 && c <= 0xEF) {
    n = 2, cp = c & 0x0F, min = 0x800;
  } else if (c >= 0xF0 && c <= 0xF4) {
    n = 3, cp = c & 0x07, min = 0x10000;
  } else {
    return false;
  }
  if (i + size_t(n) >= s.size()) return false;
  for (int k = 1; k <= n; k++) {
    uint8_t d = b(i + size_t(k));
    if ((d & 0xC0) != 0x80) return false;
    cp = (cp << 6) | (d & 0x3F);
  }
  if (cp < min || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF)) return false;
  i += size_t(n) + 1;
  return true;
}

std::vector<CpRange> normalize_ranges(std::vector<CpRange> r) {
  std::vector<CpRange> cut;
  for (auto x : r) {  // drop surrogates
    if (x.lo > x.hi) continue;
    x.hi = std::min<uint32_t>(x.hi, 0x10FFFF);
    if (x.lo > x.hi) continue;
    if (x.hi < 0xD800 || x.lo > 0xDFFF) {
      cut.push_back(x);
    } else {
      if (x.lo < 0xD800) cut.push_back({x.lo, 0xD7FF});
      if (x.hi > 0xDFFF) cut.push_back({0xE000, x.hi});
    }
  }
  std::sort(cut.begin(), cut.end(), [](CpRange a, CpRange b) { return a.lo < b.lo; });
  std::vector<CpRange> out;
  for (auto x : cut) {
    if (!out.empty() && x.lo <= out.back().hi + 1) {
      out.back().hi = std::max(out.back().hi, x.hi);
    } else {
      out.push_back(x);
    }
  }
  return out;
}

std::vector<CpRange> complement_ranges(const std::vector<CpRange>& ranges) {
  auto r = normalize_ranges(ranges);
  std::vector<CpRange> out;
  uint32_t next = 0;
  for (auto x : r) {
    if (x.lo > next) out.push_back({next, x.lo - 1});
    next = x.hi + 1;
  }
  if (next <= 0x10FFFF) out.push_back({next, 0x10FFFF});
  return normalize_ranges(out);
}

int32_t Ir::literal(std::string_view bytes) {
  std::string key(bytes);
  auto it = literal_cache.find(key);
  if (it != literal_cache.end()) return it->second;
  std::vector<Elem> e;
  for (unsigned char c : bytes) e.push_back(byte(c));
  int32_t r = seq_rule(std::move(e));
  literal_cache[key] = r;
  return r;
}

namespace {

// RE2's method: split [lo, hi] (same UTF-8 length) until every byte position is a plain range.
void utf8_split(uint32_t lo, uint32_t hi, std::vector<std::vector<std::pair<uint8_t, uint8_t>>>& out) {
  static const uint32_t kMax[] = {0x7F, 0x7FF, 0xFFFF, 0x10FFFF};
  for (int n = 0; n < 3; n++) {
    if (lo <= kMax[n] && hi > kMax[n]) {
      utf8_split(lo, kMax[n], out);
      utf8_split(kMax[n] + 1, hi, out);
      return;
    }
  }
  if (hi < 0x80) {
    out.push_back({{uint8_t(lo), uint8_t(hi)}});
    return;
  }
  for (int i = 1; i < 4; i++) {
    uint32_t m = (uint32_t(1) << (6 * i)) - 1;
    if ((lo & ~m) != (hi & ~m)) {
      if ((lo & m) != 0) {
        utf8_split(lo, lo | m, out);
        utf8_split((lo | m) + 1, hi, out);
        return;
      }
      if ((hi & m) != m) {
        utf8_split(lo, (hi & ~m) - 1, out);
        utf8_split(hi & ~m, hi, out);
        return;
      }
    }
  }
  std::string a, b;
  append_utf8(a, lo);
  append_utf8(b, hi);
  std::vector<std::pair<uint8_t, uint8_t>> seq;
  for (size_t k = 0; k < a.size(); k++) seq.emplace_back(uint8_t(a[k]), uint8_t(b[k]));
  out.push_back(std::move(seq));
}

}  // namespace

int32_t Ir::char_class(std::vector<CpRange> ranges) {
  ranges = normalize_ranges(std::move(ranges));
  auto it = class_cache.find(ranges);
  if (it != class_cache.end()) return it->second;
  std::vector<std::vector<std::pair<uint8_t, uint8_t>>> seqs;
  for (auto x : ranges) utf8_split(x.lo, x.hi, seqs);
  int32_t r = new_rule();
  ByteSet ascii;
  // Sequences that share all but their last byte range share one alternative with a merged last set.
  std::map<std::vector<ByteSet>, ByteSet> by_prefix;
  for (auto& s : seqs) {
    std::vector<ByteSet> prefix;
    for (size_t k = 0; k + 1 < s.size(); k++) {
      ByteSet b;
      b.set_range(s[k].first, s[k].second);
      prefix.push_back(b);
    }
    by_prefix[prefix].set_range(s.back().first, s.back().second);
  }
  for (auto& [prefix, last] : by_prefix) {
    std::vector<Elem> alt;
    for (auto& b : prefix) alt.push_back(bytes(b));
    alt.push_back(bytes(last));
    rules[size_t(r)].alts.push_back(std::move(alt));
  }
  class_cache[ranges] = r;
  return r;
}

int32_t Ir::repeat(int32_t r, int min, int max) {
  if (max >= 0 && max < min) return nothing_rule();
  if (min > 100000 || max > 100000)
    throw CompileError("repetition count too large (more than 100000)", "grammar", "");
  std::vector<Elem> head(size_t(min), ref(r));
  int32_t tail = -1;
  if (max < 0) {  // S -> r S | empty
    tail = new_rule();
    rules[size_t(tail)].alts.push_back({ref(r), ref(tail)});
    rules[size_t(tail)].alts.push_back({});
  } else {  // O_k -> r O_{k-1} | empty
    for (int k = 0; k < max - min; k++) {
      int32_t o = new_rule();
      if (tail < 0) {
        rules[size_t(o)].alts.push_back({ref(r)});
      } else {
        rules[size_t(o)].alts.push_back({ref(r), ref(tail)});
      }
      rules[size_t(o)].alts.push_back({});
      tail = o;
    }
  }
  if (tail >= 0) head.push_back(ref(tail));
  return seq_rule(std::move(head));
}

}  // namespace qwen3::constrain
