// Tree-walking evaluator: jinja2's scoping (a for-loop body gets a fresh scope per iteration, `if` does not; set
// inside a loop is invisible outside it, hence namespace()), Python operators, macros, loop controls. Work, output
// size, call depth and expression depth are bounded so hostile templates fail cleanly instead of hanging.
#include "chat/jinja_eval.h"

#include <cmath>
#include <unordered_map>

#include "chat/jinja_runtime.h"
#include "core/error.h"

namespace qwen3::jinja {

namespace {

struct Scope {
  std::unordered_map<std::string, Value> vars;
  std::shared_ptr<Scope> parent;
};
using ScopePtr = std::shared_ptr<Scope>;

ScopePtr child(const ScopePtr& parent) {
  auto s = std::make_shared<Scope>();
  s->parent = parent;
  return s;
}

[[noreturn]] void undefined_error(const Value& u, int line) {
  fail_at(line, "UndefinedError: %s", u.s ? u.s->text.c_str() : "value is undefined");
}

bool is_int_like(const Value& v) { return v.kind == Kind::Int || v.kind == Kind::Bool; }
int64_t int_of(const Value& v) { return v.kind == Kind::Bool ? int64_t(v.b) : v.i; }
double float_of(const Value& v) { return v.kind == Kind::Float ? v.f : double(int_of(v)); }

Value repeat(const Value& seq, int64_t n, int line) {
  if (n < 0) n = 0;
  if (seq.is_string()) {
    if (n && seq.str().size() * uint64_t(n) > kMaxStringBytes) fail_at(line, "string longer than %zu bytes", kMaxStringBytes);
    TString out;
    for (int64_t k = 0; k < n; ++k) out.append(*seq.s);
    return Value::string(std::move(out));
  }
  if (n && seq.list->items.size() * uint64_t(n) > kMaxItems) fail_at(line, "list longer than %zu items", kMaxItems);
  std::vector<Value> out;
  for (int64_t k = 0; k < n; ++k) out.insert(out.end(), seq.list->items.begin(), seq.list->items.end());
  return Value::make_list(std::move(out), seq.list->is_tuple);
}

Value arith(const std::string& op, const Value& a, const Value& b, int line) {
  if (a.is_undefined()) undefined_error(a, line);
  if (b.is_undefined()) undefined_error(b, line);
  auto type_error = [&]() -> Value {
    fail_at(line, "TypeError: unsupported operand type(s) for %s: '%s' and '%s'", op.c_str(), type_name(a),
            type_name(b));
  };
  if (a.is_number() && b.is_number()) {
    bool fl = a.kind == Kind::Float || b.kind == Kind::Float;
    int64_t x = int_of(a), y = int_of(b), r = 0;
    double fx = float_of(a), fy = float_of(b);
    auto overflow = [&]() -> Value { fail_at(line, "unsupported construct: integer result beyond 64 bits"); };
    if (op == "+") return fl ? Value::real(fx + fy) : __builtin_add_overflow(x, y, &r) ? overflow() : Value::integer(r);
    if (op == "-") return fl ? Value::real(fx - fy) : __builtin_sub_overflow(x, y, &r) ? overflow() : Value::integer(r);
    if (op == "*") return fl ? Value::real(fx * fy) : __builtin_mul_overflow(x, y, &r) ? overflow() : Value::integer(r);
    if (op == "/") {
      if (fy == 0) fail_at(line, "ZeroDivisionError: division by zero");
      return Value::real(fx / fy);
    }
    if (op == "//" || op == "%") {
      if (fl ? fy == 0 : y == 0) fail_at(line, "ZeroDivisionError: integer division or modulo by zero");
      if (fl) {
        double m = std::fmod(fx, fy);
        if (m != 0 && ((m < 0) != (fy < 0))) m += fy;
        if (op == "%") return Value::real(m);
        return Value::real(std::floor((fx - m) / fy + 0.5));
      }
      if (x == INT64_MIN && y == -1) return overflow();
      int64_t q = x / y, m = x % y;
      if (m != 0 && ((m < 0) != (y < 0))) m += y, q -= 1;
      return Value::integer(op == "%" ? m : q);
    }
    if (op == "**") {
      if (!fl && y >= 0) {
        int64_t acc = 1, base = x;
        for (int64_t e = y; e > 0; e >>= 1) {
          if ((e & 1) && __builtin_mul_overflow(acc, base, &acc)) return overflow();
          if (e > 1 && __builtin_mul_overflow(base, base, &base)) return overflow();
        }
        return Value::integer(acc);
      }
      if (fx == 0 && fy < 0) fail_at(line, "ZeroDivisionError: 0.0 cannot be raised to a negative power");
      double r2 = std::pow(fx, fy);
      if (std::isnan(r2) && !std::isnan(fx) && !std::isnan(fy))
        fail_at(line, "unsupported construct: complex result of **");
      return Value::real(r2);
    }
    return type_error();
  }
  if (op == "+" && a.is_string() && b.is_string()) {
    check_string_size(a.str().size() + b.str().size(), line);
    TString s = *a.s;
    s.append(*b.s);
    return Value::string(std::move(s));
  }
  if (op == "+" && a.kind == Kind::List && b.kind == Kind::List && a.list->is_tuple == b.list->is_tuple) {
    if (a.list->items.size() + b.list->items.size() > kMaxItems) fail_at(line, "list longer than %zu items", kMaxItems);
    std::vector<Value> items = a.list->items;
    items.insert(items.end(), b.list->items.begin(), b.list->items.end());
    return Value::make_list(std::move(items), a.list->is_tuple);
  }
  if (op == "*" && (a.is_string() || a.kind == Kind::List) && is_int_like(b)) return repeat(a, int_of(b), line);
  if (op == "*" && (b.is_string() || b.kind == Kind::List) && is_int_like(a)) return repeat(b, int_of(a), line);
  if (op == "%" && a.is_string()) fail_at(line, "unsupported construct: printf-style string formatting with %%");
  return type_error();
}

bool contains(const Value& container, const Value& item, int line) {
  switch (container.kind) {
    case Kind::String:
      if (!item.is_string())
        fail_at(line, "TypeError: 'in <string>' requires string as left operand, not %s", type_name(item));
      return container.str().find(item.str()) != std::string::npos;
    case Kind::List:
      for (const Value& v : container.list->items)
        if (equal(v, item)) return true;
      return false;
    case Kind::Dict: return container.dict->find(item) != nullptr;
    case Kind::Undefined: return false;
    default: fail_at(line, "TypeError: argument of type '%s' is not iterable", type_name(container));
  }
}

struct Renderer {
  ScopePtr root;
  uint64_t steps = 0;
  int call_depth = 0, eval_depth = 0;
  enum class Flow { Normal, Break, Continue };

  void step(int line, uint64_t n = 1) {
    steps += n;
    if (steps > kMaxSteps) fail_at(line, "template did more than %llu steps of work", (unsigned long long)kMaxSteps);
  }
  // Builtins such as range() or * do work proportional to what they return; charge for it.
  Value charged(Value v, int line) {
    if (v.kind == Kind::List) step(line, v.list->items.size());
    else if (v.kind == Kind::String) step(line, v.s->text.size() / 64);
    return v;
  }

  struct DepthGuard {
    int& d;
    DepthGuard(int& x, int max, int line, const char* what) : d(x) {
      if (++d > max) {
        --d;
        fail_at(line, "%s nested more than %d levels deep", what, max);
      }
    }
    ~DepthGuard() { --d; }
  };

  Value lookup(const ScopePtr& sc, const std::string& name, int line) {
    for (Scope* s = sc.get(); s; s = s->parent.get()) {
      auto it = s->vars.find(name);
      if (it != s->vars.end()) return it->second;
    }
    Value g = global_function(name);
    if (!g.is_undefined()) return g;
    if (name == "lipsum" || name == "cycler" || name == "joiner")
      fail_at(line, "unsupported construct: global function '%s'", name.c_str());
    return Value::undefined("'" + name + "' is undefined");
  }

  CallArgs args_of(const Expr& e, size_t first, const ScopePtr& sc) {
    CallArgs a;
    a.line = e.line;
    for (size_t k = first; k < first + e.n_args; ++k) a.args.push_back(eval(*e.kids[k], sc));
    for (size_t k = 0; k < e.kw_names.size(); ++k)
      a.kwargs.emplace_back(e.kw_names[k], eval(*e.kids[first + e.n_args + k], sc));
    return a;
  }

  Value apply_filter(const Expr& f, Value subject, const ScopePtr& sc) {
    CallArgs a = args_of(f, 1, sc);
    a.args.insert(a.args.begin(), std::move(subject));
    return call_filter(f.name, a);
  }

  // A filter chain whose innermost subject is null (filter blocks, {% set x | f %}) applied to `v`.
  Value apply_chain(const Expr& f, Value v, const ScopePtr& sc) {
    if (f.kids[0]) v = apply_chain(*f.kids[0], std::move(v), sc);
    return apply_filter(f, std::move(v), sc);
  }

  Value call(const Value& callee, CallArgs& a, int line) {
    if (callee.is_undefined()) undefined_error(callee, line);
    if (callee.kind != Kind::Callable) fail_at(line, "TypeError: '%s' object is not callable", type_name(callee));
    DepthGuard g(call_depth, kMaxCallDepth, line, "calls");
    return callee.fn->fn(a);
  }

  Value eval(const Expr& e, const ScopePtr& sc) {
    step(e.line);
    DepthGuard g(eval_depth, kMaxEvalDepth, e.line, "expressions");
    using K = Expr::Kind;
    switch (e.kind) {
      case K::Const: return e.value;
      case K::Name: return lookup(sc, e.name, e.line);
      case K::Getattr: return get_attr(eval(*e.kids[0], sc), e.name, e.line);
      case K::Getitem: {
        Value obj = eval(*e.kids[0], sc);
        const Expr& k = *e.kids[1];
        if (k.kind == K::Slice) {
          auto part = [&](size_t i) { return k.kids[i] ? eval(*k.kids[i], sc) : Value::none(); };
          Value a = part(0), b = part(1), c = part(2);
          return slice(obj, a, b, c, e.line);
        }
        return get_item(obj, eval(k, sc), e.line);
      }
      case K::Slice: fail_at(e.line, "unsupported construct: slice outside a subscript");
      case K::Call: {
        Value callee = eval(*e.kids[0], sc);
        CallArgs a = args_of(e, 1, sc);
        return charged(call(callee, a, e.line), e.line);
      }
      case K::Filter: {
        DepthGuard cg(call_depth, kMaxCallDepth, e.line, "calls");
        return charged(apply_filter(e, e.kids[0] ? eval(*e.kids[0], sc) : Value::undefined(), sc), e.line);
      }
      case K::Test: {
        CallArgs a = args_of(e, 1, sc);
        a.args.insert(a.args.begin(), eval(*e.kids[0], sc));
        return Value::boolean(call_test(e.name, a));
      }
      case K::Neg: case K::Pos: {
        Value v = eval(*e.kids[0], sc);
        if (v.is_undefined()) undefined_error(v, e.line);
        if (!v.is_number()) fail_at(e.line, "TypeError: bad operand type for unary %s: '%s'", e.kind == K::Neg ? "-" : "+", type_name(v));
        if (e.kind == K::Pos) return v.kind == Kind::Float ? v : Value::integer(int_of(v));
        if (v.kind == Kind::Float) return Value::real(-v.f);
        if (int_of(v) == INT64_MIN) fail_at(e.line, "unsupported construct: integer result beyond 64 bits");
        return Value::integer(-int_of(v));
      }
      case K::Not: return Value::boolean(!truthy(eval(*e.kids[0], sc)));
      case K::And: {
        Value l = eval(*e.kids[0], sc);
        return truthy(l) ? eval(*e.kids[1], sc) : l;
      }
      case K::Or: {
        Value l = eval(*e.kids[0], sc);
        return truthy(l) ? l : eval(*e.kids[1], sc);
      }
      case K::Binary: {
        Value l = eval(*e.kids[0], sc);
        Value r = eval(*e.kids[1], sc);
        return charged(arith(e.name, l, r, e.line), e.line);
      }
      case K::Compare: {
        Value l = eval(*e.kids[0], sc);
        for (size_t k = 0; k < e.ops.size(); ++k) {
          Value r = eval(*e.kids[k + 1], sc);
          const std::string& op = e.ops[k];
          bool ok;
          if (op == "==") ok = equal(l, r);
          else if (op == "!=") ok = !equal(l, r);
          else if (op == "in") ok = contains(r, l, e.line);
          else if (op == "notin") ok = !contains(r, l, e.line);
          else {
            int c = compare(l, r, e.line);
            ok = op == "<" ? c < 0 : op == "<=" ? c <= 0 : op == ">" ? c > 0 : c >= 0;
          }
          if (!ok) return Value::boolean(false);
          l = std::move(r);
        }
        return Value::boolean(true);
      }
      case K::Concat: {
        TString s;
        for (const auto& k : e.kids) {
          s.append(to_str(eval(*k, sc)));
          check_string_size(s.text.size(), e.line);
        }
        return Value::string(std::move(s));
      }
      case K::Cond:
        if (truthy(eval(*e.kids[0], sc))) return eval(*e.kids[1], sc);
        return e.kids[2] ? eval(*e.kids[2], sc) : Value::undefined();
      case K::List: case K::Tuple: {
        std::vector<Value> items;
        for (const auto& k : e.kids) items.push_back(eval(*k, sc));
        return Value::make_list(std::move(items), e.kind == K::Tuple);
      }
      case K::Dict: {
        DictData d;
        for (size_t k = 0; k + 1 < e.kids.size(); k += 2) {
          Value key = eval(*e.kids[k], sc);
          if (key.kind == Kind::List && !key.list->is_tuple) fail_at(e.line, "TypeError: unhashable type: 'list'");
          if (key.kind == Kind::Dict || key.kind == Kind::Namespace) fail_at(e.line, "TypeError: unhashable type: '%s'", type_name(key));
          d.set(key, eval(*e.kids[k + 1], sc));
        }
        return Value::make_dict(std::move(d));
      }
    }
    fail_at(e.line, "internal error: unknown expression");
  }

  void assign(const Target& t, const Value& v, const ScopePtr& sc, int line) {
    if (!t.attr.empty()) {
      Value ns = lookup(sc, t.names[0], line);
      if (ns.kind != Kind::Namespace) fail_at(line, "TemplateRuntimeError: cannot assign attribute on non-namespace object");
      ns.ns->set(Value::string(t.attr, true), v);
      return;
    }
    if (!t.is_tuple) {
      sc->vars[t.names[0]] = v;
      return;
    }
    auto items = iterate(v, line);
    if (items.size() != t.names.size())
      fail_at(line, "ValueError: %s values to unpack (expected %zu, got %zu)",
              items.size() > t.names.size() ? "too many" : "not enough", t.names.size(), items.size());
    for (size_t k = 0; k < items.size(); ++k) sc->vars[t.names[k]] = items[k];
  }

  Value call_macro(const std::shared_ptr<const MacroDef>& m, const std::weak_ptr<Scope>& where, CallArgs& a) {
    ScopePtr parent = where.lock();
    ScopePtr sc = child(parent ? parent : root);
    size_t n = m->params.size(), n_required = n - m->defaults.size();
    if (a.args.size() > n) fail_at(a.line, "TypeError: macro '%s' takes not more than %zu argument(s)", m->name.c_str(), n);
    for (size_t k = 0; k < n; ++k) {
      const std::string& p = m->params[k];
      Value v = k < a.args.size() ? a.args[k] : Value::undefined();
      for (const auto& [name, x] : a.kwargs)
        if (name == p) v = x;
      if (v.is_undefined() && k >= n_required && !(k < a.args.size())) {
        bool given = false;
        for (const auto& kw : a.kwargs) given = given || kw.first == p;
        if (!given) v = eval(*m->defaults[k - n_required], sc);
      }
      if (v.is_undefined() && !(k < a.args.size())) {
        bool given = false;
        for (const auto& kw : a.kwargs) given = given || kw.first == p;
        if (!given && k < n_required) v = Value::undefined("parameter '" + p + "' was not provided");
      }
      sc->vars[p] = v;
    }
    for (const auto& [name, x] : a.kwargs) {
      bool known = false;
      for (const auto& p : m->params) known = known || p == name;
      if (!known) fail_at(a.line, "TypeError: macro '%s' takes no keyword argument '%s'", m->name.c_str(), name.c_str());
    }
    TString out;
    exec(m->body, sc, out);
    return Value::string(std::move(out));
  }

  void emit(TString& out, const TString& s, int line) {
    out.append(s);
    check_string_size(out.text.size(), line);
  }

  Flow exec(const Body& body, const ScopePtr& sc, TString& out) {
    for (const auto& sp : body) {
      const Stmt& s = *sp;
      step(s.line);
      using K = Stmt::Kind;
      switch (s.kind) {
        case K::Data: emit(out, TString(s.text, true), s.line); break;
        case K::Print: emit(out, to_str(eval(*s.expr, sc)), s.line); break;
        case K::If: {
          Flow f = exec(truthy(eval(*s.expr, sc)) ? s.body : s.orelse, sc, out);
          if (f != Flow::Normal) return f;
          break;
        }
        case K::For: run_for(s, sc, out); break;
        case K::Set: assign(s.target, eval(*s.expr, sc), sc, s.line); break;
        case K::SetBlock: {
          TString text;
          exec(s.body, child(sc), text);
          Value v = Value::string(std::move(text));
          if (s.expr) v = apply_chain(*s.expr, v, sc);
          assign(s.target, v, sc, s.line);
          break;
        }
        case K::Macro: {
          auto m = s.macro;
          std::weak_ptr<Scope> where = sc;
          sc->vars[m->name] = Value::callable("macro " + m->name, [this, m, where](CallArgs& a) {
            return call_macro(m, where, a);
          });
          break;
        }
        case K::Break: return Flow::Break;
        case K::Continue: return Flow::Continue;
        case K::FilterBlock: {
          TString text;
          exec(s.body, child(sc), text);
          emit(out, to_str(apply_chain(*s.expr, Value::string(std::move(text)), sc)), s.line);
          break;
        }
        case K::Scope: {
          ScopePtr inner = child(sc);
          for (const auto& [t, x] : s.assigns) assign(t, eval(*x, sc), inner, s.line);
          Flow f = exec(s.body, inner, out);
          if (f != Flow::Normal) return f;
          break;
        }
      }
    }
    return Flow::Normal;
  }

  void run_for(const Stmt& s, const ScopePtr& sc, TString& out) {
    std::vector<Value> items = iterate(eval(*s.expr, sc), s.line);
    if (s.cond) {
      std::vector<Value> kept;
      for (const Value& v : items) {
        ScopePtr t = child(sc);
        assign(s.target, v, t, s.line);
        if (truthy(eval(*s.cond, t))) kept.push_back(v);
      }
      items = std::move(kept);
    }
    if (items.empty()) {
      exec(s.orelse, child(sc), out);
      return;
    }
    const int64_t n = int64_t(items.size());
    for (int64_t k = 0; k < n; ++k) {
      step(s.line, 8);  // a scope and the loop object per iteration
      ScopePtr it = child(sc);
      assign(s.target, items[size_t(k)], it, s.line);
      DictData loop;
      auto put = [&](const char* key, Value v) { loop.items.emplace_back(Value::string(key, true), std::move(v)); };
      put("index0", Value::integer(k));
      put("index", Value::integer(k + 1));
      put("revindex0", Value::integer(n - k - 1));
      put("revindex", Value::integer(n - k));
      put("first", Value::boolean(k == 0));
      put("last", Value::boolean(k == n - 1));
      put("length", Value::integer(n));
      put("depth", Value::integer(1));
      put("depth0", Value::integer(0));
      if (k > 0) put("previtem", items[size_t(k - 1)]);
      if (k + 1 < n) put("nextitem", items[size_t(k + 1)]);
      put("cycle", Value::callable("loop.cycle", [k](CallArgs& a) -> Value {
            if (a.args.empty()) fail_at(a.line, "TypeError: no items for cycling given");
            return a.args[size_t(k) % a.args.size()];
          }));
      it->vars["loop"] = Value::make_dict(std::move(loop));
      if (exec(s.body, it, out) == Flow::Break) break;
    }
  }
};

void check_expr(const Expr* e) {
  if (!e) return;
  if (e->kind == Expr::Kind::Filter && !has_filter(e->name))
    fail_at(e->line, "unsupported construct: filter '%s'", e->name.c_str());
  if (e->kind == Expr::Kind::Test && !has_test(e->name))
    fail_at(e->line, "unsupported construct: test '%s'", e->name.c_str());
  for (const auto& k : e->kids) check_expr(k.get());
}

void check_body(const Body& body) {
  for (const auto& s : body) {
    check_expr(s->expr.get());
    check_expr(s->cond.get());
    check_body(s->body);
    check_body(s->orelse);
    if (s->macro) {
      for (const auto& d : s->macro->defaults) check_expr(d.get());
      check_body(s->macro->body);
    }
    for (const auto& [t, x] : s->assigns) check_expr(x.get());
  }
}

}  // namespace

void check_names(const Body& body) { check_body(body); }

TString render(const Body& body, const Vars& vars) {
  std::vector<std::shared_ptr<DictData>> namespaces;
  struct Collect {  // break namespace cycles however the render ends
    std::vector<std::shared_ptr<DictData>>& list;
    explicit Collect(std::vector<std::shared_ptr<DictData>>& l) : list(l) { g_namespaces = &l; }
    ~Collect() {
      g_namespaces = nullptr;
      for (auto& ns : list) {
        auto items = std::move(ns->items);  // destroyed after ns no longer holds them
        ns->items.clear();
      }
    }
  } collect(namespaces);
  Renderer r;
  r.root = std::make_shared<Scope>();
  for (const auto& [k, v] : vars) r.root->vars[k] = v;
  TString out;
  r.exec(body, r.root, out);
  return out;
}

}  // namespace qwen3::jinja
