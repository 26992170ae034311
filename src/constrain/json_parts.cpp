// Pieces of the JSON grammar: whitespace, strings, numbers (with exact integer-bounded ranges), literals.
#include "constrain/json_parts.h"

#include <charconv>
#include <cmath>

namespace qwen3::constrain {

std::string py_json_string(std::string_view s) {
  std::string out = "\"";
  static const char* hex = "0123456789abcdef";
  for (unsigned char c : s) {
    switch (c) {
      case '"':
        out += "\\\"";
        break;
      case '\\':
        out += "\\\\";
        break;
      case '\n':
        out += "\\n";
        break;
      case '\r':
        out += "\\r";
        break;
      case '\t':
        out += "\\t";
        break;
      case '\b':
        out += "\\b";
        break;
      case '\f':
        out += "\\f";
        break;
      default:
        if (c < 0x20) {
          out += "\\u00";
          out += hex[c >> 4];
          out += hex[c & 15];
        } else {
          out += char(c);
        }
    }
  }
  return out + "\"";
}

int cmp_dec(const std::string& a, const std::string& b) {
  if (a.size() != b.size()) return a.size() < b.size() ? -1 : 1;
  return a < b ? -1 : (a > b ? 1 : 0);
}
std::string inc_dec(const std::string& a) {
  std::string r = a;
  int i = int(r.size()) - 1;
  while (i >= 0 && r[size_t(i)] == '9') r[size_t(i--)] = '0';
  if (i < 0) return "1" + r;
  r[size_t(i)]++;
  return r;
}
std::string dec_dec(const std::string& a) {
  std::string r = a;
  int i = int(r.size()) - 1;
  while (i >= 0 && r[size_t(i)] == '0') r[size_t(i--)] = '9';
  r[size_t(i)]--;
  if (r.size() > 1 && r[0] == '0') r.erase(0, 1);
  return r;
}

JsonParts::JsonParts(Ir& ir_, const JsonOptions& opt_) : ir(ir_), opt(opt_) {}

int32_t JsonParts::seq(std::initializer_list<int32_t> rules) {
  std::vector<Elem> e;
  for (int32_t r : rules) e.push_back(Ir::ref(r));
  return ir.seq_rule(std::move(e));
}

int32_t JsonParts::ws() {
  if (ws_ >= 0) return ws_;
  if (opt.flexible_whitespace) {
    ByteSet s;
    s.set(' '), s.set('\t'), s.set('\n'), s.set('\r');
    ws_ = ir.repeat(ir.seq_rule({ir.bytes(s)}), 0, -1);
  } else {
    ws_ = ir.empty_rule();
  }
  return ws_;
}

int32_t JsonParts::comma() {
  if (comma_ >= 0) return comma_;
  int32_t after = opt.flexible_whitespace ? ws() : ir.optional(lit(" "));
  return comma_ = seq({ws(), lit(","), after});
}

int32_t JsonParts::colon() {
  if (colon_ >= 0) return colon_;
  int32_t after = opt.flexible_whitespace ? ws() : ir.optional(lit(" "));
  return colon_ = seq({ws(), lit(":"), after});
}

int32_t JsonParts::string_char() {
  if (char_ >= 0) return char_;
  int32_t raw = ir.char_class({{0x20, 0x21}, {0x23, 0x5B}, {0x5D, 0x10FFFF}});
  ByteSet simple;
  for (char c : std::string("\"\\/bfnrt")) simple.set(c);
  int32_t esc_simple = ir.seq_rule({ir.byte('\\'), ir.bytes(simple)});
  auto hex_range = [&](std::string chars) {
    ByteSet s;
    for (char c : chars) {
      s.set(c);
      if (c >= 'A' && c <= 'F') s.set(c - 'A' + 'a');
    }
    return ir.bytes(s);
  };
  Elem hex = hex_range("0123456789ABCDEF");
  Elem u = ir.byte('u');
  Elem bs = ir.byte('\\');
  int32_t esc_u = ir.new_rule();
  // \uXXXX not a surrogate, or a high surrogate escape followed by a low one (one character).
  ir.add_alt(esc_u, {bs, u, hex_range("0123456789ABCEF"), hex, hex, hex});
  ir.add_alt(esc_u, {bs, u, hex_range("D"), hex_range("01234567"), hex, hex});
  ir.add_alt(esc_u, {bs, u, hex_range("D"), hex_range("89AB"), hex, hex, bs, u, hex_range("D"),
                     hex_range("CDEF"), hex, hex});
  return char_ = ir.alt_rule({raw, esc_simple, esc_u});
}

int32_t JsonParts::string_contents(int min, int max) {
  return ir.repeat(string_char(), min, max);
}

int32_t JsonParts::quoted(int32_t contents) {
  return seq({lit("\""), contents, lit("\"")});
}

int32_t JsonParts::any_integer() {
  if (any_integer_ >= 0) return any_integer_;
  return any_integer_ = integer_range(std::nullopt, std::nullopt);
}

int32_t JsonParts::any_number() {
  if (any_number_ >= 0) return any_number_;
  int32_t digit = ir.char_class({{'0', '9'}});
  int32_t digits = ir.repeat(digit, 1, -1);
  int32_t frac = ir.optional(seq({lit("."), digits}));
  ByteSet e, sign;
  e.set('e'), e.set('E'), sign.set('+'), sign.set('-');
  int32_t exp = ir.optional(
      ir.seq_rule({ir.bytes(e), Ir::ref(ir.optional(ir.seq_rule({ir.bytes(sign)}))), Ir::ref(digits)}));
  int32_t intpart = ir.alt_rule({lit("0"), seq({ir.char_class({{'1', '9'}}), ir.repeat(digit, 0, -1)})});
  return any_number_ = seq({ir.optional(lit("-")), intpart, frac, exp});
}

int32_t JsonParts::any_value() {
  if (any_value_ >= 0) return any_value_;
  any_value_ = ir.new_rule();
  int32_t v = any_value_;
  int32_t members = ir.optional(
      seq({any_string(), colon(), v, ir.repeat(seq({comma(), any_string(), colon(), v}), 0, -1)}));
  int32_t object = seq({lit("{"), ws(), members, ws(), lit("}")});
  int32_t items = ir.optional(seq({v, ir.repeat(seq({comma(), v}), 0, -1)}));
  int32_t array = seq({lit("["), ws(), items, ws(), lit("]")});
  for (int32_t r : {object, array, any_string(), any_number(), lit("true"), lit("false"), lit("null")})
    ir.add_alt(v, {Ir::ref(r)});
  return v;
}

// Same-length decimal strings lo <= hi: digit classes position by position.
int32_t JsonParts::digits_same_length(const std::string& lo, const std::string& hi) {
  size_t n = lo.size();
  auto digit_set = [&](char a, char b) {
    ByteSet s;
    s.set_range(a, b);
    return ir.bytes(s);
  };
  if (n == 0) return ir.empty_rule();
  if (lo == hi) return lit(lo);
  if (lo[0] == hi[0]) return seq({lit(lo.substr(0, 1)), digits_same_length(lo.substr(1), hi.substr(1))});
  std::string rest_lo = lo.substr(1), rest_hi = hi.substr(1);
  if (rest_lo == std::string(n - 1, '0') && rest_hi == std::string(n - 1, '9')) {
    std::vector<Elem> e{digit_set(lo[0], hi[0])};
    for (size_t k = 1; k < n; k++) e.push_back(digit_set('0', '9'));
    return ir.seq_rule(std::move(e));
  }
  std::vector<int32_t> alts;
  alts.push_back(seq({lit(lo.substr(0, 1)), digits_same_length(rest_lo, std::string(n - 1, '9'))}));
  if (lo[0] + 1 <= hi[0] - 1) {
    std::vector<Elem> e{digit_set(char(lo[0] + 1), char(hi[0] - 1))};
    for (size_t k = 1; k < n; k++) e.push_back(digit_set('0', '9'));
    alts.push_back(ir.seq_rule(std::move(e)));
  }
  alts.push_back(seq({lit(hi.substr(0, 1)), digits_same_length(std::string(n - 1, '0'), rest_hi)}));
  return ir.alt_rule(alts);
}

// Non-negative integers in [lo, hi] (hi absent: unbounded), no leading zeros.
int32_t JsonParts::digits_range(const std::string& lo, const std::optional<std::string>& hi) {
  if (hi && cmp_dec(lo, *hi) > 0) return ir.nothing_rule();
  std::vector<int32_t> alts;
  size_t last = hi ? hi->size() : lo.size();
  for (size_t len = lo.size(); len <= last; len++) {
    std::string a = len == lo.size() ? lo : "1" + std::string(len - 1, '0');
    std::string b = hi && len == hi->size() ? *hi : std::string(len, '9');
    if (len == 1 && a == "0" && lo != "0") a = "1";
    alts.push_back(digits_same_length(a, b));
  }
  if (!hi) {  // every longer length
    int32_t digit = ir.char_class({{'0', '9'}});
    alts.push_back(seq({ir.char_class({{'1', '9'}}), ir.repeat(digit, int(lo.size()), -1)}));
  }
  return ir.alt_rule(alts);
}

int32_t JsonParts::integer_range(std::optional<std::string> lo, std::optional<std::string> hi) {
  // Signed decimal strings ("-12", "7") split into the non-negative and negative parts.
  auto neg = [](const std::optional<std::string>& s) { return s && (*s)[0] == '-'; };
  auto abs = [](const std::string& s) { return s[0] == '-' ? s.substr(1) : s; };
  std::vector<int32_t> alts;
  // x >= 0 part: [max(lo, 0), hi]
  if (!neg(hi)) {
    std::string a = lo && !neg(lo) ? *lo : "0";
    alts.push_back(digits_range(a, hi));
  }
  // x < 0 part: |x| in [max(1, |hi|), |lo|] where hi < 0 (else 1)
  if (!lo || neg(lo)) {
    std::string a = neg(hi) ? abs(*hi) : "1";
    std::optional<std::string> b;
    if (lo) b = abs(*lo);
    if (!b || cmp_dec(a, *b) <= 0) alts.push_back(seq({lit("-"), digits_range(a, b)}));
  }
  return ir.alt_rule(alts);
}

int32_t JsonParts::number_range(std::optional<std::string> lo, bool lo_incl, std::optional<std::string> hi,
                                bool hi_incl) {
  int32_t digit = ir.char_class({{'0', '9'}});
  int32_t frac_any = ir.optional(seq({lit("."), ir.repeat(digit, 1, -1)}));
  int32_t frac_zero = ir.optional(seq({lit("."), ir.repeat(lit("0"), 1, -1)}));
  int32_t frac_nonzero =
      seq({lit("."), ir.repeat(digit, 0, -1), ir.char_class({{'1', '9'}}), ir.repeat(digit, 0, -1)});
  // y = I + f >= 0 with ylo <(=) y <(=) yhi (bounds may be negative or absent); pieces of (I range, frac).
  auto pieces = [&](std::optional<std::string> ylo, bool ylo_incl, std::optional<std::string> yhi,
                    bool yhi_incl, std::vector<int32_t>& out, int32_t prefix) {
    auto neg = [](const std::optional<std::string>& s) { return s && (*s)[0] == '-'; };
    if (neg(yhi)) return;                         // y <= negative: none
    if (yhi && *yhi == "0" && !yhi_incl) return;  // y < 0: none
    std::string lo_i = "0";                       // smallest I with the whole [I, I+1) above ylo
    bool lo_edge = false;                         // I == ylo with f > 0 (exclusive integer bound)
    if (ylo && !neg(ylo)) {
      lo_i = ylo_incl ? *ylo : inc_dec(*ylo);
      lo_edge = !ylo_incl;
    }
    auto add = [&](const std::string& a, const std::optional<std::string>& b, int32_t frac) {
      if (b && cmp_dec(a, *b) > 0) return;
      out.push_back(seq({prefix, digits_range(a, b), frac}));
    };
    if (yhi) {
      // whole intervals: I <= yhi - 1
      if (*yhi != "0") add(lo_i, dec_dec(*yhi), frac_any);
      if (lo_edge && cmp_dec(*ylo, *yhi) < 0) add(*ylo, *ylo, frac_nonzero);
      bool hi_ok = yhi_incl && (cmp_dec(lo_i, *yhi) <= 0);
      if (hi_ok) add(*yhi, *yhi, frac_zero);
    } else {
      add(lo_i, std::nullopt, frac_any);
      if (lo_edge) add(*ylo, *ylo, frac_nonzero);
    }
  };
  auto negate = [](const std::optional<std::string>& s) -> std::optional<std::string> {
    if (!s) return std::nullopt;
    if ((*s)[0] == '-') return s->substr(1);
    if (*s == "0") return std::string("0");
    return "-" + *s;
  };
  std::vector<int32_t> alts;
  pieces(lo, lo_incl, hi, hi_incl, alts, ir.empty_rule());
  pieces(negate(hi), hi_incl, negate(lo), lo_incl, alts, lit("-"));
  return ir.alt_rule(alts);
}

int32_t JsonParts::value_literal(const Json& v) {
  switch (v.type()) {
    case Json::value_t::null:
      return lit("null");
    case Json::value_t::boolean:
      return lit(v.get<bool>() ? "true" : "false");
    case Json::value_t::number_integer:
    case Json::value_t::number_unsigned: {
      std::string s = v.dump();
      return ir.alt_rule({lit(s), lit(s + ".0")});
    }
    case Json::value_t::number_float: {
      double d = v.get<double>();
      if (std::isfinite(d) && d == std::floor(d) && std::fabs(d) < 1e16) {
        char buf[64];
        snprintf(buf, sizeof buf, "%.0f", d);
        std::string s = buf;
        if (s == "-0") return ir.alt_rule({lit("0"), lit("0.0"), lit("-0"), lit("-0.0")});
        return ir.alt_rule({lit(s), lit(s + ".0")});
      }
      char buf[64];
      auto r = std::to_chars(buf, buf + sizeof buf, d);
      return lit(std::string(buf, r.ptr));
    }
    case Json::value_t::string:
      return lit(py_json_string(v.get<std::string>()));
    case Json::value_t::array: {
      std::vector<Elem> e{Ir::ref(lit("[")), Ir::ref(ws())};
      bool first = true;
      for (auto& x : v) {
        if (!first) e.push_back(Ir::ref(comma()));
        first = false;
        e.push_back(Ir::ref(value_literal(x)));
      }
      e.push_back(Ir::ref(ws()));
      e.push_back(Ir::ref(lit("]")));
      return ir.seq_rule(std::move(e));
    }
    case Json::value_t::object: {
      std::vector<Elem> e{Ir::ref(lit("{")), Ir::ref(ws())};
      bool first = true;
      for (auto& [k, x] : v.items()) {
        if (!first) e.push_back(Ir::ref(comma()));
        first = false;
        e.push_back(Ir::ref(lit(py_json_string(k))));
        e.push_back(Ir::ref(colon()));
        e.push_back(Ir::ref(value_literal(x)));
      }
      e.push_back(Ir::ref(ws()));
      e.push_back(Ir::ref(lit("}")));
      return ir.seq_rule(std::move(e));
    }
    default:
      return ir.nothing_rule();
  }
}

// A trie over the names' code points: at each node, a child's character continues in the trie, any other raw
// character leaves it (the key differs from every name from here on: free string contents follow), the
// closing quote is allowed unless a name ends here. No escape inside the trie: "\u0061ge" would spell "age".
int32_t JsonParts::key_not_in(const std::vector<std::string>& names) {
  struct Node {
    std::map<uint32_t, int> kids;
    bool end = false;
  };
  std::vector<Node> t(1);
  for (auto& name : names) {
    int n = 0;
    size_t i = 0;
    uint32_t cp;
    bool ok = true;
    std::vector<uint32_t> cps;
    while (i < name.size()) {
      if (!next_utf8(name, i, cp)) {
        ok = false;
        break;
      }
      cps.push_back(cp);
    }
    if (!ok) continue;
    for (uint32_t c : cps) {
      auto it = t[size_t(n)].kids.find(c);
      if (it == t[size_t(n)].kids.end()) {
        t.emplace_back();
        int id = int(t.size() - 1);
        t[size_t(n)].kids[c] = id;
        n = id;
      } else {
        n = it->second;
      }
    }
    t[size_t(n)].end = true;
  }
  int32_t free_rest = seq({string_contents(0, -1), lit("\"")});
  std::vector<int32_t> rule(t.size());
  for (auto& r : rule) r = ir.new_rule();
  for (size_t n = 0; n < t.size(); n++) {
    std::vector<CpRange> other{{0x20, 0x21}, {0x23, 0x5B}, {0x5D, 0x10FFFF}};
    std::vector<CpRange> kids;
    for (auto& [c, k] : t[n].kids) {
      kids.push_back({c, c});
      if (c >= 0x20 && c != '"' && c != '\\') {
        std::string s;
        append_utf8(s, c);
        ir.add_alt(rule[n], {Ir::ref(lit(s)), Ir::ref(rule[size_t(k)])});
      }
    }
    // other = allowed raw characters minus the children
    std::vector<CpRange> ok_ranges;
    auto comp = complement_ranges(kids);
    for (auto a : other)
      for (auto b : comp) {
        uint32_t lo = std::max(a.lo, b.lo), hi = std::min(a.hi, b.hi);
        if (lo <= hi) ok_ranges.push_back({lo, hi});
      }
    if (!ok_ranges.empty()) ir.add_alt(rule[n], {Ir::ref(ir.char_class(ok_ranges)), Ir::ref(free_rest)});
    if (!t[n].end) ir.add_alt(rule[n], {Ir::ref(lit("\""))});
  }
  return seq({lit("\""), rule[0]});
}

}  // namespace qwen3::constrain
