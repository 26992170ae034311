// The JSON Schema compiler's class, shared by json_schema.cpp (dispatch, $ref, allOf, anyOf/oneOf, enum) and
// json_types.cpp (objects, arrays, strings, numbers, formats).
#pragma once

#include <map>
#include <string>

#include "constrain/json_parts.h"

namespace qwen3::constrain {

enum TypeBit : unsigned {
  kNull = 1,
  kBool = 2,
  kObject = 4,
  kArray = 8,
  kString = 16,
  kInteger = 32,
  kNumber = 64,
  kAll = 127
};

std::string escape_pointer(const std::string& key);  // a JSON pointer token (~0 ~1)
std::optional<std::string> int_bound(const Json& v, bool lower, bool exclusive);
// Whether the decoded string `text` matches the ECMA regex (searched, as JSON Schema's pattern is).
bool pattern_matches(std::string_view pattern, std::string_view text);

class SchemaCompiler {
 public:
  SchemaCompiler(Ir& ir, const Json& root, const JsonOptions& opt) : ir_(ir), p_(ir, opt), root_(root) {}

  int32_t compile(const Json& s, const std::string& path, int depth);

 private:
  Ir& ir_;
  JsonParts p_;
  const Json& root_;
  std::map<std::string, int32_t> ref_rules_;

  [[noreturn]] void fail(const std::string& keyword, const std::string& path, const std::string& why) {
    throw CompileError("schema: " + keyword + " at " + (path.empty() ? "/" : path) + ": " + why, keyword,
                       path);
  }
  const Json* resolve(const std::string& ref, const std::string& path);
  Json merge_all_of(const Json& s, const std::string& path, int depth);
  int32_t compile_object(const Json& s, const std::string& path, int depth);
  int32_t compile_array(const Json& s, const std::string& path, int depth);
  int32_t compile_string(const Json& s, const std::string& path);
  int32_t compile_number(const Json& s, const std::string& path, bool integer);
  unsigned types_of(const Json& s, const std::string& path);
  bool disjoint(const Json& a, const Json& b, int depth);
};

}  // namespace qwen3::constrain
