// Tests (`x is defined`, ...) from jinja2's tests.py and the global functions of transformers' environment:
// range, dict, namespace (defaults.py) plus raise_exception and strftime_now. Unknown tests fail at load
// time.
#include <ctime>
#include <map>

#include "chat/jinja_runtime.h"
#include "core/error.h"

namespace qwen3::jinja {

namespace {

using TestFn = bool (*)(CallArgs&);

Value subject(CallArgs& a) {
  return a.args.empty() ? Value::undefined() : a.args[0];
}

// ---- tests ----

Value targ(CallArgs& a) {
  return a.get(1, "");
}
bool t_defined(CallArgs& a) {
  return !subject(a).is_undefined();
}
bool t_undefined(CallArgs& a) {
  return subject(a).is_undefined();
}
bool t_none(CallArgs& a) {
  return subject(a).is_none();
}
bool t_boolean(CallArgs& a) {
  return subject(a).kind == Kind::Bool;
}
bool t_false(CallArgs& a) {
  return subject(a).kind == Kind::Bool && !subject(a).b;
}
bool t_true(CallArgs& a) {
  return subject(a).kind == Kind::Bool && subject(a).b;
}
bool t_integer(CallArgs& a) {
  return subject(a).kind == Kind::Int || subject(a).kind == Kind::BigInt;
}
bool t_float(CallArgs& a) {
  return subject(a).kind == Kind::Float;
}
bool t_number(CallArgs& a) {
  return subject(a).is_number();
}
bool t_string(CallArgs& a) {
  return subject(a).is_string();
}
bool t_mapping(CallArgs& a) {
  return subject(a).kind == Kind::Dict;
}
bool t_iterable(CallArgs& a) {
  Kind k = subject(a).kind;
  return k == Kind::List || k == Kind::Dict || k == Kind::String || k == Kind::Undefined;
}
bool t_sequence(CallArgs& a) {
  return t_iterable(a);
}  // len() and __getitem__: str, list, tuple, dict, Undefined
bool t_callable(CallArgs& a) {
  return subject(a).kind == Kind::Callable;
}
bool t_eq(CallArgs& a) {
  return equal(subject(a), targ(a));
}
bool t_ne(CallArgs& a) {
  return !equal(subject(a), targ(a));
}
bool t_lt(CallArgs& a) {
  return compare(subject(a), targ(a), a.line) < 0;
}
bool t_le(CallArgs& a) {
  return compare(subject(a), targ(a), a.line) <= 0;
}
bool t_gt(CallArgs& a) {
  return compare(subject(a), targ(a), a.line) > 0;
}
bool t_ge(CallArgs& a) {
  return compare(subject(a), targ(a), a.line) >= 0;
}
bool t_in(CallArgs& a) {
  for (const Value& v : iterate(targ(a), a.line))
    if (equal(v, subject(a))) return true;
  if (targ(a).is_string() && subject(a).is_string())
    return targ(a).str().find(subject(a).str()) != std::string::npos;
  return false;
}
int64_t int_subject(CallArgs& a) {
  Value v = subject(a);
  if (v.kind == Kind::Int) return v.i;
  if (v.kind == Kind::Bool) return v.b;
  fail_at(a.line, "TypeError: expected an integer, got %s", type_name(v));
}
bool t_odd(CallArgs& a) {
  return int_subject(a) % 2 != 0;
}
bool t_even(CallArgs& a) {
  return int_subject(a) % 2 == 0;
}
bool t_divisibleby(CallArgs& a) {
  Value d = targ(a);
  if (d.kind != Kind::Int || d.i == 0) fail_at(a.line, "divisibleby needs a non-zero integer");
  return d.i == -1 || int_subject(a) % d.i == 0;
}
bool t_lower(CallArgs& a) {
  return subject(a).is_string() && py_case(*subject(a).s, 0).text == subject(a).str();
}
bool t_upper(CallArgs& a) {
  return subject(a).is_string() && py_case(*subject(a).s, 1).text == subject(a).str();
}
bool t_sameas(CallArgs& a) {
  Value x = subject(a), y = targ(a);
  if (x.kind != y.kind) return false;
  if (x.kind == Kind::None || x.kind == Kind::Bool) return equal(x, y);
  return x.s == y.s && x.list == y.list && x.dict == y.dict && x.ns == y.ns && x.fn == y.fn && x.i == y.i;
}

const std::map<std::string, TestFn>& tests() {
  static const std::map<std::string, TestFn> m = {
      {"defined", t_defined},
      {"undefined", t_undefined},
      {"none", t_none},
      {"boolean", t_boolean},
      {"false", t_false},
      {"true", t_true},
      {"integer", t_integer},
      {"float", t_float},
      {"number", t_number},
      {"string", t_string},
      {"mapping", t_mapping},
      {"iterable", t_iterable},
      {"sequence", t_sequence},
      {"callable", t_callable},
      {"eq", t_eq},
      {"equalto", t_eq},
      {"==", t_eq},
      {"ne", t_ne},
      {"!=", t_ne},
      {"lt", t_lt},
      {"lessthan", t_lt},
      {"<", t_lt},
      {"le", t_le},
      {"<=", t_le},
      {"gt", t_gt},
      {"greaterthan", t_gt},
      {">", t_gt},
      {"ge", t_ge},
      {">=", t_ge},
      {"in", t_in},
      {"odd", t_odd},
      {"even", t_even},
      {"divisibleby", t_divisibleby},
      {"lower", t_lower},
      {"upper", t_upper},
      {"sameas", t_sameas},
  };
  return m;
}

// ---- globals ----

Value g_range(CallArgs& a) {
  a.check("range()", 3, {});
  auto num = [&](size_t k) {
    Value v = a.args[k];
    if (v.kind == Kind::Bool) return int64_t(v.b);
    if (v.kind != Kind::Int)
      fail_at(a.line, "TypeError: '%s' object cannot be interpreted as an integer", type_name(v));
    return v.i;
  };
  if (a.args.empty()) fail_at(a.line, "TypeError: range expected at least 1 argument, got 0");
  int64_t start = 0, stop = 0, step = 1;
  if (a.args.size() == 1)
    stop = num(0);
  else
    start = num(0), stop = num(1), step = a.args.size() == 3 ? num(2) : 1;
  if (step == 0) fail_at(a.line, "ValueError: range() arg 3 must not be zero");
  std::vector<Value> out;
  for (int64_t i = start; step > 0 ? i < stop : i > stop; i += step) {
    if (out.size() >= kMaxItems) fail_at(a.line, "range() longer than %zu items", kMaxItems);
    out.push_back(Value::integer(i));
    if ((step > 0 && i > INT64_MAX - step) || (step < 0 && i < INT64_MIN - step)) break;
  }
  return Value::make_list(std::move(out));
}

Value g_dict(CallArgs& a) {
  if (a.args.size() > 1)
    fail_at(a.line, "TypeError: dict expected at most 1 argument, got %zu", a.args.size());
  DictData d;
  if (!a.args.empty()) {
    if (a.args[0].kind != Kind::Dict)
      fail_at(a.line, "unsupported construct: dict() from a %s", type_name(a.args[0]));
    d = *a.args[0].dict;
  }
  for (auto& [k, v] : a.kwargs) d.set(Value::string(k, true), v);
  return Value::make_dict(std::move(d));
}

Value g_namespace(CallArgs& a) {
  if (a.args.size() > 1) fail_at(a.line, "TypeError: namespace() takes at most 1 positional argument");
  DictData d;
  if (!a.args.empty()) {
    if (a.args[0].kind != Kind::Dict)
      fail_at(a.line, "unsupported construct: namespace() from a %s", type_name(a.args[0]));
    d = *a.args[0].dict;
  }
  for (auto& [k, v] : a.kwargs) d.set(Value::string(k, true), v);
  return Value::make_namespace(std::move(d));
}

Value g_raise_exception(CallArgs& a) {
  std::string msg = a.args.empty() ? std::string() : to_str(a.args[0]).text;
  throw_error("chat template raised an exception (line %d): %s", a.line, msg.c_str());
}

Value g_strftime_now(CallArgs& a) {
  a.check("strftime_now()", 1, {});
  Value fmt = a.get(0, "");
  if (!fmt.is_string()) fail_at(a.line, "TypeError: strftime_now() needs a format string");
  std::time_t t = std::time(nullptr);
  std::tm tm{};
  localtime_r(&t, &tm);
  char buf[512];
  size_t n = std::strftime(buf, sizeof buf, fmt.str().c_str(), &tm);
  return Value::string(std::string(buf, n), false);
}

}  // namespace

bool has_test(const std::string& name) {
  return tests().count(name) != 0;
}

bool call_test(const std::string& name, CallArgs& a) {
  auto it = tests().find(name);
  if (it == tests().end()) fail_at(a.line, "unsupported construct: test '%s'", name.c_str());
  return it->second(a);
}

Value global_function(const std::string& name) {
  if (name == "range") return Value::callable(name, g_range);
  if (name == "dict") return Value::callable(name, g_dict);
  if (name == "namespace") return Value::callable(name, g_namespace);
  if (name == "raise_exception") return Value::callable(name, g_raise_exception);
  if (name == "strftime_now") return Value::callable(name, g_strftime_now);
  return Value::undefined();
}

}  // namespace qwen3::jinja
