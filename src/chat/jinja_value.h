// Values of the Jinja-subset interpreter, with Python's semantics (the reference is jinja2 running on
// CPython, as transformers' apply_chat_template does). Every string carries the origin of each of its bytes,
// so the rendered prompt can tell the tokenizer which bytes came from the template's own text (where control
// tokens count) and which were inserted from messages, tools or other values (where they must stay plain
// text).
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include <nlohmann/json.hpp>

namespace qwen3::jinja {

// Text plus one origin byte per text byte: 1 = template literal, 0 = inserted value.
struct TString {
  std::string text;
  std::string origin;

  TString() = default;
  TString(std::string_view s, bool from_template) : text(s), origin(s.size(), from_template ? 1 : 0) {}
  void append(const TString& o) { text += o.text, origin += o.origin; }
  void append(std::string_view s, bool from_template) {
    text += s;
    origin.append(s.size(), from_template ? 1 : 0);
  }
  TString substr(size_t pos, size_t n = std::string::npos) const {
    TString r;
    r.text = text.substr(pos, n), r.origin = origin.substr(pos, n);
    return r;
  }
};

// BigInt: a Python int outside int64 (a 20-digit id in a tool call's arguments), kept as its decimal digits
// so it prints exactly as Python does; arithmetic and comparisons on it are refused as type errors.
enum class Kind { Undefined, None, Bool, Int, BigInt, Float, String, List, Dict, Namespace, Callable };

struct Value;
struct ListData {
  std::vector<Value> items;
  bool is_tuple = false;  // tuples print as (a, b)
  int depth = 1;          // nesting of lists/dicts inside, bounded so destruction cannot overflow the stack
};
// Python dicts keep insertion order; keys are compared by value (lookup is linear: chat dicts are small).
struct DictData {
  std::vector<std::pair<Value, Value>> items;
  int depth = 1;
  const Value* find(const Value& key) const;
  void set(const Value& key, Value v);
};
struct CallArgs;
struct Callable {
  std::string name;  // for messages: "raise_exception", "str.startswith", "macro m"
  std::function<Value(CallArgs&)> fn;
};

struct Value {
  Kind kind = Kind::Undefined;
  bool b = false;
  int64_t i = 0;
  double f = 0;
  std::shared_ptr<const TString> s;      // String; for Undefined: the name that was missing (may be null)
  std::shared_ptr<const ListData> list;  // List
  std::shared_ptr<const DictData> dict;  // Dict
  std::shared_ptr<DictData> ns;          // Namespace: the one mutable kind (set ns.attr = ...)
  std::shared_ptr<const Callable> fn;    // Callable

  static Value undefined(std::string what = {});
  static Value none() {
    Value v;
    v.kind = Kind::None;
    return v;
  }
  static Value boolean(bool x) {
    Value v;
    v.kind = Kind::Bool;
    v.b = x;
    return v;
  }
  static Value integer(int64_t x) {
    Value v;
    v.kind = Kind::Int;
    v.i = x;
    return v;
  }
  static Value big_integer(std::string digits);  // "-123…": outside int64
  static Value real(double x) {
    Value v;
    v.kind = Kind::Float;
    v.f = x;
    return v;
  }
  static Value string(TString x);
  static Value string(std::string_view x, bool from_template) { return string(TString(x, from_template)); }
  static Value make_list(std::vector<Value> items, bool is_tuple = false);
  static Value make_dict(DictData d);
  static Value make_namespace(DictData d);
  static Value callable(std::string name, std::function<Value(CallArgs&)> fn);

  bool is_undefined() const { return kind == Kind::Undefined; }
  bool is_none() const { return kind == Kind::None; }
  bool is_string() const { return kind == Kind::String; }
  bool is_number() const { return kind == Kind::Int || kind == Kind::Float || kind == Kind::Bool; }
  const std::string& str() const { return s->text; }  // String only
};

// Positional and keyword arguments of a call, filter or test (the subject of a filter is args[0]).
struct CallArgs {
  std::vector<Value> args;
  std::vector<std::pair<std::string, Value>> kwargs;
  int line = 0;
  // Takes the argument at `pos` or named `name`; Undefined when absent.
  Value get(size_t pos, const char* name) const;
  // Fails naming `what` when more positional/keyword arguments were given than `n_max` / `names` allow.
  void check(const char* what, size_t n_max, std::initializer_list<const char*> names) const;
};

// While set, every namespace created is recorded here (see jinja_eval.cpp, which breaks cycles after a
// render).
extern thread_local std::vector<std::shared_ptr<DictData>>* g_namespaces;

// Python semantics used across the interpreter.
const char* type_name(const Value& v);  // Python's name: 'str', 'dict', 'NoneType', ...
bool truthy(const Value& v);
bool equal(const Value& a, const Value& b);             // ==
int compare(const Value& a, const Value& b, int line);  // <, for numbers, strings, lists; throws otherwise
TString to_str(const Value& v);                         // str(v), as {{ v }} prints it
TString to_repr(const Value& v);                        // repr(v), as str() of a container prints its items
std::string py_float_repr(double x);                    // repr(float)
// json.dumps(v, ensure_ascii, indent, separators, sort_keys); indent < 0 means None; indent_str overrides it.
struct JsonOptions {
  bool ensure_ascii = false;
  bool has_indent = false;
  std::string indent;
  std::string item_sep = ", ", key_sep = ": ";
  bool sort_keys = false;
};
TString to_json(const Value& v, const JsonOptions& opt, int line);

// Conversions from the request's JSON: all strings are marked as inserted values (origin 0) unless `trusted`.
Value from_json(const nlohmann::ordered_json& j, bool trusted = false);

// Unicode helpers on UTF-8 (invalid bytes count as one character each, so hostile input never crashes).
std::vector<uint32_t> utf8_offsets(std::string_view s);  // byte offset of each code point, plus s.size()
bool py_isspace(uint32_t cp);
uint32_t decode_at(std::string_view s, size_t pos, size_t* len);

}  // namespace qwen3::jinja
