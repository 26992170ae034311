// Recursive-descent parser of the Jinja subset, following jinja2/parser.py rule by rule (operator precedence,
// filters binding tighter than arithmetic, `is` tests, tuples without parentheses, slices). Constructs
// outside the subset fail naming the construct and the line. Nesting is bounded so hostile templates cannot
// overflow the stack.
#include <algorithm>
#include <cerrno>
#include <cstdlib>
#include <set>

#include "chat/jinja_ast.h"
#include "chat/jinja_lexer.h"
#include "core/error.h"

namespace qwen3::jinja {

namespace {

constexpr int kMaxNesting = 100;  // expression and block nesting while parsing
constexpr int kMaxHeight = 250;   // height of an expression tree (left-deep chains like a+b+c+... included)
constexpr int kMaxElif = 200;

struct Parser {
  std::vector<Token> toks;
  size_t p = 0;
  int depth = 0;

  struct Guard {
    Parser& ps;
    explicit Guard(Parser& x) : ps(x) {
      if (++ps.depth > kMaxNesting)
        throw_error("chat template line %d: nesting deeper than %d levels", ps.cur().line, kMaxNesting);
    }
    ~Guard() { --ps.depth; }
  };

  const Token& cur() const { return toks[p]; }
  const Token& look(size_t k = 1) const { return toks[std::min(p + k, toks.size() - 1)]; }
  void next() {
    if (p + 1 < toks.size()) ++p;
  }
  bool is_op(const char* op) const { return cur().type == Tok::Op && cur().value == op; }
  bool is_name(const char* n) const { return cur().type == Tok::Name && cur().value == n; }
  bool skip_op(const char* op) {
    if (!is_op(op)) return false;
    next();
    return true;
  }
  bool skip_name(const char* n) {
    if (!is_name(n)) return false;
    next();
    return true;
  }
  static std::string describe(const Token& t) {
    switch (t.type) {
      case Tok::Data:
        return "template data";
      case Tok::VarBegin:
        return "begin of print statement";
      case Tok::VarEnd:
        return "end of print statement";
      case Tok::BlockBegin:
        return "begin of statement block";
      case Tok::BlockEnd:
        return "end of statement block";
      case Tok::String:
        return "string";
      case Tok::Integer:
        return "integer";
      case Tok::Float:
        return "float";
      case Tok::End:
        return "end of template";
      default:
        return "'" + t.value + "'";
    }
  }
  [[noreturn]] void fail(const std::string& msg, int line = 0) {
    throw_error("chat template line %d: %s", line ? line : cur().line, msg.c_str());
  }
  void expect_op(const char* op) {
    if (!skip_op(op)) fail(std::string("expected '") + op + "', got " + describe(cur()));
  }
  std::string expect_name() {
    if (cur().type != Tok::Name) fail("expected a name, got " + describe(cur()));
    std::string n = cur().value;
    next();
    return n;
  }
  void expect(Tok t, const char* what) {
    if (cur().type != t) fail(std::string("expected ") + what + ", got " + describe(cur()));
    next();
  }

  // Records the height of a finished node; chains built by loops (a+b+c..., x|f|g..., a.b.c...) are bounded
  // here.
  ExprPtr seal(ExprPtr n) {
    int h = 0;
    for (const auto& k : n->kids)
      if (k) h = std::max(h, k->height);
    n->height = h + 1;
    if (n->height > kMaxHeight)
      fail("expression nested more than " + std::to_string(kMaxHeight) + " levels deep", n->line);
    return n;
  }

  ExprPtr node(Expr::Kind k, int line) {
    auto e = std::make_unique<Expr>();
    e->kind = k, e->line = line;
    return e;
  }

  // ---- expressions ----

  bool is_tuple_end(const std::set<std::string>& extra) {
    if (cur().type == Tok::VarEnd || cur().type == Tok::BlockEnd || is_op(")")) return true;
    return cur().type == Tok::Name && extra.count(cur().value);
  }

  ExprPtr parse_tuple(bool simplified = false, bool with_condexpr = true,
                      const std::set<std::string>& extra = {}, bool explicit_parens = false) {
    int line = cur().line;
    std::vector<ExprPtr> args;
    bool is_tuple = false;
    while (true) {
      if (!args.empty()) expect_op(",");
      if (is_tuple_end(extra)) break;
      args.push_back(simplified ? parse_primary() : with_condexpr ? parse_expression() : parse_or());
      if (is_op(","))
        is_tuple = true;
      else
        break;
    }
    if (!is_tuple) {
      if (!args.empty()) return std::move(args[0]);
      if (!explicit_parens) fail("Expected an expression, got " + describe(cur()));
    }
    auto t = node(Expr::Kind::Tuple, line);
    t->kids = std::move(args);
    return seal(std::move(t));
  }

  ExprPtr parse_expression() { return parse_condexpr(); }

  ExprPtr parse_condexpr() {
    Guard g(*this);
    ExprPtr e1 = parse_or();
    while (is_name("if")) {
      int line = cur().line;
      next();
      ExprPtr e2 = parse_or();
      ExprPtr e3 = skip_name("else") ? parse_condexpr() : nullptr;
      auto c = node(Expr::Kind::Cond, line);
      c->kids.push_back(std::move(e2)), c->kids.push_back(std::move(e1)), c->kids.push_back(std::move(e3));
      e1 = seal(std::move(c));
    }
    return e1;
  }

  ExprPtr binary(Expr::Kind k, int line, ExprPtr l, ExprPtr r, std::string op = {}) {
    auto b = node(k, line);
    b->name = std::move(op);
    b->kids.push_back(std::move(l)), b->kids.push_back(std::move(r));
    return seal(std::move(b));
  }

  ExprPtr parse_or() {
    ExprPtr l = parse_and();
    while (is_name("or")) {
      int line = cur().line;
      next();
      l = binary(Expr::Kind::Or, line, std::move(l), parse_and());
    }
    return l;
  }
  ExprPtr parse_and() {
    ExprPtr l = parse_not();
    while (is_name("and")) {
      int line = cur().line;
      next();
      l = binary(Expr::Kind::And, line, std::move(l), parse_not());
    }
    return l;
  }
  ExprPtr parse_not() {
    if (is_name("not")) {
      Guard g(*this);
      auto n = node(Expr::Kind::Not, cur().line);
      next();
      n->kids.push_back(parse_not());
      return seal(std::move(n));
    }
    return parse_compare();
  }
  ExprPtr parse_compare() {
    int line = cur().line;
    ExprPtr e = parse_math1();
    ExprPtr c;
    while (true) {
      std::string op;
      if (cur().type == Tok::Op && (cur().value == "==" || cur().value == "!=" || cur().value == "<" ||
                                    cur().value == "<=" || cur().value == ">" || cur().value == ">=")) {
        op = cur().value;
        next();
      } else if (is_name("in")) {
        op = "in";
        next();
      } else if (is_name("not") && look().type == Tok::Name && look().value == "in") {
        op = "notin";
        next(), next();
      } else {
        break;
      }
      if (!c) {
        c = node(Expr::Kind::Compare, line);
        c->kids.push_back(std::move(e));
      }
      c->ops.push_back(op);
      c->kids.push_back(parse_math1());
    }
    return c ? seal(std::move(c)) : std::move(e);
  }
  ExprPtr parse_math1() {
    ExprPtr l = parse_concat();
    while (is_op("+") || is_op("-")) {
      std::string op = cur().value;
      int line = cur().line;
      next();
      l = binary(Expr::Kind::Binary, line, std::move(l), parse_concat(), op);
    }
    return l;
  }
  ExprPtr parse_concat() {
    int line = cur().line;
    ExprPtr first = parse_math2();
    if (!is_op("~")) return first;
    auto c = node(Expr::Kind::Concat, line);
    c->kids.push_back(std::move(first));
    while (skip_op("~")) c->kids.push_back(parse_math2());
    return seal(std::move(c));
  }
  ExprPtr parse_math2() {
    ExprPtr l = parse_pow();
    while (is_op("*") || is_op("/") || is_op("//") || is_op("%")) {
      std::string op = cur().value;
      int line = cur().line;
      next();
      l = binary(Expr::Kind::Binary, line, std::move(l), parse_pow(), op);
    }
    return l;
  }
  ExprPtr parse_pow() {
    ExprPtr l = parse_unary();
    while (is_op("**")) {
      int line = cur().line;
      next();
      l = binary(Expr::Kind::Binary, line, std::move(l), parse_unary(), "**");
    }
    return l;
  }
  ExprPtr parse_unary(bool with_filter = true) {
    Guard g(*this);
    ExprPtr n;
    if (is_op("-") || is_op("+")) {
      n = node(is_op("-") ? Expr::Kind::Neg : Expr::Kind::Pos, cur().line);
      next();
      n->kids.push_back(parse_unary(false));
      n = seal(std::move(n));
    } else {
      n = parse_primary();
    }
    n = parse_postfix(std::move(n));
    if (with_filter) n = parse_filter_expr(std::move(n));
    return n;
  }

  ExprPtr parse_primary() {
    Guard g(*this);
    const Token& t = cur();
    int line = t.line;
    ExprPtr n;
    if (t.type == Tok::Name) {
      if (t.value == "true" || t.value == "True" || t.value == "false" || t.value == "False") {
        n = node(Expr::Kind::Const, line);
        n->value = Value::boolean(t.value == "true" || t.value == "True");
      } else if (t.value == "none" || t.value == "None") {
        n = node(Expr::Kind::Const, line);
        n->value = Value::none();
      } else {
        n = node(Expr::Kind::Name, line);
        n->name = t.value;
      }
      next();
    } else if (t.type == Tok::String) {
      std::string s;
      while (cur().type == Tok::String) s += cur().value, next();
      n = node(Expr::Kind::Const, line);
      n->value = Value::string(s, true);
    } else if (t.type == Tok::Integer) {
      n = node(Expr::Kind::Const, line);
      n->value = Value::integer(parse_int(t.value));
      next();
    } else if (t.type == Tok::Float) {
      n = node(Expr::Kind::Const, line);
      n->value = Value::real(std::strtod(t.value.c_str(), nullptr));
      next();
    } else if (is_op("(")) {
      next();
      n = parse_tuple(false, true, {}, true);
      expect_op(")");
    } else if (is_op("[")) {
      next();
      n = node(Expr::Kind::List, line);
      while (!is_op("]")) {
        if (!n->kids.empty()) expect_op(",");
        if (is_op("]")) break;
        n->kids.push_back(parse_expression());
      }
      expect_op("]");
    } else if (is_op("{")) {
      next();
      n = node(Expr::Kind::Dict, line);
      while (!is_op("}")) {
        if (!n->kids.empty()) expect_op(",");
        if (is_op("}")) break;
        n->kids.push_back(parse_expression());
        expect_op(":");
        n->kids.push_back(parse_expression());
      }
      expect_op("}");
    } else {
      fail("unexpected " + describe(t));
    }
    return seal(std::move(n));
  }

  int64_t parse_int(const std::string& digits) {
    int base = 10;
    std::string d = digits;
    if (d.size() > 2 && d[0] == '0' && (d[1] == 'x' || d[1] == 'X'))
      base = 16, d = d.substr(2);
    else if (d.size() > 2 && d[0] == '0' && (d[1] == 'o' || d[1] == 'O'))
      base = 8, d = d.substr(2);
    else if (d.size() > 2 && d[0] == '0' && (d[1] == 'b' || d[1] == 'B'))
      base = 2, d = d.substr(2);
    errno = 0;
    char* end = nullptr;
    long long v = std::strtoll(d.c_str(), &end, base);
    if (errno == ERANGE)
      fail("unsupported construct: integer literal " + digits + " does not fit in 64 bits");
    return v;
  }

  ExprPtr parse_postfix(ExprPtr n) {
    while (true) {
      if (is_op(".") || is_op("["))
        n = parse_subscript(std::move(n));
      else if (is_op("("))
        n = parse_call(std::move(n));
      else
        break;
    }
    return n;
  }

  ExprPtr parse_filter_expr(ExprPtr n) {
    while (true) {
      if (is_op("|"))
        n = parse_filter(std::move(n));
      else if (is_name("is"))
        n = parse_test(std::move(n));
      else if (is_op("("))
        n = parse_call(std::move(n));
      else
        break;
    }
    return n;
  }

  ExprPtr parse_subscript(ExprPtr n) {
    Guard g(*this);
    int line = cur().line;
    if (skip_op(".")) {
      if (cur().type == Tok::Name) {
        auto a = node(Expr::Kind::Getattr, line);
        a->name = cur().value;
        a->kids.push_back(std::move(n));
        next();
        return seal(std::move(a));
      }
      if (cur().type != Tok::Integer) fail("expected name or number");
      auto i = node(Expr::Kind::Getitem, line);
      auto c = node(Expr::Kind::Const, line);
      c->value = Value::integer(parse_int(cur().value));
      next();
      i->kids.push_back(std::move(n)), i->kids.push_back(std::move(c));
      return seal(std::move(i));
    }
    expect_op("[");
    std::vector<ExprPtr> args;
    while (!is_op("]")) {
      if (!args.empty()) expect_op(",");
      args.push_back(parse_subscribed());
    }
    expect_op("]");
    auto i = node(Expr::Kind::Getitem, line);
    i->kids.push_back(std::move(n));
    if (args.size() == 1) {
      i->kids.push_back(std::move(args[0]));
    } else {
      auto t = node(Expr::Kind::Tuple, line);
      t->kids = std::move(args);
      i->kids.push_back(seal(std::move(t)));
    }
    return seal(std::move(i));
  }

  ExprPtr parse_subscribed() {
    int line = cur().line;
    std::vector<ExprPtr> parts;
    if (skip_op(":")) {
      parts.push_back(nullptr);
    } else {
      ExprPtr e = parse_expression();
      if (!skip_op(":")) return e;
      parts.push_back(std::move(e));
    }
    if (is_op(":") || is_op("]") || is_op(","))
      parts.push_back(nullptr);
    else
      parts.push_back(parse_expression());
    if (skip_op(":")) {
      if (is_op("]") || is_op(","))
        parts.push_back(nullptr);
      else
        parts.push_back(parse_expression());
    } else {
      parts.push_back(nullptr);
    }
    auto s = node(Expr::Kind::Slice, line);
    s->kids = std::move(parts);
    return seal(std::move(s));
  }

  // Appends positional then keyword arguments to `n` (Call, Filter or Test).
  void parse_call_args(Expr& n) {
    int line = cur().line;
    expect_op("(");
    std::vector<ExprPtr> pos, kw;
    bool need_comma = false;
    while (!is_op(")")) {
      if (need_comma) {
        expect_op(",");
        if (is_op(")")) break;
      }
      if (is_op("*") || is_op("**")) fail("unsupported construct: *args / **kwargs in a call", line);
      if (cur().type == Tok::Name && look().type == Tok::Op && look().value == "=") {
        n.kw_names.push_back(cur().value);
        next(), next();
        kw.push_back(parse_expression());
      } else {
        if (!kw.empty()) fail("invalid syntax for function call expression", line);
        pos.push_back(parse_expression());
      }
      need_comma = true;
    }
    expect_op(")");
    n.n_args = pos.size();
    for (auto& e : pos) n.kids.push_back(std::move(e));
    for (auto& e : kw) n.kids.push_back(std::move(e));
  }

  ExprPtr parse_call(ExprPtr callee) {
    Guard g(*this);
    auto c = node(Expr::Kind::Call, cur().line);
    c->kids.push_back(std::move(callee));
    parse_call_args(*c);
    return seal(std::move(c));
  }

  ExprPtr parse_filter(ExprPtr subject, bool start_inline = false) {
    while (is_op("|") || start_inline) {
      Guard g(*this);
      if (!start_inline) next();
      int line = cur().line;
      std::string name = expect_name();
      while (skip_op(".")) name += "." + expect_name();
      auto f = node(Expr::Kind::Filter, line);
      f->name = name;
      f->kids.push_back(std::move(subject));
      if (is_op("(")) parse_call_args(*f);
      subject = seal(std::move(f));
      start_inline = false;
    }
    return subject;
  }

  ExprPtr parse_test(ExprPtr subject) {
    Guard g(*this);
    int line = cur().line;
    next();  // "is"
    bool negated = skip_name("not");
    std::string name = expect_name();
    while (skip_op(".")) name += "." + expect_name();
    auto t = node(Expr::Kind::Test, line);
    t->name = name;
    t->kids.push_back(std::move(subject));
    if (is_op("(")) {
      parse_call_args(*t);
    } else if ((cur().type == Tok::Name || cur().type == Tok::String || cur().type == Tok::Integer ||
                cur().type == Tok::Float || is_op("(") || is_op("[") || is_op("{")) &&
               !is_name("else") && !is_name("or") && !is_name("and")) {
      if (is_name("is")) fail("You cannot chain multiple tests with is");
      t->kids.push_back(parse_postfix(parse_primary()));
      t->n_args = 1;
    }
    t = seal(std::move(t));
    if (!negated) return t;
    auto n = node(Expr::Kind::Not, line);
    n->kids.push_back(std::move(t));
    return seal(std::move(n));
  }

  // ---- statements ----

  Target parse_target(bool with_namespace, const std::set<std::string>& extra) {
    Target t;
    if (with_namespace && cur().type == Tok::Name && look().type == Tok::Op && look().value == "." &&
        look(2).type == Tok::Name) {
      t.names.push_back(cur().value);
      next(), next();
      t.attr = cur().value;
      next();
      return t;
    }
    bool parens = skip_op("(");
    while (true) {
      if (!t.names.empty()) {
        if (!skip_op(",")) break;
        t.is_tuple = true;
        if (is_tuple_end(extra) || is_op("=")) break;
      }
      if (cur().type != Tok::Name) fail("unsupported construct: assignment target " + describe(cur()));
      const std::string& n = cur().value;
      if (n == "true" || n == "false" || n == "True" || n == "False" || n == "none" || n == "None")
        fail("can't assign to '" + n + "'");
      t.names.push_back(n);
      next();
    }
    if (parens) {
      expect_op(")");
      t.is_tuple = true;
    }
    return t;
  }

  StmtPtr stmt(Stmt::Kind k, int line) {
    auto s = std::make_unique<Stmt>();
    s->kind = k, s->line = line;
    return s;
  }

  // Parses statements until a block whose first name is in `ends`; leaves the stream after that name.
  Body subparse(const std::set<std::string>& ends, std::string* which) {
    Guard g(*this);
    Body body;
    while (true) {
      const Token& t = cur();
      if (t.type == Tok::End) {
        if (!ends.empty()) {
          std::string want;
          for (const auto& e : ends) want += (want.empty() ? "'" : " or '") + e + "'";
          fail("Unexpected end of template. Jinja was looking for the following tags: " + want);
        }
        return body;
      }
      if (t.type == Tok::Data) {
        auto s = stmt(Stmt::Kind::Data, t.line);
        s->text = t.value;
        body.push_back(std::move(s));
        next();
      } else if (t.type == Tok::VarBegin) {
        auto s = stmt(Stmt::Kind::Print, t.line);
        next();
        s->expr = parse_tuple();
        expect(Tok::VarEnd, "end of print statement");
        body.push_back(std::move(s));
      } else if (t.type == Tok::BlockBegin) {
        next();
        if (cur().type == Tok::Name && ends.count(cur().value)) {
          *which = cur().value;
          next();
          return body;
        }
        body.push_back(parse_statement());
      } else {
        fail("unexpected " + describe(t));
      }
    }
  }

  Body statements(const std::set<std::string>& ends, std::string* which) {
    expect(Tok::BlockEnd, "end of statement block");
    return subparse(ends, which);
  }

  StmtPtr parse_statement() {
    Guard g(*this);
    int line = cur().line;
    if (cur().type != Tok::Name) fail("tag name expected");
    std::string tag = cur().value;
    next();
    std::string which;
    StmtPtr s;
    if (tag == "if") {
      s = stmt(Stmt::Kind::If, line);
      Stmt* n = s.get();
      int n_elif = 0;
      while (true) {
        n->expr = parse_tuple(false, false);
        n->body = statements({"elif", "else", "endif"}, &which);
        if (which == "elif") {
          if (++n_elif > kMaxElif) fail("more than " + std::to_string(kMaxElif) + " elif branches");
          auto e = stmt(Stmt::Kind::If, cur().line);
          Stmt* next_if = e.get();
          n->orelse.push_back(std::move(e));
          n = next_if;
          continue;
        }
        if (which == "else") n->orelse = statements({"endif"}, &which);
        break;
      }
    } else if (tag == "for") {
      s = stmt(Stmt::Kind::For, line);
      s->target = parse_target(false, {"in"});
      if (!skip_name("in")) fail("expected 'in', got " + describe(cur()));
      s->expr = parse_tuple(false, false, {"recursive"});
      if (skip_name("if")) s->cond = parse_expression();
      if (is_name("recursive")) fail("unsupported construct: recursive for loop");
      s->body = statements({"endfor", "else"}, &which);
      if (which == "else") s->orelse = statements({"endfor"}, &which);
    } else if (tag == "set") {
      Target target = parse_target(true, {});
      if (skip_op("=")) {
        s = stmt(Stmt::Kind::Set, line);
        s->target = std::move(target);
        s->expr = parse_tuple();
      } else {
        s = stmt(Stmt::Kind::SetBlock, line);
        s->target = std::move(target);
        if (is_op("|")) s->expr = parse_filter(nullptr);
        s->body = statements({"endset"}, &which);
      }
    } else if (tag == "macro") {
      s = stmt(Stmt::Kind::Macro, line);
      auto m = std::make_shared<MacroDef>();
      m->name = expect_name();
      expect_op("(");
      while (!is_op(")")) {
        if (!m->params.empty()) expect_op(",");
        m->params.push_back(expect_name());
        if (skip_op("="))
          m->defaults.push_back(parse_expression());
        else if (!m->defaults.empty())
          fail("non-default argument follows default argument");
      }
      expect_op(")");
      m->body = statements({"endmacro"}, &which);
      s->macro = std::move(m);
    } else if (tag == "break" || tag == "continue") {
      s = stmt(tag == "break" ? Stmt::Kind::Break : Stmt::Kind::Continue, line);
    } else if (tag == "filter") {
      s = stmt(Stmt::Kind::FilterBlock, line);
      s->expr = parse_filter(nullptr, true);
      s->body = statements({"endfilter"}, &which);
    } else if (tag == "print") {
      s = stmt(Stmt::Kind::Print, line);
      s->expr = parse_tuple();
    } else if (tag == "with") {
      s = stmt(Stmt::Kind::Scope, line);
      while (cur().type != Tok::BlockEnd) {
        if (!s->assigns.empty()) expect_op(",");
        Target t = parse_target(false, {});
        expect_op("=");
        s->assigns.emplace_back(std::move(t), parse_expression());
      }
      s->body = statements({"endwith"}, &which);
    } else if (tag == "generation") {
      // transformers' AssistantTracker marks assistant text for masks; rendering ignores it.
      s = stmt(Stmt::Kind::Scope, line);
      s->body = statements({"endgeneration"}, &which);
    } else if (tag == "include" || tag == "import" || tag == "from" || tag == "extends" || tag == "block" ||
               tag == "call" || tag == "autoescape") {
      fail("unsupported construct: '" + tag + "' statement");
    } else {
      fail("Encountered unknown tag '" + tag + "'");
    }
    expect(Tok::BlockEnd, "end of statement block");
    return s;
  }
};

}  // namespace

Body parse_template(const std::string& source) {
  Parser ps;
  ps.toks = lex(source);
  std::string which;
  return ps.subparse({}, &which);
}

}  // namespace qwen3::jinja
