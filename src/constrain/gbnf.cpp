// llama.cpp's GBNF grammars lowered into the grammar form.
//
// name ::= alternatives; "literals" and [classes] with llama.cpp's escapes (\n \r \t \\ \" \[ \] \- \xHH
// \uHHHH \UHHHHHHHH), `.` (any character), ( groups ), rule references, * + ? {m} {m,} {m,n}, # comments, and
// <[id]> (exactly that token). Rules may be used before they are defined; `root` is the start. Refused:
// !<[id]> (any token but one), undefined rules, left recursion (at build).
#include <set>

#include "constrain/engine.h"
#include "constrain/frontends.h"

namespace qwen3::constrain {

namespace {

class GbnfParser {
 public:
  GbnfParser(Ir& ir, std::string_view src, const Vocabulary& vocab) : ir_(ir), s_(src), vocab_(vocab) {}

  int32_t parse() {
    if (s_.size() > (1u << 20)) fail("grammar too large (limit 1 MiB)");
    skip(true);
    while (pos_ < s_.size()) {
      std::string name = word();
      if (name.empty()) fail("expected a rule name");
      skip(false);
      if (s_.substr(pos_, 3) != "::=") fail("expected ::= after " + name);
      pos_ += 3;
      skip(true);
      int32_t r = rule(name);
      if (defined_.count(name)) fail("rule " + name + " defined twice");
      defined_.insert(name);
      alternates(r, 0);
      skip(true);
    }
    for (auto& [name, r] : rules_)
      if (!defined_.count(name)) fail("undefined rule " + name);
    auto it = rules_.find("root");
    if (it == rules_.end()) fail("no root rule");
    return it->second;
  }

 private:
  Ir& ir_;
  std::string_view s_;
  const Vocabulary& vocab_;
  size_t pos_ = 0;
  std::map<std::string, int32_t> rules_;
  std::set<std::string> defined_;

  [[noreturn]] void fail(const std::string& why) {
    size_t line = 1;
    for (size_t i = 0; i < pos_ && i < s_.size(); i++) line += s_[i] == '\n';
    throw CompileError("grammar: " + why + " (line " + std::to_string(line) + ")", "grammar", "");
  }
  int32_t rule(const std::string& name) {
    auto it = rules_.find(name);
    if (it != rules_.end()) return it->second;
    int32_t r = ir_.new_rule();
    rules_[name] = r;
    return r;
  }
  static bool word_char(char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-' || c == '_';
  }
  std::string word() {
    size_t start = pos_;
    while (pos_ < s_.size() && word_char(s_[pos_])) pos_++;
    return std::string(s_.substr(start, pos_ - start));
  }
  // Spaces and comments; newlines too when `newlines` (inside groups, after | and ::=).
  void skip(bool newlines) {
    while (pos_ < s_.size()) {
      char c = s_[pos_];
      if (c == ' ' || c == '\t' || (newlines && (c == '\n' || c == '\r'))) {
        pos_++;
      } else if (c == '#') {
        while (pos_ < s_.size() && s_[pos_] != '\n') pos_++;
      } else {
        break;
      }
    }
  }
  // A newline (outside groups) ends a rule unless the next line goes on with '|'.
  bool continues_with_bar() {
    size_t save = pos_;
    skip(true);
    if (pos_ < s_.size() && s_[pos_] == '|') return true;
    pos_ = save;
    return false;
  }
  void alternates(int32_t r, int depth) {
    if (depth > 100) fail("nested too deeply");
    while (true) {
      ir_.add_alt(r, sequence(depth));
      if (pos_ < s_.size() && s_[pos_] == '|') {
        pos_++;
        skip(true);
        continue;
      }
      if (depth == 0 && continues_with_bar()) {
        pos_++;
        skip(true);
        continue;
      }
      break;
    }
  }
  uint32_t code_point() {
    size_t i = pos_;
    uint32_t cp;
    if (!next_utf8(s_, i, cp)) fail("invalid UTF-8");
    pos_ = i;
    return cp;
  }
  uint32_t hex(int n) {
    uint32_t v = 0;
    for (int k = 0; k < n; k++) {
      if (pos_ >= s_.size() || !isxdigit(uint8_t(s_[pos_]))) fail("bad hex escape");
      char c = s_[pos_++];
      v = v * 16 + uint32_t(c <= '9' ? c - '0' : (c | 0x20) - 'a' + 10);
    }
    return v;
  }
  uint32_t char_or_escape() {
    if (pos_ >= s_.size()) fail("unexpected end of grammar");
    if (s_[pos_] != '\\') return code_point();
    pos_++;
    if (pos_ >= s_.size()) fail("unexpected end of grammar");
    char c = s_[pos_++];
    switch (c) {
      case 'n':
        return '\n';
      case 'r':
        return '\r';
      case 't':
        return '\t';
      case 'x':
        return hex(2);
      case 'u':
        return hex(4);
      case 'U':
        return hex(8);
      case '\\':
      case '"':
      case '[':
      case ']':
      case '-':
      case '/':
      case '.':
      case '\'':
        return uint32_t(c);
      default:
        fail(std::string("unknown escape \\") + c);
    }
  }
  std::vector<Elem> sequence(int depth) {
    std::vector<Elem> out;
    while (true) {
      skip(depth > 0);
      if (pos_ >= s_.size()) break;
      char c = s_[pos_];
      int32_t item;
      if (c == '"') {
        pos_++;
        std::string bytes;
        while (pos_ < s_.size() && s_[pos_] != '"') {
          uint32_t cp = char_or_escape();
          if (cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF)) fail("code point out of range");
          append_utf8(bytes, cp);
        }
        if (pos_ >= s_.size()) fail("unterminated literal");
        pos_++;
        item = ir_.literal(bytes);
      } else if (c == '[') {
        pos_++;
        bool negate = pos_ < s_.size() && s_[pos_] == '^';
        if (negate) pos_++;
        std::vector<CpRange> r;
        while (pos_ < s_.size() && s_[pos_] != ']') {
          uint32_t a = char_or_escape(), b = a;
          if (pos_ + 1 < s_.size() && s_[pos_] == '-' && s_[pos_ + 1] != ']') {
            pos_++;
            b = char_or_escape();
          }
          if (b < a) fail("range out of order in character class");
          r.push_back({a, b});
        }
        if (pos_ >= s_.size()) fail("unterminated character class");
        pos_++;
        auto ranges = negate ? complement_ranges(r) : normalize_ranges(r);
        item = ranges.empty() ? ir_.nothing_rule() : ir_.char_class(ranges);
      } else if (c == '.') {
        pos_++;
        item = ir_.char_class({{0, 0x10FFFF}});
      } else if (c == '(') {
        pos_++;
        skip(true);
        item = ir_.new_rule();
        alternates(item, depth + 1);
        skip(true);
        if (pos_ >= s_.size() || s_[pos_] != ')') fail("expected )");
        pos_++;
      } else if (c == '<' && s_.substr(pos_, 2) == "<[") {
        pos_ += 2;
        size_t start = pos_;
        while (pos_ < s_.size() && isdigit(uint8_t(s_[pos_]))) pos_++;
        if (pos_ == start || pos_ - start > 9 || s_.substr(pos_, 2) != "]>")
          fail("bad token reference <[id]>");
        int64_t id = std::stoll(std::string(s_.substr(start, pos_ - start)));
        pos_ += 2;
        if (id >= vocab_.n_vocab) fail("token id " + std::to_string(id) + " outside the vocabulary");
        item = ir_.seq_rule({Elem{Elem::kSpecial, int32_t(id)}});
      } else if (c == '!' && s_.substr(pos_, 3) == "!<[") {
        fail("negated token references !<[id]> are not supported");
      } else if (word_char(c)) {
        size_t save = pos_;
        std::string name = word();
        size_t after = pos_;
        skip(false);
        if (s_.substr(pos_, 3) == "::=") {  // the next rule starts here (no newline before it)
          pos_ = save;
          break;
        }
        pos_ = after;
        item = rule(name);
      } else {
        break;  // '|', ')', newline, or an error the caller reports
      }
      // quantifiers
      while (pos_ < s_.size()) {
        char q = s_[pos_];
        if (q == '*') {
          pos_++, item = ir_.repeat(item, 0, -1);
        } else if (q == '+') {
          pos_++, item = ir_.repeat(item, 1, -1);
        } else if (q == '?') {
          pos_++, item = ir_.repeat(item, 0, 1);
        } else if (q == '{') {
          pos_++;
          skip(false);
          auto num = [&]() -> int {
            size_t start = pos_;
            while (pos_ < s_.size() && isdigit(uint8_t(s_[pos_]))) pos_++;
            if (pos_ == start) return -1;
            if (pos_ - start > 6) fail("repetition count too large");
            return std::stoi(std::string(s_.substr(start, pos_ - start)));
          };
          int mn = num(), mx;
          if (mn < 0) fail("expected a number in {}");
          skip(false);
          mx = mn;
          if (pos_ < s_.size() && s_[pos_] == ',') {
            pos_++;
            skip(false);
            mx = num();
          }
          skip(false);
          if (pos_ >= s_.size() || s_[pos_] != '}') fail("expected }");
          pos_++;
          if (mx >= 0 && mx < mn) fail("numbers out of order in {}");
          item = ir_.repeat(item, mn, mx);
        } else {
          break;
        }
      }
      out.push_back(Ir::ref(item));
    }
    if (pos_ < s_.size()) {
      char c = s_[pos_];
      if (c != '|' && c != ')' && c != '\n' && c != '\r' && !word_char(c))
        fail(std::string("unexpected character '") + c + "'");
    }
    return out;
  }
};

}  // namespace

int32_t compile_gbnf(Ir& ir, std::string_view text, const Vocabulary& vocab) {
  GbnfParser p(ir, text, vocab);
  return p.parse();
}

}  // namespace qwen3::constrain
