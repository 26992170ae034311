// Filters, tests and global functions: jinja2's defaults (filters.py, tests.py, defaults.py) plus the ones
// transformers installs (its tojson override, raise_exception, strftime_now). Anything else fails at load time.
#include <cmath>
#include <ctime>
#include <map>

#include "chat/jinja_runtime.h"
#include "core/error.h"

namespace qwen3::jinja {

namespace {

using FilterFn = Value (*)(CallArgs&);
using TestFn = bool (*)(CallArgs&);

Value subject(CallArgs& a) { return a.args.empty() ? Value::undefined() : a.args[0]; }
Value arg(CallArgs& a, size_t pos, const char* name) { return a.get(pos + 1, name); }

bool is_int(const Value& v) { return v.kind == Kind::Int; }

TString soft_str(const Value& v) { return to_str(v); }

// jinja2's make_attrgetter: "a.b.0" looks up each part with getitem (item first), digits as integer indexes.
Value attr_path(const Value& v, const Value& attr, int line) {
  if (is_int(attr)) return get_item(v, attr, line);
  std::string path = soft_str(attr).text;
  Value x = v;
  size_t start = 0;
  while (true) {
    size_t dot = path.find('.', start);
    std::string part = path.substr(start, dot == std::string::npos ? std::string::npos : dot - start);
    bool digits = !part.empty() && part.size() < 18 && part.find_first_not_of("0123456789") == std::string::npos;
    x = get_item(x, digits ? Value::integer(std::stoll(part)) : Value::string(part, false), line);
    if (dot == std::string::npos) return x;
    start = dot + 1;
  }
}

Value f_tojson(CallArgs& a) {
  // transformers: tojson(x, ensure_ascii=False, indent=None, separators=None, sort_keys=False) -> json.dumps(...)
  a.check("tojson filter", 5, {"ensure_ascii", "indent", "separators", "sort_keys"});
  JsonOptions o;
  o.ensure_ascii = truthy(arg(a, 0, "ensure_ascii"));
  Value indent = arg(a, 1, "indent");
  if (!indent.is_undefined() && !indent.is_none()) {
    o.has_indent = true;
    if (indent.is_string()) o.indent = indent.str();
    else if (is_int(indent)) o.indent = std::string(size_t(std::clamp<int64_t>(indent.i, 0, 256)), ' ');
    else fail_at(a.line, "TypeError: tojson indent must be an int or a string");
    o.item_sep.assign(1, ',');  // not `= ","`: g++ 12 -O2 warns falsely (-Wrestrict) on the latter
  }
  Value seps = arg(a, 2, "separators");
  if (!seps.is_undefined() && !seps.is_none()) {
    if (seps.kind != Kind::List || seps.list->items.size() != 2 || !seps.list->items[0].is_string() ||
        !seps.list->items[1].is_string())
      fail_at(a.line, "TypeError: tojson separators must be a pair of strings");
    o.item_sep = seps.list->items[0].str(), o.key_sep = seps.list->items[1].str();
  }
  o.sort_keys = truthy(arg(a, 3, "sort_keys"));
  return Value::string(to_json(subject(a), o, a.line));
}

Value f_length(CallArgs& a) {
  a.check("length filter", 1, {});
  return Value::integer(length(subject(a), a.line));
}

Value f_trim(CallArgs& a) {
  a.check("trim filter", 2, {"chars"});
  return Value::string(py_strip(soft_str(subject(a)), arg(a, 0, "chars"), true, true, a.line));
}

Value f_join(CallArgs& a) {
  a.check("join filter", 3, {"d", "attribute"});
  Value d = arg(a, 0, "d"), attr = arg(a, 1, "attribute");
  TString sep = d.is_undefined() ? TString() : soft_str(d);
  TString out;
  bool first = true;
  for (Value v : iterate(subject(a), a.line)) {
    if (!attr.is_undefined() && !attr.is_none()) v = attr_path(v, attr, a.line);
    if (!first) out.append(sep);
    out.append(soft_str(v));
    first = false;
    check_string_size(out.text.size(), a.line);
  }
  return Value::string(std::move(out));
}

Value f_default(CallArgs& a) {
  a.check("default filter", 3, {"default_value", "boolean"});
  Value v = subject(a), dflt = arg(a, 0, "default_value");
  if (dflt.is_undefined()) dflt = Value::string("", true);
  bool use = truthy(arg(a, 1, "boolean")) ? !truthy(v) : v.is_undefined();
  return use ? dflt : v;
}

Value f_items(CallArgs& a) {
  a.check("items filter", 1, {});
  Value v = subject(a);
  if (v.is_undefined()) return Value::make_list({});
  if (v.kind != Kind::Dict) fail_at(a.line, "Can only get item pairs from a mapping.");
  std::vector<Value> out;
  for (const auto& [k, x] : v.dict->items) out.push_back(Value::make_list({k, x}, true));
  return Value::make_list(std::move(out));
}

Value f_string(CallArgs& a) {
  a.check("string filter", 1, {});
  return Value::string(soft_str(subject(a)));
}

Value f_list(CallArgs& a) {
  a.check("list filter", 1, {});
  return Value::make_list(iterate(subject(a), a.line));
}

Value f_first(CallArgs& a) {
  a.check("first filter", 1, {});
  auto items = iterate(subject(a), a.line);
  return items.empty() ? Value::undefined("No first item, sequence was empty.") : items.front();
}

Value f_last(CallArgs& a) {
  a.check("last filter", 1, {});
  auto items = iterate(subject(a), a.line);
  return items.empty() ? Value::undefined("No last item, sequence was empty.") : items.back();
}

Value f_case(CallArgs& a, int mode) {
  a.check("case filter", 1, {});
  return Value::string(py_case(soft_str(subject(a)), mode));
}
Value f_lower(CallArgs& a) { return f_case(a, 0); }
Value f_upper(CallArgs& a) { return f_case(a, 1); }
// jinja2's title filter is not str.title(): words start after runs of [-\s({\[<], and each word is
// word[0].upper() + word[1:].lower().
Value f_title(CallArgs& a) {
  a.check("title filter", 1, {});
  TString s = soft_str(subject(a)), out;
  bool word_start = true;
  for (size_t pos = 0, len = 0; pos < s.text.size(); pos += len) {
    uint32_t c = decode_at(s.text, pos, &len);
    bool sep = c == '-' || c == '(' || c == '{' || c == '[' || c == '<' || py_isspace(c);
    TString ch = s.substr(pos, len);
    out.append(sep ? ch : py_case(ch, word_start ? 1 : 0));
    word_start = sep;
  }
  return Value::string(std::move(out));
}
Value f_capitalize(CallArgs& a) { return f_case(a, 3); }

Value f_replace(CallArgs& a) {
  a.check("replace filter", 4, {"old", "new", "count"});
  Value o = arg(a, 0, "old"), n = arg(a, 1, "new"), c = arg(a, 2, "count");
  int64_t count = c.is_undefined() || c.is_none() ? -1 : is_int(c) ? c.i : -1;
  return Value::string(py_replace(soft_str(subject(a)), soft_str(o), soft_str(n), count));
}

Value f_int(CallArgs& a) {
  a.check("int filter", 3, {"default", "base"});
  Value v = subject(a), dflt = arg(a, 0, "default");
  if (dflt.is_undefined()) dflt = Value::integer(0);
  if (v.kind == Kind::Int) return v;
  if (v.kind == Kind::Bool) return Value::integer(v.b);
  if (v.kind == Kind::Float) {
    if (!std::isfinite(v.f) || std::fabs(v.f) >= 9.2e18) return dflt;
    return Value::integer(int64_t(v.f));
  }
  if (v.is_string()) {
    std::string t = py_strip(*v.s, Value::none(), true, true, a.line).text;
    errno = 0;
    char* end = nullptr;
    long long x = std::strtoll(t.c_str(), &end, 10);
    if (!t.empty() && end == t.c_str() + t.size() && errno == 0) return Value::integer(x);
    double d = std::strtod(t.c_str(), &end);  // jinja2 retries int(float(value))
    if (t.find_first_of("xX") == std::string::npos && !t.empty() && end == t.c_str() + t.size() && std::isfinite(d) && std::fabs(d) < 9.2e18)
      return Value::integer(int64_t(d));
    return dflt;
  }
  return dflt;
}

Value f_float(CallArgs& a) {
  a.check("float filter", 2, {"default"});
  Value v = subject(a), dflt = arg(a, 0, "default");
  if (dflt.is_undefined()) dflt = Value::real(0.0);
  if (v.is_number()) return Value::real(v.kind == Kind::Float ? v.f : v.kind == Kind::Bool ? v.b : double(v.i));
  if (v.is_string()) {
    std::string t = py_strip(*v.s, Value::none(), true, true, a.line).text;
    char* end = nullptr;
    double d = std::strtod(t.c_str(), &end);
    if (t.find_first_of("xX") == std::string::npos && !t.empty() && end == t.c_str() + t.size()) return Value::real(d);
  }
  return dflt;
}

Value f_abs(CallArgs& a) {
  a.check("abs filter", 1, {});
  Value v = subject(a);
  if (v.kind == Kind::Float) return Value::real(std::fabs(v.f));
  if (v.kind == Kind::Bool) return Value::integer(v.b);
  if (v.kind == Kind::Int && v.i != INT64_MIN) return Value::integer(v.i < 0 ? -v.i : v.i);
  fail_at(a.line, "TypeError: bad operand type for abs(): '%s'", type_name(v));
}

Value f_reverse(CallArgs& a) {
  a.check("reverse filter", 1, {});
  Value v = subject(a);
  if (v.is_string()) return slice(v, Value::none(), Value::none(), Value::integer(-1), a.line);
  auto items = iterate(v, a.line);
  return Value::make_list(std::vector<Value>(items.rbegin(), items.rend()));
}

Value f_safe(CallArgs& a) {
  a.check("safe filter", 1, {});
  return subject(a);
}

Value f_indent(CallArgs& a) {
  a.check("indent filter", 4, {"width", "first", "blank"});
  Value w = arg(a, 0, "width");
  TString ind = w.is_string() ? *w.s : TString(std::string(size_t(is_int(w) ? std::clamp<int64_t>(w.i, 0, 256) : 4), ' '), true);
  bool first = truthy(arg(a, 1, "first")), blank = truthy(arg(a, 2, "blank"));
  TString s = soft_str(subject(a));
  s.append("\n", true);
  auto lines = py_splitlines(s);
  TString rv, nl("\n", true);
  for (size_t k = 0; k < lines.size(); ++k) {
    if (k) rv.append(nl);
    if (k && (blank || !lines[k].text.empty())) rv.append(ind);
    rv.append(lines[k]);
    check_string_size(rv.text.size(), a.line);
  }
  if (first) {
    TString x = ind;
    x.append(rv);
    rv = std::move(x);
  }
  return Value::string(std::move(rv));
}

// select/reject/selectattr/rejectattr: keep items for which the test (default: truthiness) holds.
Value select_impl(CallArgs& a, bool by_attr, bool keep) {
  std::vector<Value> out;
  size_t first_test_arg = by_attr ? 1 : 0;
  Value attr = by_attr ? arg(a, 0, "") : Value::undefined();
  Value test = arg(a, first_test_arg, "");
  if (!test.is_undefined() && (!test.is_string() || !has_test(test.str())))
    fail_at(a.line, "unsupported construct: test %s", to_repr(test).text.c_str());
  for (const Value& item : iterate(subject(a), a.line)) {
    Value x = by_attr ? attr_path(item, attr, a.line) : item;
    bool hit;
    if (test.is_undefined()) {
      hit = truthy(x);
    } else {
      CallArgs t;
      t.line = a.line;
      t.args.push_back(x);
      for (size_t k = first_test_arg + 2; k < a.args.size(); ++k) t.args.push_back(a.args[k]);
      hit = call_test(test.str(), t);
    }
    if (hit == keep) out.push_back(item);
  }
  return Value::make_list(std::move(out));
}
Value f_select(CallArgs& a) { return select_impl(a, false, true); }
Value f_reject(CallArgs& a) { return select_impl(a, false, false); }
Value f_selectattr(CallArgs& a) { return select_impl(a, true, true); }
Value f_rejectattr(CallArgs& a) { return select_impl(a, true, false); }

Value f_map(CallArgs& a) {
  std::vector<Value> out;
  Value attr = a.get(size_t(-1), "attribute");
  for (const auto& [k, v] : a.kwargs)
    if (k != "attribute" && k != "default") fail_at(a.line, "unsupported construct: map filter argument '%s'", k.c_str());
  if (!attr.is_undefined()) {
    Value dflt = a.get(size_t(-1), "default");
    for (const Value& item : iterate(subject(a), a.line)) {
      Value x = attr_path(item, attr, a.line);
      out.push_back(x.is_undefined() && !dflt.is_undefined() ? dflt : x);
    }
    return Value::make_list(std::move(out));
  }
  Value name = arg(a, 0, "");
  if (!name.is_string() || !has_filter(name.str())) fail_at(a.line, "unsupported construct: map without a filter name");
  for (const Value& item : iterate(subject(a), a.line)) {
    CallArgs f;
    f.line = a.line;
    f.args.push_back(item);
    for (size_t k = 2; k < a.args.size(); ++k) f.args.push_back(a.args[k]);
    out.push_back(call_filter(name.str(), f));
  }
  return Value::make_list(std::move(out));
}

Value f_unique(CallArgs& a) {
  a.check("unique filter", 1, {});
  std::vector<Value> out;
  for (const Value& item : iterate(subject(a), a.line)) {
    bool seen = false;
    for (const Value& o : out) {
      // case-insensitive by default, like jinja2
      Value x = item.is_string() ? Value::string(py_case(*item.s, 0)) : item;
      Value y = o.is_string() ? Value::string(py_case(*o.s, 0)) : o;
      seen = seen || equal(x, y);
    }
    if (!seen) out.push_back(item);
  }
  return Value::make_list(std::move(out));
}

Value f_sort(CallArgs& a) {
  a.check("sort filter", 4, {"reverse", "case_sensitive", "attribute"});
  bool reverse = truthy(arg(a, 0, "reverse")), cs = truthy(arg(a, 1, "case_sensitive"));
  Value attr = arg(a, 2, "attribute");
  auto items = iterate(subject(a), a.line);
  std::vector<std::pair<Value, Value>> keyed;
  for (const Value& v : items) {
    Value k = attr.is_undefined() || attr.is_none() ? v : attr_path(v, attr, a.line);
    if (!cs && k.is_string()) k = Value::string(py_case(*k.s, 0));
    keyed.emplace_back(k, v);
  }
  int line = a.line;
  std::stable_sort(keyed.begin(), keyed.end(), [&](const auto& x, const auto& y) {
    return reverse ? compare(y.first, x.first, line) < 0 : compare(x.first, y.first, line) < 0;
  });
  std::vector<Value> out;
  for (auto& kv : keyed) out.push_back(kv.second);
  return Value::make_list(std::move(out));
}

Value f_dictsort(CallArgs& a) {
  a.check("dictsort filter", 4, {"case_sensitive", "by", "reverse"});
  Value v = subject(a);
  if (v.kind != Kind::Dict) fail_at(a.line, "TypeError: dictsort needs a mapping");
  bool cs = truthy(arg(a, 0, "case_sensitive")), reverse = truthy(arg(a, 2, "reverse"));
  Value by = arg(a, 1, "by");
  size_t pos = by.is_string() && by.str() == "value" ? 1 : 0;
  std::vector<Value> pairs;
  for (const auto& [k, x] : v.dict->items) pairs.push_back(Value::make_list({k, x}, true));
  int line = a.line;
  auto key = [&](const Value& p) {
    Value k = p.list->items[pos];
    return !cs && k.is_string() ? Value::string(py_case(*k.s, 0)) : k;
  };
  std::stable_sort(pairs.begin(), pairs.end(), [&](const Value& x, const Value& y) {
    return reverse ? compare(key(y), key(x), line) < 0 : compare(key(x), key(y), line) < 0;
  });
  return Value::make_list(std::move(pairs));
}

Value f_escape(CallArgs& a) {
  a.check("escape filter", 1, {});
  TString s = soft_str(subject(a)), out;
  for (size_t k = 0; k < s.text.size(); ++k) {
    const char* rep = nullptr;
    switch (s.text[k]) {
      case '&': rep = "&amp;"; break;
      case '<': rep = "&lt;"; break;
      case '>': rep = "&gt;"; break;
      case '"': rep = "&#34;"; break;
      case '\'': rep = "&#39;"; break;
      default: break;
    }
    if (rep) out.append(rep, s.origin[k] != 0);
    else out.append(s.substr(k, 1));
  }
  return Value::string(std::move(out));
}

Value f_sum(CallArgs& a) {
  a.check("sum filter", 3, {"attribute", "start"});
  Value attr = arg(a, 0, "attribute"), total = arg(a, 1, "start");
  if (total.is_undefined()) total = Value::integer(0);
  for (Value v : iterate(subject(a), a.line)) {
    if (!attr.is_undefined() && !attr.is_none()) v = attr_path(v, attr, a.line);
    if (!total.is_number() || !v.is_number()) fail_at(a.line, "unsupported construct: sum of %s", type_name(v));
    bool fl = total.kind == Kind::Float || v.kind == Kind::Float;
    auto num = [](const Value& x) { return x.kind == Kind::Float ? x.f : x.kind == Kind::Bool ? double(x.b) : double(x.i); };
    int64_t r = 0;
    if (fl) total = Value::real(num(total) + num(v));
    else if (__builtin_add_overflow(total.kind == Kind::Bool ? int64_t(total.b) : total.i, v.kind == Kind::Bool ? int64_t(v.b) : v.i, &r))
      fail_at(a.line, "unsupported construct: integer result beyond 64 bits");
    else total = Value::integer(r);
  }
  return total;
}

Value min_max(CallArgs& a, bool want_max) {
  a.check(want_max ? "max filter" : "min filter", 3, {"case_sensitive", "attribute"});
  bool cs = truthy(arg(a, 0, "case_sensitive"));
  Value attr = arg(a, 1, "attribute");
  auto items = iterate(subject(a), a.line);
  if (items.empty()) return Value::undefined("No aggregated item, sequence was empty.");
  auto key = [&](const Value& v) {
    Value k = attr.is_undefined() || attr.is_none() ? v : attr_path(v, attr, a.line);
    return !cs && k.is_string() ? Value::string(py_case(*k.s, 0)) : k;
  };
  const Value* best = &items[0];
  for (const Value& v : items) {
    int c = compare(key(v), key(*best), a.line);
    if (want_max ? c > 0 : c < 0) best = &v;
  }
  return *best;
}
Value f_min(CallArgs& a) { return min_max(a, false); }
Value f_max(CallArgs& a) { return min_max(a, true); }

const std::map<std::string, FilterFn>& filters() {
  static const std::map<std::string, FilterFn> m = {
      {"tojson", f_tojson},       {"length", f_length},       {"count", f_length},     {"trim", f_trim},
      {"join", f_join},           {"default", f_default},     {"d", f_default},        {"items", f_items},
      {"string", f_string},       {"list", f_list},           {"first", f_first},      {"last", f_last},
      {"lower", f_lower},         {"upper", f_upper},         {"title", f_title},      {"capitalize", f_capitalize},
      {"replace", f_replace},     {"int", f_int},             {"float", f_float},      {"abs", f_abs},
      {"reverse", f_reverse},     {"safe", f_safe},           {"indent", f_indent},    {"select", f_select},
      {"reject", f_reject},       {"selectattr", f_selectattr}, {"rejectattr", f_rejectattr}, {"map", f_map},
      {"unique", f_unique},       {"sort", f_sort},           {"dictsort", f_dictsort}, {"escape", f_escape},
      {"e", f_escape},            {"sum", f_sum},             {"min", f_min},          {"max", f_max},
  };
  return m;
}

// ---- tests ----

Value targ(CallArgs& a) { return a.get(1, ""); }
bool t_defined(CallArgs& a) { return !subject(a).is_undefined(); }
bool t_undefined(CallArgs& a) { return subject(a).is_undefined(); }
bool t_none(CallArgs& a) { return subject(a).is_none(); }
bool t_boolean(CallArgs& a) { return subject(a).kind == Kind::Bool; }
bool t_false(CallArgs& a) { return subject(a).kind == Kind::Bool && !subject(a).b; }
bool t_true(CallArgs& a) { return subject(a).kind == Kind::Bool && subject(a).b; }
bool t_integer(CallArgs& a) { return subject(a).kind == Kind::Int; }
bool t_float(CallArgs& a) { return subject(a).kind == Kind::Float; }
bool t_number(CallArgs& a) { return subject(a).is_number(); }
bool t_string(CallArgs& a) { return subject(a).is_string(); }
bool t_mapping(CallArgs& a) { return subject(a).kind == Kind::Dict; }
bool t_iterable(CallArgs& a) {
  Kind k = subject(a).kind;
  return k == Kind::List || k == Kind::Dict || k == Kind::String || k == Kind::Undefined;
}
bool t_sequence(CallArgs& a) { return t_iterable(a); }  // len() and __getitem__: str, list, tuple, dict, Undefined
bool t_callable(CallArgs& a) { return subject(a).kind == Kind::Callable; }
bool t_eq(CallArgs& a) { return equal(subject(a), targ(a)); }
bool t_ne(CallArgs& a) { return !equal(subject(a), targ(a)); }
bool t_lt(CallArgs& a) { return compare(subject(a), targ(a), a.line) < 0; }
bool t_le(CallArgs& a) { return compare(subject(a), targ(a), a.line) <= 0; }
bool t_gt(CallArgs& a) { return compare(subject(a), targ(a), a.line) > 0; }
bool t_ge(CallArgs& a) { return compare(subject(a), targ(a), a.line) >= 0; }
bool t_in(CallArgs& a) {
  for (const Value& v : iterate(targ(a), a.line))
    if (equal(v, subject(a))) return true;
  if (targ(a).is_string() && subject(a).is_string()) return targ(a).str().find(subject(a).str()) != std::string::npos;
  return false;
}
int64_t int_subject(CallArgs& a) {
  Value v = subject(a);
  if (v.kind == Kind::Int) return v.i;
  if (v.kind == Kind::Bool) return v.b;
  fail_at(a.line, "TypeError: expected an integer, got %s", type_name(v));
}
bool t_odd(CallArgs& a) { return int_subject(a) % 2 != 0; }
bool t_even(CallArgs& a) { return int_subject(a) % 2 == 0; }
bool t_divisibleby(CallArgs& a) {
  Value d = targ(a);
  if (d.kind != Kind::Int || d.i == 0) fail_at(a.line, "divisibleby needs a non-zero integer");
  return d.i == -1 || int_subject(a) % d.i == 0;
}
bool t_lower(CallArgs& a) { return subject(a).is_string() && py_case(*subject(a).s, 0).text == subject(a).str(); }
bool t_upper(CallArgs& a) { return subject(a).is_string() && py_case(*subject(a).s, 1).text == subject(a).str(); }
bool t_sameas(CallArgs& a) {
  Value x = subject(a), y = targ(a);
  if (x.kind != y.kind) return false;
  if (x.kind == Kind::None || x.kind == Kind::Bool) return equal(x, y);
  return x.s == y.s && x.list == y.list && x.dict == y.dict && x.ns == y.ns && x.fn == y.fn && x.i == y.i;
}

const std::map<std::string, TestFn>& tests() {
  static const std::map<std::string, TestFn> m = {
      {"defined", t_defined}, {"undefined", t_undefined}, {"none", t_none},       {"boolean", t_boolean},
      {"false", t_false},     {"true", t_true},           {"integer", t_integer}, {"float", t_float},
      {"number", t_number},   {"string", t_string},       {"mapping", t_mapping}, {"iterable", t_iterable},
      {"sequence", t_sequence}, {"callable", t_callable}, {"eq", t_eq},          {"equalto", t_eq},
      {"==", t_eq},           {"ne", t_ne},               {"!=", t_ne},           {"lt", t_lt},
      {"lessthan", t_lt},     {"<", t_lt},                {"le", t_le},           {"<=", t_le},
      {"gt", t_gt},           {"greaterthan", t_gt},      {">", t_gt},            {"ge", t_ge},
      {">=", t_ge},           {"in", t_in},               {"odd", t_odd},         {"even", t_even},
      {"divisibleby", t_divisibleby}, {"lower", t_lower}, {"upper", t_upper},     {"sameas", t_sameas},
  };
  return m;
}

// ---- globals ----

Value g_range(CallArgs& a) {
  a.check("range()", 3, {});
  auto num = [&](size_t k) {
    Value v = a.args[k];
    if (v.kind == Kind::Bool) return int64_t(v.b);
    if (v.kind != Kind::Int) fail_at(a.line, "TypeError: '%s' object cannot be interpreted as an integer", type_name(v));
    return v.i;
  };
  if (a.args.empty()) fail_at(a.line, "TypeError: range expected at least 1 argument, got 0");
  int64_t start = 0, stop = 0, step = 1;
  if (a.args.size() == 1) stop = num(0);
  else start = num(0), stop = num(1), step = a.args.size() == 3 ? num(2) : 1;
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
  if (a.args.size() > 1) fail_at(a.line, "TypeError: dict expected at most 1 argument, got %zu", a.args.size());
  DictData d;
  if (!a.args.empty()) {
    if (a.args[0].kind != Kind::Dict) fail_at(a.line, "unsupported construct: dict() from a %s", type_name(a.args[0]));
    d = *a.args[0].dict;
  }
  for (auto& [k, v] : a.kwargs) d.set(Value::string(k, true), v);
  return Value::make_dict(std::move(d));
}

Value g_namespace(CallArgs& a) {
  if (a.args.size() > 1) fail_at(a.line, "TypeError: namespace() takes at most 1 positional argument");
  DictData d;
  if (!a.args.empty()) {
    if (a.args[0].kind != Kind::Dict) fail_at(a.line, "unsupported construct: namespace() from a %s", type_name(a.args[0]));
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

bool has_filter(const std::string& name) { return filters().count(name) != 0; }
bool has_test(const std::string& name) { return tests().count(name) != 0; }

Value call_filter(const std::string& name, CallArgs& a) {
  auto it = filters().find(name);
  if (it == filters().end()) fail_at(a.line, "unsupported construct: filter '%s'", name.c_str());
  return it->second(a);
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
