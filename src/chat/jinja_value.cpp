// Python semantics of Jinja values: truthiness, ==, <, str(), repr(), json.dumps and float repr, byte-exact
// with CPython so that rendered prompts match transformers. Tested by tests/chat/jinja_expr_test.cpp (goldens
// from jinja2).
#include "chat/jinja_value.h"

#include <utf8proc.h>

#include <charconv>
#include <cmath>
#include <cstdio>
#include <system_error>

#include "core/error.h"

namespace qwen3::jinja {

// Printing and comparing recurse into nested values; a namespace can contain itself, so depth is bounded.
static constexpr int kMaxValueDepth = 200;

static void check_depth(int depth) {
  QWEN3_CHECK(depth <= kMaxValueDepth, "chat template: value nested more than %d levels deep",
              kMaxValueDepth);
}

// Namespaces are the one mutable kind, so they can form reference cycles (set ns.x = [ns]); the renderer
// collects them here and clears them afterwards so every render frees all it allocated.
thread_local std::vector<std::shared_ptr<DictData>>* g_namespaces = nullptr;

static int nested_depth(const Value& v) {
  return v.kind == Kind::List ? v.list->depth : v.kind == Kind::Dict ? v.dict->depth : 0;
}

Value Value::undefined(std::string what) {
  Value v;
  if (!what.empty()) v.s = std::make_shared<const TString>(what, false);
  return v;
}
Value Value::big_integer(std::string digits) {
  Value v;
  v.kind = Kind::BigInt;
  v.s = std::make_shared<const TString>(TString(std::move(digits), false));
  return v;
}

Value Value::string(TString x) {
  Value v;
  v.kind = Kind::String;
  v.s = std::make_shared<const TString>(std::move(x));
  return v;
}
Value Value::make_list(std::vector<Value> items, bool is_tuple) {
  Value v;
  v.kind = Kind::List;
  auto d = std::make_shared<ListData>();
  d->items = std::move(items), d->is_tuple = is_tuple;
  for (const Value& x : d->items) d->depth = std::max(d->depth, 1 + nested_depth(x));
  check_depth(d->depth);
  v.list = std::move(d);
  return v;
}
Value Value::make_dict(DictData d) {
  Value v;
  v.kind = Kind::Dict;
  d.depth = 1;
  for (const auto& kv : d.items)
    d.depth = std::max(d.depth, 1 + std::max(nested_depth(kv.first), nested_depth(kv.second)));
  check_depth(d.depth);
  v.dict = std::make_shared<const DictData>(std::move(d));
  return v;
}
Value Value::make_namespace(DictData d) {
  Value v;
  v.kind = Kind::Namespace;
  v.ns = std::make_shared<DictData>(std::move(d));
  if (g_namespaces) g_namespaces->push_back(v.ns);
  return v;
}
Value Value::callable(std::string name, std::function<Value(CallArgs&)> fn) {
  Value v;
  v.kind = Kind::Callable;
  v.fn = std::make_shared<const Callable>(Callable{std::move(name), std::move(fn)});
  return v;
}

const Value* DictData::find(const Value& key) const {
  for (const auto& [k, v] : items)
    if (equal(k, key)) return &v;
  return nullptr;
}
void DictData::set(const Value& key, Value v) {
  for (auto& [k, old] : items)
    if (equal(k, key)) {
      old = std::move(v);
      return;
    }
  items.emplace_back(key, std::move(v));
}

Value CallArgs::get(size_t pos, const char* name) const {
  if (pos < args.size()) return args[pos];
  for (const auto& [k, v] : kwargs)
    if (k == name) return v;
  return Value::undefined();
}
void CallArgs::check(const char* what, size_t n_max, std::initializer_list<const char*> names) const {
  QWEN3_CHECK(args.size() <= n_max, "chat template line %d: %s takes at most %zu arguments, %zu given", line,
              what, n_max, args.size());
  for (const auto& [k, v] : kwargs) {
    bool ok = false;
    for (const char* n : names) ok = ok || k == n;
    QWEN3_CHECK(ok, "chat template line %d: %s got an unexpected keyword argument '%s'", line, what,
                k.c_str());
  }
}

const char* type_name(const Value& v) {
  switch (v.kind) {
    case Kind::Undefined:
      return "Undefined";
    case Kind::None:
      return "NoneType";
    case Kind::Bool:
      return "bool";
    case Kind::Int:
    case Kind::BigInt:
      return "int";
    case Kind::Float:
      return "float";
    case Kind::String:
      return "str";
    case Kind::List:
      return v.list->is_tuple ? "tuple" : "list";
    case Kind::Dict:
      return "dict";
    case Kind::Namespace:
      return "Namespace";
    case Kind::Callable:
      return "function";
  }
  return "?";
}

bool truthy(const Value& v) {
  switch (v.kind) {
    case Kind::Undefined:
    case Kind::None:
      return false;
    case Kind::Bool:
      return v.b;
    case Kind::Int:
      return v.i != 0;
    case Kind::BigInt:
      return true;
    case Kind::Float:
      return v.f != 0;
    case Kind::String:
      return !v.s->text.empty();
    case Kind::List:
      return !v.list->items.empty();
    case Kind::Dict:
      return !v.dict->items.empty();
    case Kind::Namespace:
    case Kind::Callable:
      return true;
  }
  return false;
}

static double as_double(const Value& v) {
  return v.kind == Kind::Float ? v.f : v.kind == Kind::Bool ? double(v.b) : double(v.i);
}
static int64_t as_int(const Value& v) {
  return v.kind == Kind::Bool ? int64_t(v.b) : v.i;
}

static bool equal_at(const Value& a, const Value& b, int depth) {
  check_depth(depth);
  if (a.is_number() && b.is_number()) {
    if (a.kind == Kind::Float || b.kind == Kind::Float) return as_double(a) == as_double(b);
    return as_int(a) == as_int(b);
  }
  if (a.kind != b.kind) return false;
  switch (a.kind) {
    case Kind::Undefined:
    case Kind::None:
      return true;
    case Kind::String:
    case Kind::BigInt:
      return a.s->text == b.s->text;
    case Kind::List: {
      const auto &x = *a.list, &y = *b.list;
      if (x.is_tuple != y.is_tuple || x.items.size() != y.items.size()) return false;
      for (size_t k = 0; k < x.items.size(); ++k)
        if (!equal_at(x.items[k], y.items[k], depth + 1)) return false;
      return true;
    }
    case Kind::Dict: {
      if (a.dict->items.size() != b.dict->items.size()) return false;
      for (const auto& [k, v] : a.dict->items) {
        const Value* w = b.dict->find(k);
        if (!w || !equal_at(v, *w, depth + 1)) return false;
      }
      return true;
    }
    case Kind::Namespace:
      return a.ns == b.ns;
    case Kind::Callable:
      return a.fn == b.fn;
    default:
      return false;
  }
}
bool equal(const Value& a, const Value& b) {
  return equal_at(a, b, 0);
}

static int compare_at(const Value& a, const Value& b, int line, int depth) {
  check_depth(depth);
  if (a.is_number() && b.is_number()) {
    if (a.kind == Kind::Float || b.kind == Kind::Float) {
      double x = as_double(a), y = as_double(b);
      return x < y ? -1 : y < x ? 1 : 0;
    }
    int64_t x = as_int(a), y = as_int(b);
    return x < y ? -1 : y < x ? 1 : 0;
  }
  if (a.kind == Kind::String && b.kind == Kind::String) {
    int c = a.s->text.compare(b.s->text);  // UTF-8 byte order is code point order
    return c < 0 ? -1 : c > 0 ? 1 : 0;
  }
  if (a.kind == Kind::List && b.kind == Kind::List && a.list->is_tuple == b.list->is_tuple) {
    const auto &x = a.list->items, &y = b.list->items;
    for (size_t k = 0; k < x.size() && k < y.size(); ++k) {
      if (equal_at(x[k], y[k], depth + 1)) continue;
      return compare_at(x[k], y[k], line, depth + 1);
    }
    return x.size() < y.size() ? -1 : x.size() > y.size() ? 1 : 0;
  }
  throw_error("chat template line %d: '<' not supported between instances of '%s' and '%s'", line,
              type_name(a), type_name(b));
}
int compare(const Value& a, const Value& b, int line) {
  return compare_at(a, b, line, 0);
}

// ---- Unicode helpers ----

uint32_t decode_at(std::string_view s, size_t pos, size_t* len) {
  utf8proc_int32_t cp = 0;
  auto n = utf8proc_iterate(reinterpret_cast<const utf8proc_uint8_t*>(s.data() + pos), s.size() - pos, &cp);
  if (n <= 0) {  // invalid byte: one unit, shown as itself
    *len = 1;
    return uint8_t(s[pos]);
  }
  *len = size_t(n);
  return uint32_t(cp);
}

std::vector<uint32_t> utf8_offsets(std::string_view s) {
  std::vector<uint32_t> offs;
  offs.reserve(s.size() + 1);
  for (size_t pos = 0, len = 0; pos < s.size(); pos += len) {
    offs.push_back(uint32_t(pos));
    decode_at(s, pos, &len);
  }
  offs.push_back(uint32_t(s.size()));
  return offs;
}

bool py_isspace(uint32_t c) {
  return (c >= 0x09 && c <= 0x0d) || (c >= 0x1c && c <= 0x20) || c == 0x85 || c == 0xa0 || c == 0x1680 ||
         (c >= 0x2000 && c <= 0x200a) || c == 0x2028 || c == 0x2029 || c == 0x202f || c == 0x205f ||
         c == 0x3000;
}

static bool py_isprintable(uint32_t c) {
  if (c == ' ') return true;
  if (c > 0x10ffff) return false;
  switch (utf8proc_category(utf8proc_int32_t(c))) {
    case UTF8PROC_CATEGORY_CC:
    case UTF8PROC_CATEGORY_CF:
    case UTF8PROC_CATEGORY_CS:
    case UTF8PROC_CATEGORY_CO:
    case UTF8PROC_CATEGORY_CN:
    case UTF8PROC_CATEGORY_ZL:
    case UTF8PROC_CATEGORY_ZP:
    case UTF8PROC_CATEGORY_ZS:
      return false;
    default:
      return true;
  }
}

// ---- str() and repr() ----

std::string py_float_repr(double x) {
  if (std::isnan(x)) return "nan";
  if (std::isinf(x)) return x < 0 ? "-inf" : "inf";
  // Shortest round-trip digits, then Python's layout: positional when -4 < decpt <= 16, else d.ddde+XX.
  char buf[64];
  auto res = std::to_chars(buf, buf + sizeof buf, std::fabs(x), std::chars_format::scientific);
  std::string sci(buf, res.ptr);
  size_t e = sci.find('e');
  std::string digits;
  for (size_t k = 0; k < e; ++k)
    if (sci[k] != '.') digits += sci[k];
  int exp10 = std::stoi(sci.substr(e + 1));
  while (digits.size() > 1 && digits.back() == '0') digits.pop_back();
  int decpt = exp10 + 1;
  std::string out = std::signbit(x) ? "-" : "";
  if (decpt > -4 && decpt <= 16) {
    if (decpt <= 0) {
      out += "0." + std::string(size_t(-decpt), '0') + digits;
    } else if (size_t(decpt) >= digits.size()) {
      out += digits + std::string(size_t(decpt) - digits.size(), '0') + ".0";
    } else {
      out += digits.substr(0, size_t(decpt)) + "." + digits.substr(size_t(decpt));
    }
  } else {
    out += digits.substr(0, 1);
    if (digits.size() > 1) out += "." + digits.substr(1);
    char eb[16];
    std::snprintf(eb, sizeof eb, "e%c%02d", exp10 < 0 ? '-' : '+', exp10 < 0 ? -exp10 : exp10);
    out += eb;
  }
  return out;
}

static void append_hex_escape(TString& out, uint32_t c) {
  char buf[16];
  if (c <= 0xff)
    std::snprintf(buf, sizeof buf, "\\x%02x", c);
  else if (c <= 0xffff)
    std::snprintf(buf, sizeof buf, "\\u%04x", c);
  else
    std::snprintf(buf, sizeof buf, "\\U%08x", c);
  out.append(buf, false);
}

static void repr_string(TString& out, const TString& s) {
  const std::string& t = s.text;
  char q = (t.find('\'') != std::string::npos && t.find('"') == std::string::npos) ? '"' : '\'';
  out.append(std::string_view(&q, 1), false);
  for (size_t pos = 0, len = 0; pos < t.size(); pos += len) {
    uint32_t c = decode_at(t, pos, &len);
    if (c == uint32_t(q) || c == '\\')
      out.append(std::string("\\") + char(c), false);
    else if (c == '\n')
      out.append("\\n", false);
    else if (c == '\r')
      out.append("\\r", false);
    else if (c == '\t')
      out.append("\\t", false);
    else if (len == 1 && c >= 0x80)
      append_hex_escape(out, c);  // an invalid byte
    else if (py_isprintable(c))
      out.append(s.substr(pos, len));
    else
      append_hex_escape(out, c);
  }
  out.append(std::string_view(&q, 1), false);
}

static void print_at(TString& out, const Value& v, bool repr, int depth);

static void print_items(TString& out, const DictData& d, int depth) {
  out.append("{", false);
  bool first = true;
  for (const auto& [k, x] : d.items) {
    if (!first) out.append(", ", false);
    first = false;
    print_at(out, k, true, depth + 1);
    out.append(": ", false);
    print_at(out, x, true, depth + 1);
  }
  out.append("}", false);
}

static void print_at(TString& out, const Value& v, bool repr, int depth) {
  check_depth(depth);
  switch (v.kind) {
    case Kind::Undefined:
      if (repr) out.append("Undefined", false);
      return;
    case Kind::None:
      out.append("None", false);
      return;
    case Kind::Bool:
      out.append(v.b ? "True" : "False", false);
      return;
    case Kind::Int:
      out.append(std::to_string(v.i), false);
      return;
    case Kind::BigInt:
      out.append(v.s->text, false);
      return;
    case Kind::Float:
      out.append(py_float_repr(v.f), false);
      return;
    case Kind::String:
      if (repr)
        repr_string(out, *v.s);
      else
        out.append(*v.s);
      return;
    case Kind::List: {
      const auto& l = *v.list;
      out.append(l.is_tuple ? "(" : "[", false);
      for (size_t k = 0; k < l.items.size(); ++k) {
        if (k) out.append(", ", false);
        print_at(out, l.items[k], true, depth + 1);
      }
      if (l.is_tuple && l.items.size() == 1) out.append(",", false);
      out.append(l.is_tuple ? ")" : "]", false);
      return;
    }
    case Kind::Dict:
      print_items(out, *v.dict, depth);
      return;
    case Kind::Namespace:
      out.append("<Namespace ", false);
      print_items(out, *v.ns, depth);
      out.append(">", false);
      return;
    case Kind::Callable:
      out.append("<function " + v.fn->name + ">", false);
      return;
  }
}

TString to_str(const Value& v) {
  if (v.kind == Kind::String) return *v.s;
  TString out;
  print_at(out, v, false, 0);
  return out;
}
TString to_repr(const Value& v) {
  TString out;
  print_at(out, v, true, 0);
  return out;
}

// ---- json.dumps ----

static void json_string(TString& out, const TString& s, bool ensure_ascii) {
  const std::string& t = s.text;
  out.append("\"", false);
  for (size_t pos = 0, len = 0; pos < t.size(); pos += len) {
    uint32_t c = decode_at(t, pos, &len);
    char buf[16];
    const char* esc = nullptr;
    switch (c) {
      case '"':
        esc = "\\\"";
        break;
      case '\\':
        esc = "\\\\";
        break;
      case '\n':
        esc = "\\n";
        break;
      case '\r':
        esc = "\\r";
        break;
      case '\t':
        esc = "\\t";
        break;
      case '\b':
        esc = "\\b";
        break;
      case '\f':
        esc = "\\f";
        break;
      default:
        break;
    }
    // Escapes keep the origin of the character they stand for.
    auto put = [&](const char* e) { out.append(e, s.origin[pos] != 0); };
    if (esc) {
      put(esc);
    } else if (c < 0x20 || (ensure_ascii && (c >= 0x7f || (len == 1 && c >= 0x80)))) {
      if (len == 1 && c >= 0x80) c = 0xfffd;
      if (c >= 0x10000) {
        uint32_t v = c - 0x10000;
        std::snprintf(buf, sizeof buf, "\\u%04x\\u%04x", 0xd800 + (v >> 10), 0xdc00 + (v & 0x3ff));
      } else {
        std::snprintf(buf, sizeof buf, "\\u%04x", c);
      }
      put(buf);
    } else {
      out.append(s.substr(pos, len));
    }
  }
  out.append("\"", false);
}

static TString json_key(const Value& k, int line) {
  switch (k.kind) {
    case Kind::String:
      return *k.s;
    case Kind::Int:
      return TString(std::to_string(k.i), false);
    case Kind::BigInt:
      return TString(k.s->text, false);
    case Kind::Float:
      return TString(py_float_repr(k.f), false);
    case Kind::Bool:
      return TString(k.b ? "true" : "false", false);
    case Kind::None:
      return TString("null", false);
    default:
      throw_error("chat template line %d: tojson: keys must be str, int, float, bool or None, not %s", line,
                  type_name(k));
  }
}

static void json_at(TString& out, const Value& v, const JsonOptions& opt, int line, int depth) {
  check_depth(depth);
  auto newline = [&](int level) {
    if (!opt.has_indent) return;
    std::string s = "\n";
    for (int k = 0; k < level; ++k) s += opt.indent;
    out.append(s, false);
  };
  switch (v.kind) {
    case Kind::None:
      out.append("null", false);
      return;
    case Kind::Bool:
      out.append(v.b ? "true" : "false", false);
      return;
    case Kind::Int:
      out.append(std::to_string(v.i), false);
      return;
    case Kind::BigInt:
      out.append(v.s->text, false);
      return;
    case Kind::Float:
      if (std::isnan(v.f))
        out.append("NaN", false);
      else if (std::isinf(v.f))
        out.append(v.f < 0 ? "-Infinity" : "Infinity", false);
      else
        out.append(py_float_repr(v.f), false);
      return;
    case Kind::String:
      json_string(out, *v.s, opt.ensure_ascii);
      return;
    case Kind::List: {
      const auto& items = v.list->items;
      if (items.empty()) return out.append("[]", false);
      out.append("[", false);
      for (size_t k = 0; k < items.size(); ++k) {
        if (k) out.append(opt.item_sep, false);
        newline(depth + 1);
        json_at(out, items[k], opt, line, depth + 1);
      }
      newline(depth);
      out.append("]", false);
      return;
    }
    case Kind::Dict: {
      std::vector<std::pair<TString, const Value*>> items;
      for (const auto& [k, x] : v.dict->items) items.emplace_back(json_key(k, line), &x);
      if (opt.sort_keys)
        std::stable_sort(items.begin(), items.end(),
                         [](const auto& a, const auto& b) { return a.first.text < b.first.text; });
      if (items.empty()) return out.append("{}", false);
      out.append("{", false);
      for (size_t k = 0; k < items.size(); ++k) {
        if (k) out.append(opt.item_sep, false);
        newline(depth + 1);
        json_string(out, items[k].first, opt.ensure_ascii);
        out.append(opt.key_sep, false);
        json_at(out, *items[k].second, opt, line, depth + 1);
      }
      newline(depth);
      out.append("}", false);
      return;
    }
    default:
      throw_error("chat template line %d: tojson: Object of type %s is not JSON serializable", line,
                  type_name(v));
  }
}

TString to_json(const Value& v, const JsonOptions& opt, int line) {
  TString out;
  json_at(out, v, opt, line, 0);
  return out;
}

// ---- from JSON ----

static Value from_json_at(const nlohmann::ordered_json& j, bool trusted, int depth) {
  QWEN3_CHECK(depth <= kMaxValueDepth, "chat template input: JSON nested more than %d levels deep",
              kMaxValueDepth);
  switch (j.type()) {
    case nlohmann::ordered_json::value_t::null:
      return Value::none();
    case nlohmann::ordered_json::value_t::boolean:
      return Value::boolean(j.get<bool>());
    case nlohmann::ordered_json::value_t::number_integer:
      return Value::integer(j.get<int64_t>());
    case nlohmann::ordered_json::value_t::number_unsigned: {
      uint64_t u = j.get<uint64_t>();
      return u <= uint64_t(INT64_MAX) ? Value::integer(int64_t(u)) : Value::big_integer(std::to_string(u));
    }
    case nlohmann::ordered_json::value_t::number_float:
      return Value::real(j.get<double>());
    case nlohmann::ordered_json::value_t::string:
      return Value::string(j.get_ref<const std::string&>(), trusted);
    case nlohmann::ordered_json::value_t::array: {
      std::vector<Value> items;
      items.reserve(j.size());
      for (const auto& x : j) items.push_back(from_json_at(x, trusted, depth + 1));
      return Value::make_list(std::move(items));
    }
    case nlohmann::ordered_json::value_t::object: {
      DictData d;
      d.items.reserve(j.size());
      // Keys are unique in JSON objects, so no lookup is needed here.
      for (const auto& [k, x] : j.items())
        d.items.emplace_back(Value::string(k, trusted), from_json_at(x, trusted, depth + 1));
      return Value::make_dict(std::move(d));
    }
    default:
      throw_error("chat template input: unsupported JSON value (binary or discarded)");
  }
}

Value from_json(const nlohmann::ordered_json& j, bool trusted) {
  return from_json_at(j, trusted, 0);
}

}  // namespace qwen3::jinja
