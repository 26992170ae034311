// The Python object model behind the interpreter, shared by jinja_eval.cpp (statements and operators),
// jinja_methods.cpp (attribute/item access, str/dict/list methods) and jinja_builtins.cpp (filters, tests, globals).
#pragma once

#include <string>
#include <vector>

#include "chat/jinja_value.h"

namespace qwen3::jinja {

// Resource limits: a hostile template must fail cleanly, never exhaust memory or hang.
constexpr size_t kMaxItems = 1u << 20;          // elements in one list built by range(), *, etc.
constexpr size_t kMaxStringBytes = 64u << 20;   // bytes in one string, and in the whole output
constexpr uint64_t kMaxSteps = 5'000'000;       // statements + expressions evaluated in one render (+ costs)
constexpr int kMaxCallDepth = 64;               // nested macro / filter calls
constexpr int kMaxEvalDepth = 400;              // nested expression evaluation

[[noreturn]] void fail_at(int line, const char* fmt, ...) __attribute__((format(printf, 2, 3)));

// Python's iter()/len() on a value: lists and tuples give their items, dicts their keys, strings their characters,
// Undefined nothing. Fails like Python for the rest.
std::vector<Value> iterate(const Value& v, int line);
int64_t length(const Value& v, int line);

// jinja2 Environment.getattr / getitem (sandboxed): methods first for `.name`, items first for `[key]`.
Value get_attr(const Value& obj, const std::string& name, int line);
Value get_item(const Value& obj, const Value& key, int line);
Value slice(const Value& obj, const Value& start, const Value& stop, const Value& step, int line);

// Filters and tests by name (a.args[0] is the subject). Throws for unknown names.
bool has_filter(const std::string& name);
bool has_test(const std::string& name);
Value call_filter(const std::string& name, CallArgs& a);
bool call_test(const std::string& name, CallArgs& a);
// The globals transformers' environment provides: range, dict, namespace, raise_exception, strftime_now.
Value global_function(const std::string& name);

// str helpers shared by filters and methods.
TString py_strip(const TString& s, const Value& chars, bool left, bool right, int line);
TString py_case(const TString& s, int mode);  // 0 lower, 1 upper, 2 title, 3 capitalize
std::vector<TString> py_split(const TString& s, const Value& sep, int64_t maxsplit, int line);
std::vector<TString> py_splitlines(const TString& s);
TString py_replace(const TString& s, const TString& old, const TString& with, int64_t count);
void check_string_size(size_t n, int line);

}  // namespace qwen3::jinja
