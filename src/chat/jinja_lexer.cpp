// Mirrors jinja2/lexer.py (3.1) for the default delimiters with trim_blocks and lstrip_blocks on. The regular
// expressions it uses are spelled out below as hand-written scanners; comments quote the rule each one
// follows.
#include "chat/jinja_lexer.h"

#include <cctype>
#include <cstring>

#include "chat/jinja_value.h"
#include "core/error.h"

namespace qwen3::jinja {

namespace {

// "\s" of Python's re on str: Unicode whitespace.
size_t space_len(const std::string& s, size_t pos) {
  if (pos >= s.size()) return 0;
  size_t len = 0;
  uint32_t c = decode_at(s, pos, &len);
  return py_isspace(c) ? len : 0;
}

size_t skip_spaces(const std::string& s, size_t pos) {
  while (size_t n = space_len(s, pos)) pos += n;
  return pos;
}

std::string py_rstrip(const std::string& s) {
  auto offs = utf8_offsets(s);
  size_t end = offs.size() - 1;  // index of the last code point + 1
  while (end > 0) {
    size_t len = 0;
    if (!py_isspace(decode_at(s, offs[end - 1], &len))) break;
    --end;
  }
  return s.substr(0, offs[end]);
}

bool all_space(const std::string& s, size_t from) {
  if (from >= s.size()) return false;  // "\s+" needs at least one character
  for (size_t pos = from; pos < s.size();) {
    size_t n = space_len(s, pos);
    if (!n) return false;
    pos += n;
  }
  return true;
}

int count_newlines(const std::string& s, size_t from, size_t to) {
  int n = 0;
  for (size_t k = from; k < to && k < s.size(); ++k) n += s[k] == '\n';
  return n;
}

void append_utf8(std::string& out, uint32_t c) {
  if (c < 0x80) {
    out += char(c);
  } else if (c < 0x800) {
    out += char(0xc0 | (c >> 6)), out += char(0x80 | (c & 0x3f));
  } else if (c < 0x10000) {
    out += char(0xe0 | (c >> 12)), out += char(0x80 | ((c >> 6) & 0x3f)), out += char(0x80 | (c & 0x3f));
  } else {
    out += char(0xf0 | (c >> 18)), out += char(0x80 | ((c >> 12) & 0x3f));
    out += char(0x80 | ((c >> 6) & 0x3f)), out += char(0x80 | (c & 0x3f));
  }
}

int hex_value(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  c = char(std::tolower(static_cast<unsigned char>(c)));
  return c >= 'a' && c <= 'f' ? c - 'a' + 10 : -1;
}

// jinja2 unescapes with value.encode("ascii", "backslashreplace").decode("unicode-escape"): non-ASCII
// characters first become \xhh / \uhhhh / \Uhhhhhhhh escapes, then Python's escape sequences are decoded.
std::string unescape(const std::string& body, int line) {
  std::string ascii;
  for (size_t pos = 0, len = 0; pos < body.size(); pos += len) {
    uint32_t c = decode_at(body, pos, &len);
    if (c < 0x80) {
      ascii += char(c);
      continue;
    }
    char buf[16];
    if (c <= 0xff)
      std::snprintf(buf, sizeof buf, "\\x%02x", c);
    else if (c <= 0xffff)
      std::snprintf(buf, sizeof buf, "\\u%04x", c);
    else
      std::snprintf(buf, sizeof buf, "\\U%08x", c);
    ascii += buf;
  }
  std::string out;
  for (size_t k = 0; k < ascii.size(); ++k) {
    char c = ascii[k];
    if (c != '\\' || k + 1 >= ascii.size()) {
      out += c;
      continue;
    }
    char e = ascii[++k];
    auto read_hex = [&](int n_digits) {
      uint32_t v = 0;
      for (int d = 0; d < n_digits; ++d) {
        int h = k + 1 < ascii.size() ? hex_value(ascii[k + 1]) : -1;
        QWEN3_CHECK(h >= 0, "chat template line %d: truncated \\%c escape in a string literal", line, e);
        v = v * 16 + uint32_t(h), ++k;
      }
      return v;
    };
    switch (e) {
      case '\n':
        break;
      case '\\':
        out += '\\';
        break;
      case '\'':
        out += '\'';
        break;
      case '"':
        out += '"';
        break;
      case 'a':
        out += '\a';
        break;
      case 'b':
        out += '\b';
        break;
      case 'f':
        out += '\f';
        break;
      case 'n':
        out += '\n';
        break;
      case 'r':
        out += '\r';
        break;
      case 't':
        out += '\t';
        break;
      case 'v':
        out += '\v';
        break;
      case 'x':
        append_utf8(out, read_hex(2));
        break;
      case 'u':
      case 'U': {
        uint32_t v = read_hex(e == 'u' ? 4 : 8);
        QWEN3_CHECK(v <= 0x10ffff && (v < 0xd800 || v > 0xdfff),
                    "chat template line %d: invalid \\%c escape in a string literal", line, e);
        append_utf8(out, v);
        break;
      }
      case 'N':
        throw_error("chat template line %d: unsupported construct: \\N{...} escape in a string literal",
                    line);
      default:
        if (e >= '0' && e <= '7') {
          uint32_t v = uint32_t(e - '0');
          for (int d = 0; d < 2 && k + 1 < ascii.size() && ascii[k + 1] >= '0' && ascii[k + 1] <= '7'; ++d)
            v = v * 8 + uint32_t(ascii[++k] - '0');
          append_utf8(out, v);
        } else {
          out += '\\', out += e;  // unknown escapes stay as written
        }
    }
  }
  return out;
}

bool is_digit(char c) {
  return c >= '0' && c <= '9';
}

// (\d+_)*\d+ : digits with single underscores between them; returns the end or `pos` when nothing matched.
size_t scan_digits(const std::string& s, size_t pos) {
  size_t k = pos;
  if (k >= s.size() || !is_digit(s[k])) return pos;
  while (true) {
    while (k < s.size() && is_digit(s[k])) ++k;
    if (k + 1 < s.size() && s[k] == '_' && is_digit(s[k + 1])) {
      ++k;
      continue;
    }
    return k;
  }
}

// float_re: (?<!\.)(\d+_)*\d+((\.(\d+_)*\d+)?e[+\-]?(\d+_)*\d+|\.(\d+_)*\d+)
size_t scan_float(const std::string& s, size_t pos) {
  if (pos > 0 && s[pos - 1] == '.') return 0;
  size_t k = scan_digits(s, pos);
  if (k == pos) return 0;
  size_t frac_end = k;
  if (k < s.size() && s[k] == '.') {
    size_t f = scan_digits(s, k + 1);
    if (f > k + 1) frac_end = f;
  }
  // exponent form (with or without fraction) is tried first, as in the regex
  size_t e = frac_end;
  if (e < s.size() && (s[e] == 'e' || s[e] == 'E')) {
    size_t x = e + 1;
    if (x < s.size() && (s[x] == '+' || s[x] == '-')) ++x;
    size_t d = scan_digits(s, x);
    if (d > x) return d - pos;
  }
  if (frac_end > k) return frac_end - pos;
  return 0;
}

// integer_re: 0b(_?[01])+ | 0o(_?[0-7])+ | 0x(_?[\da-f])+ | [1-9](_?\d)* | 0(_?0)*   (case-insensitive)
size_t scan_integer(const std::string& s, size_t pos, int* base) {
  auto run = [&](size_t k, auto ok) {
    size_t start = k;
    while (true) {
      if (k < s.size() && ok(s[k]))
        ++k;
      else if (k + 1 < s.size() && s[k] == '_' && ok(s[k + 1]))
        k += 2;
      else
        break;
    }
    return k == start ? 0 : k;
  };
  if (pos >= s.size() || !is_digit(s[pos])) return 0;
  if (s[pos] == '0' && pos + 1 < s.size()) {
    char p = char(std::tolower(static_cast<unsigned char>(s[pos + 1])));
    size_t e = 0;
    if (p == 'b') e = run(pos + 2, [](char c) { return c == '0' || c == '1'; }), *base = 2;
    if (p == 'o') e = run(pos + 2, [](char c) { return c >= '0' && c <= '7'; }), *base = 8;
    if (p == 'x') e = run(pos + 2, [](char c) { return hex_value(c) >= 0; }), *base = 16;
    if (e) return e - pos;
  }
  *base = 10;
  if (s[pos] == '0') {
    size_t e = run(pos + 1, [](char c) { return c == '0'; });
    return (e ? e : pos + 1) - pos;
  }
  size_t e = run(pos + 1, is_digit);
  return (e ? e : pos + 1) - pos;
}

const char* const kOperators[] = {"//", "**", "==", "!=", ">=", "<=", "+", "-", "/", "*", "%", "~", "[",
                                  "]",  "(",  ")",  "{",  "}",  ">",  "<", "=", ".", ":", "|", ",", ";"};

struct Lexer {
  const std::string& s;
  std::vector<Token> out;
  size_t pos = 0;
  int line = 1;
  bool line_starting = true;

  void emit(Tok t, std::string v) { out.push_back(Token{t, std::move(v), line}); }
  void advance_to(size_t to) {
    line += count_newlines(s, pos, to);
    pos = to;
  }
  [[noreturn]] void fail(const std::string& what) {
    throw_error("chat template line %d: %s", line, what.c_str());
  }

  // Data before a tag, with `{%-` stripping or lstrip_blocks applied (jinja2's OptionalLStrip).
  void data_before(size_t tag_start, char sign, bool is_variable) {
    std::string text = s.substr(pos, tag_start - pos);
    if (sign == '-') {
      text = py_rstrip(text);
    } else if (sign != '+' && !is_variable) {
      size_t l_pos = text.rfind('\n');
      l_pos = l_pos == std::string::npos ? 0 : l_pos + 1;
      if ((l_pos > 0 || line_starting) && all_space(text, l_pos)) text.resize(l_pos);
    }
    if (!text.empty()) emit(Tok::Data, text);
    advance_to(tag_start);
  }

  // After `%}`/`#}`: `+` keeps what follows, `-` eats all whitespace, plain eats one newline (trim_blocks).
  void tag_end(size_t close_at, char sign, size_t close_len, bool trim_newline) {
    size_t end = close_at + close_len;
    if (sign == '-')
      end = skip_spaces(s, end);
    else if (sign != '+' && trim_newline && end < s.size() && s[end] == '\n')
      ++end;
    line_starting = end > 0 && s[end - 1] == '\n';
    advance_to(end);
  }

  bool try_raw(size_t start) {
    // {%(-|+|)\s*raw\s*(?:-%}\s*|%})
    size_t k = start + 2;
    if (k < s.size() && (s[k] == '-' || s[k] == '+')) ++k;
    k = skip_spaces(s, k);
    if (s.compare(k, 3, "raw") != 0) return false;
    k = skip_spaces(s, k + 3);
    size_t body;
    if (s.compare(k, 3, "-%}") == 0)
      body = skip_spaces(s, k + 3);
    else if (s.compare(k, 2, "%}") == 0)
      body = k + 2;
    else
      return false;
    char sign = s[start + 2] == '-' || s[start + 2] == '+' ? s[start + 2] : 0;
    data_before(start, sign, false);
    advance_to(body);
    // (.*?)((?:{%(\-|\+|))\s*endraw\s*(?:\+%}|\-%}\s*|%}\n?))
    for (size_t q = s.find("{%", pos); q != std::string::npos; q = s.find("{%", q + 1)) {
      size_t e = q + 2;
      char esign = e < s.size() && (s[e] == '-' || s[e] == '+') ? s[e] : 0;
      e = skip_spaces(s, e + (esign ? 1 : 0));
      if (s.compare(e, 6, "endraw") != 0) continue;
      e = skip_spaces(s, e + 6);
      char csign = 0;
      if (s.compare(e, 3, "+%}") == 0 || s.compare(e, 3, "-%}") == 0)
        csign = s[e], ++e;
      else if (s.compare(e, 2, "%}") != 0)
        continue;
      data_before(q, esign, false);
      tag_end(e, csign, 2, true);
      return true;
    }
    fail("Missing end of raw directive");
  }

  void comment(size_t start) {
    size_t from = start + 2 + (s[start + 2] == '-' || s[start + 2] == '+' ? 1 : 0);
    size_t q = s.find("#}", from);
    if (q == std::string::npos) fail("Missing end of comment tag");
    char sign = 0;
    if (q > from && (s[q - 1] == '-' || s[q - 1] == '+')) sign = s[q - 1];
    advance_to(q);
    tag_end(q, sign, 2, true);
  }

  void tag(bool is_block) {
    std::vector<char> balance;
    emit(is_block ? Tok::BlockBegin : Tok::VarBegin, "");
    while (true) {
      if (pos >= s.size())
        fail(is_block ? "unexpected end of template, expected '%}'"
                      : "unexpected end of template, expected '}}'");
      if (balance.empty()) {
        if (is_block) {
          if (s.compare(pos, 3, "+%}") == 0 || s.compare(pos, 3, "-%}") == 0) {
            emit(Tok::BlockEnd, "");
            return tag_end(pos + 1, s[pos], 2, true);
          }
          if (s.compare(pos, 2, "%}") == 0) {
            emit(Tok::BlockEnd, "");
            return tag_end(pos, 0, 2, true);
          }
        } else {
          if (s.compare(pos, 3, "-}}") == 0) {
            emit(Tok::VarEnd, "");
            return tag_end(pos + 1, '-', 2, false);
          }
          if (s.compare(pos, 2, "}}") == 0) {
            emit(Tok::VarEnd, "");
            return tag_end(pos, 0, 2, false);
          }
        }
      }
      if (size_t n = space_len(s, pos)) {
        advance_to(skip_spaces(s, pos + n));
        continue;
      }
      if (size_t n = scan_float(s, pos)) {
        std::string v;
        for (size_t k = pos; k < pos + n; ++k)
          if (s[k] != '_') v += s[k];
        emit(Tok::Float, v);
        advance_to(pos + n);
        continue;
      }
      int base = 10;
      if (size_t n = scan_integer(s, pos, &base)) {
        std::string v;
        for (size_t k = pos; k < pos + n; ++k)
          if (s[k] != '_') v += s[k];
        emit(Tok::Integer, v);
        advance_to(pos + n);
        continue;
      }
      char c = s[pos];
      if (std::isalpha(static_cast<unsigned char>(c)) || c == '_') {
        size_t k = pos;
        while (k < s.size() && (std::isalnum(static_cast<unsigned char>(s[k])) || s[k] == '_')) ++k;
        emit(Tok::Name, s.substr(pos, k - pos));
        advance_to(k);
        continue;
      }
      if (c == '\'' || c == '"') {
        size_t k = pos + 1;
        while (k < s.size() && s[k] != c) k += s[k] == '\\' ? 2 : 1;
        if (k < s.size()) {
          emit(Tok::String, unescape(s.substr(pos + 1, k - pos - 1), line));
          advance_to(k + 1);
          continue;
        }
      }
      bool matched = false;
      for (const char* op : kOperators) {
        size_t n = std::strlen(op);
        if (s.compare(pos, n, op) != 0) continue;
        if (n == 1 && (c == '{' || c == '(' || c == '['))
          balance.push_back(c == '{' ? '}' : c == '(' ? ')' : ']');
        if (n == 1 && (c == '}' || c == ')' || c == ']')) {
          if (balance.empty()) fail(std::string("unexpected '") + c + "'");
          if (balance.back() != c)
            fail(std::string("unexpected '") + c + "', expected '" + balance.back() + "'");
          balance.pop_back();
        }
        emit(Tok::Op, op);
        advance_to(pos + n);
        matched = true;
        break;
      }
      if (!matched) {
        size_t len = 0;
        decode_at(s, pos, &len);
        fail("unexpected char '" + s.substr(pos, len) + "'");
      }
    }
  }

  void run() {
    while (pos < s.size()) {
      size_t start = pos;
      while ((start = s.find('{', start)) != std::string::npos) {
        if (start + 1 < s.size() && (s[start + 1] == '{' || s[start + 1] == '%' || s[start + 1] == '#'))
          break;
        ++start;
      }
      if (start == std::string::npos) {
        emit(Tok::Data, s.substr(pos));
        advance_to(s.size());
        break;
      }
      char kind = s[start + 1];
      char sign = start + 2 < s.size() && (s[start + 2] == '-' || s[start + 2] == '+') ? s[start + 2] : 0;
      if (kind == '%' && try_raw(start)) continue;
      data_before(start, sign, kind == '{');
      advance_to(start + 2 + (sign ? 1 : 0));
      if (kind == '#')
        comment(start);
      else
        tag(kind == '%');
    }
    emit(Tok::End, "");
  }
};

// jinja2: lines = newline_re.split(source)[::2]; drop a last empty line; "\n".join(lines)
std::string normalize_newlines(const std::string& src) {
  std::string out;
  out.reserve(src.size());
  for (size_t k = 0; k < src.size(); ++k) {
    if (src[k] == '\r') {
      out += '\n';
      if (k + 1 < src.size() && src[k + 1] == '\n') ++k;
    } else {
      out += src[k];
    }
  }
  if (!out.empty() && out.back() == '\n') out.pop_back();
  return out;
}

}  // namespace

std::vector<Token> lex(const std::string& source) {
  std::string s = normalize_newlines(source);
  Lexer lx{s, {}};
  lx.run();
  return std::move(lx.out);
}

}  // namespace qwen3::jinja
