// Regular expressions (an ECMA-262 subset) lowered into the grammar form.
//
// Supported: literals, escapes (\d \D \w \W \s \S \n \r \t \f \v \0 \xHH \uHHHH \u{H..} \cX, identity
// escapes), classes with ranges and negation, `.`, groups (capturing, (?:...), (?<name>...)), alternation,
// the quantifiers
// * + ? {n} {n,} {n,m} (lazy ones too: same language), ^ and $ at the ends of top-level alternatives. Refused
// (CompileError): lookaround, backreferences, \b \B, \p{...}, inline flags, anchors elsewhere.
#include <memory>

#include "constrain/frontends.h"

namespace qwen3::constrain {

namespace {

struct Node {
  enum Kind { kClass, kSeq, kAlt, kRepeat, kStart, kEnd } kind;
  std::vector<CpRange> ranges;
  std::vector<std::unique_ptr<Node>> kids;
  int min = 0, max = 0;
};
using NodeP = std::unique_ptr<Node>;

const std::vector<CpRange> kDigit = {{'0', '9'}};
const std::vector<CpRange> kWord = {{'0', '9'}, {'A', 'Z'}, {'_', '_'}, {'a', 'z'}};
const std::vector<CpRange> kSpace = {{9, 13},          {32, 32},         {0xA0, 0xA0},     {0x1680, 0x1680},
                                     {0x2000, 0x200A}, {0x2028, 0x2029}, {0x202F, 0x202F}, {0x205F, 0x205F},
                                     {0x3000, 0x3000}, {0xFEFF, 0xFEFF}};
const std::vector<CpRange> kDot = {{0, 9}, {11, 12}, {14, 0x2027}, {0x202A, 0x10FFFF}};

class Parser {
 public:
  Parser(std::string_view src, std::string keyword, std::string path)
      : src_(src), keyword_(std::move(keyword)), path_(std::move(path)) {
    size_t i = 0;
    while (i < src.size()) {
      uint32_t cp;
      if (!next_utf8(src, i, cp)) fail("the pattern is not valid UTF-8");
      cps_.push_back(cp);
    }
  }
  NodeP parse() {
    NodeP n = alt(0);
    if (pos_ < cps_.size()) fail("unbalanced )");
    return n;
  }
  [[noreturn]] void fail(const std::string& why) {
    throw CompileError(keyword_ + (path_.empty() ? "" : " at " + path_) + ": " + why + " in /" +
                           std::string(src_.substr(0, 200)) + "/",
                       keyword_, path_);
  }

 private:
  std::string_view src_;
  std::string keyword_, path_;
  std::vector<uint32_t> cps_;
  size_t pos_ = 0;

  bool more() const { return pos_ < cps_.size(); }
  uint32_t peek() const { return cps_[pos_]; }
  bool eat(uint32_t c) {
    if (more() && peek() == c) {
      pos_++;
      return true;
    }
    return false;
  }
  static NodeP make(Node::Kind k) {
    auto n = std::make_unique<Node>();
    n->kind = k;
    return n;
  }
  static NodeP cls(std::vector<CpRange> r) {
    auto n = make(Node::kClass);
    n->ranges = std::move(r);
    return n;
  }

  NodeP alt(int depth) {
    if (depth > 100) fail("nested too deeply");
    auto a = make(Node::kAlt);
    a->kids.push_back(seq(depth));
    while (eat('|')) a->kids.push_back(seq(depth));
    return a;
  }
  NodeP seq(int depth) {
    auto s = make(Node::kSeq);
    while (more() && peek() != '|' && peek() != ')') {
      NodeP atom = this->atom(depth);
      s->kids.push_back(quantified(std::move(atom)));
    }
    return s;
  }
  bool read_int(int& v) {
    size_t start = pos_;
    v = 0;
    while (more() && peek() >= '0' && peek() <= '9') {
      v = std::min(v * 10 + int(peek() - '0'), 1000000);
      pos_++;
    }
    return pos_ > start;
  }
  NodeP quantified(NodeP atom) {
    while (more()) {
      int mn, mx;
      uint32_t c = peek();
      size_t save = pos_;
      if (c == '*') {
        mn = 0, mx = -1, pos_++;
      } else if (c == '+') {
        mn = 1, mx = -1, pos_++;
      } else if (c == '?') {
        mn = 0, mx = 1, pos_++;
      } else if (c == '{') {
        pos_++;
        if (!read_int(mn)) {
          pos_ = save;
          return atom;  // a literal '{' (Annex B)
        }
        mx = mn;
        if (eat(',')) {
          if (!read_int(mx)) mx = -1;
        }
        if (!eat('}')) {
          pos_ = save;
          return atom;
        }
        if (mx >= 0 && mx < mn) fail("numbers out of order in {} quantifier");
        if (mn > 10000 || mx > 10000) fail("repetition count too large (limit 10000)");
      } else {
        return atom;
      }
      eat('?');  // lazy: same language
      if (atom->kind == Node::kStart || atom->kind == Node::kEnd) fail("quantified anchor");
      auto r = make(Node::kRepeat);
      r->min = mn, r->max = mx;
      r->kids.push_back(std::move(atom));
      atom = std::move(r);
    }
    return atom;
  }
  uint32_t hex(int n) {
    uint32_t v = 0;
    for (int k = 0; k < n; k++) {
      if (!more() || !isxdigit(int(peek()))) fail("bad hex escape");
      uint32_t c = peek();
      v = v * 16 + (c <= '9' ? c - '0' : (c | 0x20) - 'a' + 10);
      pos_++;
    }
    return v;
  }
  // After a backslash: a class (ranges) or one code point.
  std::vector<CpRange> escape(bool in_class) {
    if (!more()) fail("\\ at end of pattern");
    uint32_t c = cps_[pos_++];
    auto one = [](uint32_t x) { return std::vector<CpRange>{{x, x}}; };
    switch (c) {
      case 'd':
        return kDigit;
      case 'D':
        return complement_ranges(kDigit);
      case 'w':
        return kWord;
      case 'W':
        return complement_ranges(kWord);
      case 's':
        return kSpace;
      case 'S':
        return complement_ranges(kSpace);
      case 'n':
        return one('\n');
      case 'r':
        return one('\r');
      case 't':
        return one('\t');
      case 'f':
        return one('\f');
      case 'v':
        return one('\v');
      case '0':
        if (more() && peek() >= '0' && peek() <= '9') fail("octal escapes are not supported");
        return one(0);
      case 'x':
        return one(hex(2));
      case 'u':
        if (eat('{')) {
          uint32_t v = 0;
          int n = 0;
          while (more() && peek() != '}') v = v * 16 + hex(1), n++;
          if (!eat('}') || n == 0 || v > 0x10FFFF) fail("bad \\u{} escape");
          return one(v);
        }
        return one(hex(4));
      case 'c':
        if (more() && ((peek() | 0x20) >= 'a' && (peek() | 0x20) <= 'z')) return one(cps_[pos_++] % 32);
        fail("bad \\c escape");
      case 'b':
        if (in_class) return one('\b');
        fail("\\b (word boundary) is not supported");
      case 'B':
        fail("\\B (word boundary) is not supported");
      case 'p':
      case 'P':
        fail("Unicode property escapes are not supported");
      case 'k':
        fail("named backreferences are not supported");
      default:
        if (c >= '1' && c <= '9') fail("backreferences are not supported");
        if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z'))
          fail(std::string("unknown escape \\") + char(c));
        return one(c);
    }
  }
  NodeP char_class() {
    bool negate = eat('^');
    std::vector<CpRange> r;
    while (true) {
      if (!more()) fail("unterminated character class");
      if (eat(']')) break;
      std::vector<CpRange> a;
      if (eat('\\'))
        a = escape(true);
      else
        a = {{cps_[pos_], cps_[pos_]}}, pos_++;
      if (a.size() == 1 && a[0].lo == a[0].hi && more() && peek() == '-' && pos_ + 1 < cps_.size() &&
          cps_[pos_ + 1] != ']') {
        pos_++;
        std::vector<CpRange> b;
        if (eat('\\'))
          b = escape(true);
        else
          b = {{cps_[pos_], cps_[pos_]}}, pos_++;
        if (b.size() != 1 || b[0].lo != b[0].hi) fail("class escape as a range end");
        if (b[0].lo < a[0].lo) fail("range out of order in character class");
        r.push_back({a[0].lo, b[0].lo});
      } else {
        r.insert(r.end(), a.begin(), a.end());
      }
    }
    return cls(negate ? complement_ranges(r) : normalize_ranges(r));
  }
  NodeP atom(int depth) {
    uint32_t c = cps_[pos_++];
    switch (c) {
      case '(': {
        if (eat('?')) {
          if (eat(':')) {
          } else if (more() && peek() == '<' && pos_ + 1 < cps_.size() && cps_[pos_ + 1] != '=' &&
                     cps_[pos_ + 1] != '!') {
            while (more() && peek() != '>') pos_++;
            if (!eat('>')) fail("bad group name");
          } else if (more() && (peek() == '=' || peek() == '!' || peek() == '<')) {
            fail("lookaround assertions are not supported");
          } else {
            fail("inline flags are not supported");
          }
        }
        NodeP n = alt(depth + 1);
        if (!eat(')')) fail("missing )");
        return n;
      }
      case ')':
        fail("unbalanced )");
      case '[':
        return char_class();
      case '.':
        return cls(kDot);
      case '^':
        return make(Node::kStart);
      case '$':
        return make(Node::kEnd);
      case '\\':
        return cls(escape(false));
      case '*':
      case '+':
      case '?':
        fail("nothing to repeat");
      default:
        return cls({{c, c}});
    }
  }
};

struct Lowering {
  Ir& ir;
  RegexMode mode;
  Parser& parser;
  std::map<std::vector<CpRange>, int32_t> json_classes;

  // One character of the class as it appears in the output.
  int32_t char_rule(const std::vector<CpRange>& r0) {
    auto r = normalize_ranges(r0);
    if (mode == RegexMode::kRaw) return ir.char_class(r);
    auto it = json_classes.find(r);
    if (it != json_classes.end()) return it->second;
    std::vector<CpRange> raw;
    std::vector<int32_t> alts;
    static const char* hex = "0123456789abcdef";
    for (auto x : r) {
      for (uint32_t c = x.lo; c <= std::min<uint32_t>(x.hi, 0x5C); c++) {
        if (c >= 0x20 && c != '"' && c != '\\') continue;
        std::string short_form;
        if (c == '"') short_form = "\\\"";
        if (c == '\\') short_form = "\\\\";
        if (c == '\n') short_form = "\\n";
        if (c == '\r') short_form = "\\r";
        if (c == '\t') short_form = "\\t";
        if (c == '\b') short_form = "\\b";
        if (c == '\f') short_form = "\\f";
        if (!short_form.empty()) alts.push_back(ir.literal(short_form));
        // \u00XX, hex digits of either case
        ByteSet h1, h2;
        h1.set(hex[c >> 4]);
        h2.set(hex[c & 15]);
        if ((c & 15) >= 10) h2.set(hex[c & 15] - 'a' + 'A');
        alts.push_back(ir.seq_rule(
            {ir.byte('\\'), ir.byte('u'), ir.byte('0'), ir.byte('0'), ir.bytes(h1), ir.bytes(h2)}));
      }
      uint32_t lo = x.lo, hi = x.hi;
      // raw: everything but controls, '"' and '\'
      std::vector<CpRange> ok{{0x20, 0x21}, {0x23, 0x5B}, {0x5D, 0x10FFFF}};
      for (auto o : ok) {
        uint32_t a = std::max(lo, o.lo), b = std::min(hi, o.hi);
        if (a <= b) raw.push_back({a, b});
      }
    }
    if (!raw.empty()) alts.push_back(ir.char_class(raw));
    int32_t rule = ir.alt_rule(alts);
    json_classes[r] = rule;
    return rule;
  }

  // min/max characters of a node
  static void sizes(const Node& n, int64_t& mn, int64_t& mx) {
    switch (n.kind) {
      case Node::kClass:
        mn = mx = 1;
        return;
      case Node::kStart:
      case Node::kEnd:
        mn = mx = 0;
        return;
      case Node::kSeq: {
        mn = 0, mx = 0;
        for (auto& k : n.kids) {
          int64_t a, b;
          sizes(*k, a, b);
          mn += a;
          mx = (mx < 0 || b < 0) ? -1 : mx + b;
        }
        return;
      }
      case Node::kAlt: {
        mn = INT64_MAX, mx = 0;
        for (auto& k : n.kids) {
          int64_t a, b;
          sizes(*k, a, b);
          mn = std::min(mn, a);
          mx = (mx < 0 || b < 0) ? -1 : std::max(mx, b);
        }
        if (n.kids.empty()) mn = 0;
        return;
      }
      case Node::kRepeat: {
        int64_t a, b;
        sizes(*n.kids[0], a, b);
        mn = a * n.min;
        mx = (n.max < 0 && b != 0) || b < 0 ? -1 : b * std::max(n.max, 0);
        return;
      }
    }
  }

  int32_t lower(const Node& n) {
    switch (n.kind) {
      case Node::kClass:
        return n.ranges.empty() ? ir.nothing_rule() : char_rule(n.ranges);
      case Node::kStart:
      case Node::kEnd:
        parser.fail("^ and $ are supported only at the start and end of the pattern");
      case Node::kSeq: {
        std::vector<Elem> e;
        for (auto& k : n.kids) e.push_back(Ir::ref(lower(*k)));
        return ir.seq_rule(std::move(e));
      }
      case Node::kAlt: {
        if (n.kids.size() == 1) return lower(*n.kids[0]);
        std::vector<int32_t> a;
        for (auto& k : n.kids) a.push_back(lower(*k));
        return ir.alt_rule(a);
      }
      case Node::kRepeat:
        return ir.repeat(lower(*n.kids[0]), n.min, n.max);
    }
    return ir.nothing_rule();
  }
};

}  // namespace

int32_t compile_regex(Ir& ir, std::string_view pattern, RegexMode mode, RegexInfo* info,
                      const std::string& keyword, const std::string& path) {
  if (pattern.size() > 100000) throw CompileError(keyword + ": pattern too long", keyword, path);
  Parser parser(pattern, keyword, path);
  NodeP root = parser.parse();  // an alternation of sequences
  Lowering low{ir, mode, parser, {}};
  std::vector<int32_t> alts;
  int64_t mn = INT64_MAX, mx = 0;
  int32_t any = -1;
  for (auto& s : root->kids) {
    auto& kids = s->kids;
    bool start = false, end = false;
    while (!kids.empty() && kids.front()->kind == Node::kStart) kids.erase(kids.begin()), start = true;
    while (!kids.empty() && kids.back()->kind == Node::kEnd) kids.pop_back(), end = true;
    // A group holding anchored alternatives, as in ^(a|b)$, stays as it is: anchors inside are refused.
    int64_t a, b;
    Lowering::sizes(*s, a, b);
    int32_t body = low.lower(*s);
    if (mode == RegexMode::kJsonString && (!start || !end)) {
      if (any < 0) any = ir.repeat(low.char_rule({{0, 0x10FFFF}}), 0, -1);
      std::vector<Elem> e;
      if (!start) e.push_back(Ir::ref(any));
      e.push_back(Ir::ref(body));
      if (!end) e.push_back(Ir::ref(any));
      body = ir.seq_rule(std::move(e));
      b = -1;
    }
    mn = std::min(mn, a);
    mx = (mx < 0 || b < 0) ? -1 : std::max(mx, b);
    alts.push_back(body);
  }
  if (info) {
    info->min_chars = mn == INT64_MAX ? 0 : mn;
    info->max_chars = mx;
  }
  return alts.size() == 1 ? alts[0] : ir.alt_rule(alts);
}

}  // namespace qwen3::constrain
