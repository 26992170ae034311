// Syntax tree of the Jinja subset: plain structs produced by jinja_parser.cpp and walked by jinja_eval.cpp.
// Node kinds follow jinja2/nodes.py; each node keeps its template line for error messages.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "chat/jinja_value.h"

namespace qwen3::jinja {

struct Expr;
using ExprPtr = std::unique_ptr<Expr>;

struct Expr {
  enum class Kind {
    Const,    // value
    Name,     // name
    Getattr,  // kids[0].name
    Getitem,  // kids[0][kids[1]]
    Slice,    // kids = {start, stop, step}, each may be null
    Call,     // kids[0](kids[1..n_args], kw_names = kids[n_args+1..])
    Filter,   // kids[0] | name(kids[1..n_args], kw...)   (kids[0] null in a filter block)
    Test,     // kids[0] is name(kids[1..n_args], kw...)
    Neg,
    Pos,
    Not,
    And,
    Or,
    Binary,   // kids[0] name kids[1], name in + - * / // % **
    Compare,  // kids[0] ops[0] kids[1] ops[1] kids[2] ...   (ops: == != < <= > >= in notin)
    Concat,   // kids joined with ~
    Cond,     // kids[1] if kids[0] else kids[2] (kids[2] may be null)
    List,
    Tuple,
    Dict,  // kids = key, value, key, value, ...
  };
  Kind kind;
  int line = 0;
  std::string name;
  Value value;
  std::vector<ExprPtr> kids;
  size_t n_args = 0;                  // Call/Filter/Test: positional arguments after kids[0]
  std::vector<std::string> kw_names;  // Call/Filter/Test: names of the keyword arguments that follow them
  std::vector<std::string> ops;       // Compare
  int height = 1;                     // of this subtree; bounded by the parser so walking it cannot overflow
};

struct Stmt;
using StmtPtr = std::unique_ptr<Stmt>;
using Body = std::vector<StmtPtr>;

// Target of set/for: a name, a tuple of names, or namespace.attr.
struct Target {
  std::vector<std::string> names;  // one name, or several for tuple unpacking
  bool is_tuple = false;
  std::string attr;  // set ns.attr = ... : names[0] is the namespace
};

struct MacroDef {
  std::string name;
  std::vector<std::string> params;
  std::vector<ExprPtr> defaults;  // for the last defaults.size() params
  Body body;
};

struct Stmt {
  enum class Kind {
    Data,      // text
    Print,     // expr
    If,        // expr, body, orelse (elif chains are nested Ifs in orelse)
    For,       // target in expr [if cond] body [else orelse]
    Set,       // target = expr
    SetBlock,  // {% set target %}body{% endset %}, filter (expr with null subject) optional
    Macro,     // macro
    Break,
    Continue,
    FilterBlock,  // {% filter f %}body{% endfilter %}
    Scope,        // {% with %} / {% generation %}: body in its own scope, after `assigns`
  };
  Kind kind;
  int line = 0;
  std::string text;
  ExprPtr expr, cond;
  Target target;
  Body body, orelse;
  std::shared_ptr<const MacroDef> macro;
  std::vector<std::pair<Target, ExprPtr>> assigns;  // with a=1, b=2
};

// Throws qwen3::Error "chat template line N: ..." for syntax errors and unsupported constructs.
Body parse_template(const std::string& source);

}  // namespace qwen3::jinja
