// Lexer of the Jinja subset: splits a template into data and tag tokens exactly as jinja2's lexer does with
// transformers' settings (trim_blocks, lstrip_blocks, newlines normalised, one trailing newline dropped),
// including the `{%-`/`-%}` and `{%+`/`+%}` whitespace controls, comments and `{% raw %}`.
#pragma once

#include <string>
#include <vector>

namespace qwen3::jinja {

enum class Tok {
  Data,        // template text (value = the text)
  VarBegin,    // {{
  VarEnd,      // }}
  BlockBegin,  // {%
  BlockEnd,    // %}
  Name,
  String,   // value = the unescaped string
  Integer,  // value = the digits as written (underscores removed)
  Float,
  Op,  // value = the operator: + - * / // % ** ~ [ ] ( ) { } == != < <= > >= = . : | ,
  End,
};

struct Token {
  Tok type;
  std::string value;
  int line;
};

// Throws qwen3::Error "chat template line N: ..." on a lexical error.
std::vector<Token> lex(const std::string& source);

}  // namespace qwen3::jinja
