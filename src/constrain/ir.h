// The constraint engine's intermediate form: a context-free grammar over bytes (and special-token symbols).
// A rule is a list of alternatives, each a sequence of elements: a byte set, a special token, or a rule
// reference. Every front end (JSON Schema, GBNF, regex, literals) lowers into it; build() flattens it for the
// matcher (matcher.cpp), which runs it as a pushdown automaton with a set of stacks, determinised lazily.
#pragma once

#include <array>
#include <cstdint>
#include <map>
#include <string>
#include <string_view>
#include <vector>

#include "constrain/constrain.h"

namespace qwen3::constrain {

struct ByteSet {
  std::array<uint64_t, 4> w{};
  void set(int b) { w[b >> 6] |= uint64_t(1) << (b & 63); }
  void set_range(int lo, int hi) {
    for (int b = lo; b <= hi; b++) set(b);
  }
  bool test(int b) const { return (w[b >> 6] >> (b & 63)) & 1; }
  bool empty() const { return !(w[0] | w[1] | w[2] | w[3]); }
  bool operator<(const ByteSet& o) const { return w < o.w; }
  bool operator==(const ByteSet& o) const { return w == o.w; }
};

struct Elem {
  enum Kind : uint8_t { kBytes, kSpecial, kRule, kEnd };
  Kind kind;
  int32_t id;  // byte-set index, special token id, rule index
};

struct IrRule {
  std::vector<std::vector<Elem>> alts;
};

// A code point range [lo, hi] (inclusive).
struct CpRange {
  uint32_t lo, hi;
  auto operator<=>(const CpRange&) const = default;
};

// The grammar being built, shared by the front ends. Rules are appended; a rule may be declared first and
// defined later (recursion).
struct Ir {
  std::vector<IrRule> rules;
  std::vector<ByteSet> sets;
  std::map<ByteSet, int32_t> set_index;
  std::map<std::string, int32_t> literal_cache;
  std::map<std::vector<CpRange>, int32_t> class_cache;
  Limits limits;

  int32_t new_rule() {
    check_size();
    rules.emplace_back();
    return int32_t(rules.size() - 1);
  }
  void check_size() const {
    if (rules.size() >= limits.max_rules)
      throw CompileError("grammar too large: more than " + std::to_string(limits.max_rules) + " rules",
                         "grammar", "");
  }
  int32_t byte_set(const ByteSet& s) {
    auto it = set_index.find(s);
    if (it != set_index.end()) return it->second;
    sets.push_back(s);
    return set_index[s] = int32_t(sets.size() - 1);
  }
  Elem bytes(const ByteSet& s) { return Elem{Elem::kBytes, byte_set(s)}; }
  Elem byte(int b) {
    ByteSet s;
    s.set(b);
    return bytes(s);
  }
  static Elem ref(int32_t rule) { return Elem{Elem::kRule, rule}; }

  // Rules with one alternative.
  int32_t seq_rule(std::vector<Elem> elems) {
    int32_t r = new_rule();
    rules[r].alts.push_back(std::move(elems));
    return r;
  }
  int32_t alt_rule(const std::vector<int32_t>& choices) {
    int32_t r = new_rule();
    for (int32_t c : choices) rules[r].alts.push_back({ref(c)});
    return r;
  }
  // Appends an alternative (the rules may have grown while its elements were made).
  void add_alt(int32_t r, std::vector<Elem> alt) { rules[size_t(r)].alts.push_back(std::move(alt)); }
  int32_t empty_rule() { return seq_rule({}); }
  int32_t nothing_rule() { return new_rule(); }  // no alternative: matches nothing
  int32_t literal(std::string_view bytes);
  // Code point ranges (sorted or not, surrogates dropped) as UTF-8 byte sequences.
  int32_t char_class(std::vector<CpRange> ranges);
  // r{min,max}; max < 0: unbounded.
  int32_t repeat(int32_t r, int min, int max);
  int32_t optional(int32_t r) { return repeat(r, 0, 1); }
};

std::vector<CpRange> normalize_ranges(std::vector<CpRange> ranges);  // sorted, merged, surrogates removed
std::vector<CpRange> complement_ranges(const std::vector<CpRange>& ranges);
void append_utf8(std::string& out, uint32_t cp);
// Decodes one code point at s[i] (advancing i); false on invalid UTF-8.
bool next_utf8(std::string_view s, size_t& i, uint32_t& cp);

}  // namespace qwen3::constrain
