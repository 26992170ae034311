// The front ends that lower a source language into the grammar form (ir.h).
#pragma once

#include <nlohmann/json.hpp>

#include "constrain/ir.h"

namespace qwen3::constrain {

class Vocabulary;

struct JsonOptions {
  bool flexible_whitespace =
      false;  // any JSON whitespace between tokens; else an optional space after , and :
};

// JSON Schema (json_schema.cpp). Throws CompileError naming the keyword and its JSON pointer.
int32_t compile_json_schema(Ir& ir, const nlohmann::ordered_json& schema, const JsonOptions& opt);
int32_t compile_json_value(Ir& ir, const JsonOptions& opt);  // any JSON value

// Regular expressions, ECMA-262 subset (regex.cpp). Raw: the pattern matches the whole output. JsonString:
// the pattern is searched for (unanchored unless ^/$) in a JSON string's decoded value; the rule matches the
// string's contents between the quotes, characters written as JSON writes them.
enum class RegexMode { kRaw, kJsonString };
struct RegexInfo {
  int64_t min_chars = 0;
  int64_t max_chars = -1;  // -1: unbounded
};
int32_t compile_regex(Ir& ir, std::string_view pattern, RegexMode mode, RegexInfo* info = nullptr,
                      const std::string& keyword = "regex", const std::string& path = "");

// llama.cpp GBNF (gbnf.cpp); its root rule.
int32_t compile_gbnf(Ir& ir, std::string_view text, const Vocabulary& vocab);

}  // namespace qwen3::constrain
