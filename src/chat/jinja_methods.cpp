// Attribute and item access as jinja2's ImmutableSandboxedEnvironment does it, and the str/dict/list methods a chat
// template can call. Strings index by code point (Python str), and every result keeps the origin of its bytes.
#include <utf8proc.h>

#include <cstdarg>
#include <cstring>

#include "chat/jinja_runtime.h"
#include "core/error.h"

namespace qwen3::jinja {

void fail_at(int line, const char* fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  char buf[512];
  std::vsnprintf(buf, sizeof buf, fmt, ap);
  va_end(ap);
  throw_error("chat template line %d: %s", line, buf);
}

void check_string_size(size_t n, int line) {
  if (n > kMaxStringBytes) fail_at(line, "string longer than %zu bytes", kMaxStringBytes);
}

static Value undefined_error(const Value& u, int line) {
  if (u.s) fail_at(line, "UndefinedError: %s", u.s->text.c_str());
  fail_at(line, "UndefinedError: value is undefined");
}

static std::vector<Value> chars_of(const TString& s) {
  std::vector<Value> out;
  auto offs = utf8_offsets(s.text);
  for (size_t k = 0; k + 1 < offs.size(); ++k) out.push_back(Value::string(s.substr(offs[k], offs[k + 1] - offs[k])));
  return out;
}

std::vector<Value> iterate(const Value& v, int line) {
  switch (v.kind) {
    case Kind::Undefined: return {};
    case Kind::List: return v.list->items;
    case Kind::Dict: {
      std::vector<Value> keys;
      for (const auto& kv : v.dict->items) keys.push_back(kv.first);
      return keys;
    }
    case Kind::String: return chars_of(*v.s);
    default: fail_at(line, "TypeError: '%s' object is not iterable", type_name(v));
  }
}

int64_t length(const Value& v, int line) {
  switch (v.kind) {
    case Kind::Undefined: return 0;
    case Kind::List: return int64_t(v.list->items.size());
    case Kind::Dict: return int64_t(v.dict->items.size());
    case Kind::String: return int64_t(utf8_offsets(v.s->text).size() - 1);
    default: fail_at(line, "TypeError: object of type '%s' has no len()", type_name(v));
  }
}

// ---- str helpers ----

static bool in_chars(uint32_t c, const std::string& chars) {
  for (size_t pos = 0, len = 0; pos < chars.size(); pos += len)
    if (decode_at(chars, pos, &len) == c) return true;
  return false;
}

TString py_strip(const TString& s, const Value& chars, bool left, bool right, int line) {
  bool ws = chars.is_none() || chars.is_undefined();
  if (!ws && !chars.is_string()) fail_at(line, "TypeError: strip arg must be None or str");
  auto offs = utf8_offsets(s.text);
  size_t b = 0, e = offs.size() - 1;
  auto strip_at = [&](size_t k) {
    size_t len = 0;
    uint32_t c = decode_at(s.text, offs[k], &len);
    return ws ? py_isspace(c) : in_chars(c, chars.str());
  };
  while (left && b < e && strip_at(b)) ++b;
  while (right && e > b && strip_at(e - 1)) --e;
  return s.substr(offs[b], offs[e] - offs[b]);
}

static void append_cp(TString& out, uint32_t c, bool origin) {
  utf8proc_uint8_t buf[4];
  auto n = utf8proc_encode_char(utf8proc_int32_t(c), buf);
  out.append(std::string_view(reinterpret_cast<char*>(buf), size_t(n)), origin);
}

// Python uses full case mappings (e.g. 'ß'.upper() == 'SS'); utf8proc gives the simple ones, equal for all but a
// handful of characters (documented in docs/CHAT.md).
TString py_case(const TString& s, int mode) {
  TString out;
  bool prev_cased = false, first = true;
  for (size_t pos = 0, len = 0; pos < s.text.size(); pos += len) {
    uint32_t c = decode_at(s.text, pos, &len);
    bool origin = s.origin[pos] != 0;
    if (len == 1 && c >= 0x80) {  // invalid byte: copy
      out.append(s.substr(pos, 1));
      continue;
    }
    auto ci = utf8proc_int32_t(c);
    uint32_t m = c;
    if (mode == 0) m = uint32_t(utf8proc_tolower(ci));
    else if (mode == 1) m = uint32_t(utf8proc_toupper(ci));
    else if (mode == 2) m = uint32_t(prev_cased ? utf8proc_tolower(ci) : utf8proc_totitle(ci));
    else m = uint32_t(first ? utf8proc_totitle(ci) : utf8proc_tolower(ci));
    bool cased = utf8proc_tolower(ci) != ci || utf8proc_toupper(ci) != ci;
    prev_cased = cased;
    first = false;
    append_cp(out, m, origin);
  }
  return out;
}

std::vector<TString> py_split(const TString& s, const Value& sep, int64_t maxsplit, int line) {
  std::vector<TString> out;
  const std::string& t = s.text;
  if (sep.is_none() || sep.is_undefined()) {  // runs of whitespace, no empty strings
    size_t pos = 0;
    auto skip_ws = [&](size_t p) {
      size_t len = 0;
      while (p < t.size() && py_isspace(decode_at(t, p, &len))) p += len;
      return p;
    };
    pos = skip_ws(pos);
    while (pos < t.size()) {
      if (maxsplit >= 0 && int64_t(out.size()) >= maxsplit) {  // the rest, trailing whitespace included
        out.push_back(s.substr(pos));
        return out;
      }
      size_t e = pos, len = 0;
      while (e < t.size() && !py_isspace(decode_at(t, e, &len))) e += len;
      out.push_back(s.substr(pos, e - pos));
      pos = skip_ws(e);
    }
    return out;
  }
  if (!sep.is_string()) fail_at(line, "TypeError: must be str or None, not %s", type_name(sep));
  const std::string& d = sep.str();
  if (d.empty()) fail_at(line, "ValueError: empty separator");
  size_t pos = 0;
  while (true) {
    size_t f = (maxsplit >= 0 && int64_t(out.size()) >= maxsplit) ? std::string::npos : t.find(d, pos);
    if (f == std::string::npos) {
      out.push_back(s.substr(pos));
      return out;
    }
    out.push_back(s.substr(pos, f - pos));
    pos = f + d.size();
  }
}

std::vector<TString> py_splitlines(const TString& s) {
  std::vector<TString> out;
  const std::string& t = s.text;
  size_t start = 0;
  for (size_t pos = 0, len = 0; pos < t.size(); pos += len) {
    uint32_t c = decode_at(t, pos, &len);
    bool brk = c == '\n' || c == '\r' || c == 0x0b || c == 0x0c || c == 0x1c || c == 0x1d || c == 0x1e ||
               c == 0x85 || c == 0x2028 || c == 0x2029;
    if (!brk) continue;
    out.push_back(s.substr(start, pos - start));
    if (c == '\r' && pos + 1 < t.size() && t[pos + 1] == '\n') ++len;
    start = pos + len;
  }
  if (start < t.size()) out.push_back(s.substr(start));
  return out;
}

TString py_replace(const TString& s, const TString& old, const TString& with, int64_t count) {
  TString out;
  const std::string& t = s.text;
  if (old.text.empty()) {  // Python inserts `with` before every character and at the end
    auto offs = utf8_offsets(t);
    int64_t n = 0;
    for (size_t k = 0; k + 1 < offs.size(); ++k) {
      if (count < 0 || n < count) out.append(with), ++n;
      out.append(s.substr(offs[k], offs[k + 1] - offs[k]));
      check_string_size(out.text.size(), 0);
    }
    if (count < 0 || n < count) out.append(with);
    return out;
  }
  size_t pos = 0;
  int64_t n = 0;
  while (count < 0 || n < count) {
    size_t f = t.find(old.text, pos);
    if (f == std::string::npos) break;
    out.append(s.substr(pos, f - pos));
    out.append(with);
    check_string_size(out.text.size(), 0);
    pos = f + old.text.size(), ++n;
  }
  out.append(s.substr(pos));
  return out;
}

// ---- methods ----

static int64_t int_arg(const Value& v, int64_t dflt, const char* what, int line) {
  if (v.is_undefined() || v.is_none()) return dflt;
  if (v.kind == Kind::Int) return v.i;
  if (v.kind == Kind::Bool) return v.b;
  fail_at(line, "TypeError: %s must be an integer, not %s", what, type_name(v));
}

static const TString& str_arg(const Value& v, const char* what, int line) {
  if (!v.is_string()) fail_at(line, "TypeError: %s must be str, not %s", what, type_name(v));
  return *v.s;
}

static Value list_of(std::vector<TString> parts) {
  std::vector<Value> items;
  for (auto& p : parts) items.push_back(Value::string(std::move(p)));
  return Value::make_list(std::move(items));
}

// Code point index of a byte offset, for find()/index() results.
static int64_t cp_index(const std::string& t, size_t byte_pos) {
  return int64_t(utf8_offsets(std::string_view(t).substr(0, byte_pos)).size() - 1);
}

static Value str_method(const Value& self, const std::string& name, CallArgs& a) {
  const TString& s = *self.s;
  int line = a.line;
  std::string what = "str." + name;
  if (name == "startswith" || name == "endswith") {
    a.check(what.c_str(), 1, {});
    Value p = a.get(0, "");
    std::vector<Value> options = p.kind == Kind::List && p.list->is_tuple ? p.list->items : std::vector<Value>{p};
    for (const Value& o : options) {
      const std::string& x = str_arg(o, what.c_str(), line).text;
      bool hit = name == "startswith" ? s.text.compare(0, x.size(), x) == 0 && s.text.size() >= x.size()
                                      : s.text.size() >= x.size() &&
                                            s.text.compare(s.text.size() - x.size(), x.size(), x) == 0;
      if (hit) return Value::boolean(true);
    }
    return Value::boolean(false);
  }
  if (name == "strip" || name == "lstrip" || name == "rstrip") {
    a.check(what.c_str(), 1, {});
    return Value::string(py_strip(s, a.get(0, ""), name != "rstrip", name != "lstrip", line));
  }
  if (name == "split" || name == "rsplit") {
    a.check(what.c_str(), 2, {"sep", "maxsplit"});
    int64_t maxsplit = int_arg(a.get(1, "maxsplit"), -1, "maxsplit", line);
    if (name == "rsplit" && maxsplit >= 0) fail_at(line, "unsupported construct: str.rsplit with maxsplit");
    return list_of(py_split(s, a.get(0, "sep"), maxsplit, line));
  }
  if (name == "splitlines") {
    a.check(what.c_str(), 0, {});
    return list_of(py_splitlines(s));
  }
  if (name == "replace") {
    a.check(what.c_str(), 3, {"count"});
    return Value::string(py_replace(s, str_arg(a.get(0, ""), what.c_str(), line),
                                    str_arg(a.get(1, ""), what.c_str(), line),
                                    int_arg(a.get(2, "count"), -1, "count", line)));
  }
  if (name == "upper" || name == "lower" || name == "title" || name == "capitalize") {
    a.check(what.c_str(), 0, {});
    return Value::string(py_case(s, name == "lower" ? 0 : name == "upper" ? 1 : name == "title" ? 2 : 3));
  }
  if (name == "find" || name == "rfind" || name == "index" || name == "rindex" || name == "count") {
    a.check(what.c_str(), 1, {});
    const std::string& x = str_arg(a.get(0, ""), what.c_str(), line).text;
    if (name == "count") {
      if (x.empty()) return Value::integer(int64_t(utf8_offsets(s.text).size()));
      int64_t n = 0;
      for (size_t f = s.text.find(x); f != std::string::npos; f = s.text.find(x, f + x.size())) ++n;
      return Value::integer(n);
    }
    size_t f = name[0] == 'r' ? s.text.rfind(x) : s.text.find(x);
    if (f == std::string::npos) {
      if (name == "index" || name == "rindex") fail_at(line, "ValueError: substring not found");
      return Value::integer(-1);
    }
    return Value::integer(cp_index(s.text, f));
  }
  if (name == "join") {
    a.check(what.c_str(), 1, {});
    TString out;
    bool first = true;
    for (const Value& v : iterate(a.get(0, ""), line)) {
      if (!v.is_string()) fail_at(line, "TypeError: sequence item: expected str instance, %s found", type_name(v));
      if (!first) out.append(s);
      out.append(*v.s);
      first = false;
      check_string_size(out.text.size(), line);
    }
    return Value::string(std::move(out));
  }
  fail_at(line, "unsupported construct: string method '%s'", name.c_str());
}

static const char* const kStrMethods[] = {
    "capitalize", "casefold", "center", "count", "encode", "endswith", "expandtabs", "find", "format", "format_map",
    "index", "isalnum", "isalpha", "isascii", "isdecimal", "isdigit", "isidentifier", "islower", "isnumeric",
    "isprintable", "isspace", "istitle", "isupper", "join", "ljust", "lower", "lstrip", "maketrans", "partition",
    "removeprefix", "removesuffix", "replace", "rfind", "rindex", "rjust", "rpartition", "rsplit", "rstrip", "split",
    "splitlines", "startswith", "strip", "swapcase", "title", "translate", "upper", "zfill"};
static const char* const kDictMethods[] = {"clear", "copy", "fromkeys", "get", "items", "keys",
                                           "pop", "popitem", "setdefault", "update", "values"};
static const char* const kListMethods[] = {"append", "clear", "copy", "count", "extend", "index",
                                           "insert", "pop", "remove", "reverse", "sort"};
template <size_t N>
static bool listed(const char* const (&names)[N], const std::string& n) {
  for (const char* x : names)
    if (n == x) return true;
  return false;
}

static Value dict_method(const Value& self, const std::string& name, CallArgs& a) {
  const DictData& d = *self.dict;
  std::string what = "dict." + name;
  if (name == "items" || name == "keys" || name == "values") {
    a.check(what.c_str(), 0, {});
    std::vector<Value> out;
    for (const auto& [k, v] : d.items) {
      if (name == "items") out.push_back(Value::make_list({k, v}, true));
      else out.push_back(name == "keys" ? k : v);
    }
    return Value::make_list(std::move(out));
  }
  if (name == "get") {
    a.check(what.c_str(), 2, {});
    const Value* v = d.find(a.get(0, ""));
    if (v) return *v;
    Value dflt = a.get(1, "");
    return dflt.is_undefined() ? Value::none() : dflt;
  }
  if (name == "copy") return self;
  fail_at(a.line, "unsupported construct: dict method '%s'", name.c_str());
}

static Value list_method(const Value& self, const std::string& name, CallArgs& a) {
  const auto& items = self.list->items;
  a.check(("list." + name).c_str(), 1, {});
  if (name == "count" || name == "index") {
    Value x = a.get(0, "");
    int64_t n = 0;
    for (size_t k = 0; k < items.size(); ++k) {
      if (!equal(items[k], x)) continue;
      if (name == "index") return Value::integer(int64_t(k));
      ++n;
    }
    if (name == "index") fail_at(a.line, "ValueError: value is not in list");
    return Value::integer(n);
  }
  if (name == "copy") return self;
  fail_at(a.line, "unsupported construct: list method '%s'", name.c_str());
}

// The sandbox refuses methods that mutate a dict or list: they resolve to an Undefined that fails when called.
static Value unsafe(const Value& obj, const std::string& name) {
  return Value::callable(name, [type = std::string(type_name(obj)), name](CallArgs& a) -> Value {
    fail_at(a.line, "SecurityError: access to attribute '%s' of '%s' object is unsafe", name.c_str(), type.c_str());
  });
}

static bool method_of(const Value& obj, const std::string& name, Value* out) {
  if (obj.is_string() && listed(kStrMethods, name)) {
    *out = Value::callable("str." + name, [obj, name](CallArgs& a) { return str_method(obj, name, a); });
    return true;
  }
  if (obj.kind == Kind::Dict && listed(kDictMethods, name)) {
    bool mutates = name == "clear" || name == "pop" || name == "popitem" || name == "setdefault" || name == "update";
    *out = mutates ? unsafe(obj, name)
                   : Value::callable("dict." + name, [obj, name](CallArgs& a) { return dict_method(obj, name, a); });
    return true;
  }
  if (obj.kind == Kind::List && listed(kListMethods, name)) {
    bool reads = name == "copy" || name == "count" || name == "index";
    if (obj.list->is_tuple && !reads) return false;
    *out = !reads ? unsafe(obj, name)
                  : Value::callable("list." + name, [obj, name](CallArgs& a) { return list_method(obj, name, a); });
    return true;
  }
  return false;
}

Value get_attr(const Value& obj, const std::string& name, int line) {
  if (obj.is_undefined()) undefined_error(obj, line);
  Value m;
  if (method_of(obj, name, &m)) return m;
  if (obj.kind == Kind::Namespace) {
    const Value* v = obj.ns->find(Value::string(name, false));
    return v ? *v : Value::undefined("'Namespace' object has no attribute '" + name + "'");
  }
  if (obj.kind == Kind::Dict) {
    const Value* v = obj.dict->find(Value::string(name, false));
    if (v) return *v;
  }
  return Value::undefined("'" + std::string(type_name(obj)) + " object' has no attribute '" + name + "'");
}

static int64_t normalize_index(int64_t i, size_t n) { return i < 0 ? i + int64_t(n) : i; }

Value get_item(const Value& obj, const Value& key, int line) {
  if (obj.is_undefined()) undefined_error(obj, line);
  bool int_key = key.kind == Kind::Int || key.kind == Kind::Bool;
  int64_t ik = key.kind == Kind::Bool ? int64_t(key.b) : key.i;
  if (obj.kind == Kind::List && int_key) {
    int64_t i = normalize_index(ik, obj.list->items.size());
    if (i >= 0 && i < int64_t(obj.list->items.size())) return obj.list->items[size_t(i)];
    return Value::undefined(std::string(type_name(obj)) + " object has no element " + std::to_string(ik));
  }
  if (obj.is_string() && int_key) {
    auto offs = utf8_offsets(obj.str());
    int64_t i = normalize_index(ik, offs.size() - 1);
    if (i >= 0 && i < int64_t(offs.size() - 1))
      return Value::string(obj.s->substr(offs[size_t(i)], offs[size_t(i) + 1] - offs[size_t(i)]));
    return Value::undefined("str object has no element " + std::to_string(ik));
  }
  if (obj.kind == Kind::Dict) {
    const Value* v = obj.dict->find(key);
    if (v) return *v;
  }
  if (key.is_string()) {  // jinja2 falls back to getattr for string keys
    Value m;
    if (method_of(obj, key.str(), &m)) return m;
    if (obj.kind == Kind::Namespace) {
      const Value* v = obj.ns->find(key);
      if (v) return *v;
    }
  }
  return Value::undefined(std::string(type_name(obj)) + " object has no element " + to_repr(key).text);
}

// PySlice_GetIndicesEx: clamp start/stop for the step's direction, then walk.
static std::vector<size_t> slice_positions(size_t n, const Value& start, const Value& stop, const Value& step,
                                           int line) {
  auto opt = [&](const Value& v, const char* what) -> std::optional<int64_t> {
    if (v.is_none() || v.is_undefined()) return std::nullopt;
    return int_arg(v, 0, what, line);
  };
  auto a = opt(start, "slice start"), b = opt(stop, "slice stop"), c = opt(step, "slice step");
  int64_t st = c.value_or(1);
  if (st == 0) fail_at(line, "ValueError: slice step cannot be zero");
  int64_t len = int64_t(n);
  auto clamp = [&](std::optional<int64_t> v, int64_t dflt) {
    if (!v) return dflt;
    int64_t x = *v < 0 ? (*v < -len ? -len : *v) + len : *v;
    if (st > 0) return x < 0 ? 0 : x > len ? len : x;
    return x < 0 ? -1 : x >= len ? len - 1 : x;
  };
  int64_t i = clamp(a, st > 0 ? 0 : len - 1), e = clamp(b, st > 0 ? len : -1);
  std::vector<size_t> out;
  for (; st > 0 ? i < e : i > e; i += st) out.push_back(size_t(i));
  return out;
}

Value slice(const Value& obj, const Value& start, const Value& stop, const Value& step, int line) {
  if (obj.is_undefined()) undefined_error(obj, line);
  if (obj.kind == Kind::List) {
    std::vector<Value> out;
    for (size_t k : slice_positions(obj.list->items.size(), start, stop, step, line)) out.push_back(obj.list->items[k]);
    return Value::make_list(std::move(out), obj.list->is_tuple);
  }
  if (obj.is_string()) {
    auto offs = utf8_offsets(obj.str());
    TString out;
    for (size_t k : slice_positions(offs.size() - 1, start, stop, step, line))
      out.append(obj.s->substr(offs[k], offs[k + 1] - offs[k]));
    return Value::string(std::move(out));
  }
  return Value::undefined(std::string(type_name(obj)) + " object is not subscriptable");
}

}  // namespace qwen3::jinja
