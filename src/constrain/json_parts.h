// Pieces of the JSON grammar shared by the schema compiler: whitespace, strings, numbers, literal values.
#pragma once

#include <optional>
#include <string>

#include "constrain/frontends.h"

namespace qwen3::constrain {

using Json = nlohmann::ordered_json;

// A JSON string as Python's json.dumps(s, ensure_ascii=False) writes it, quotes included.
std::string py_json_string(std::string_view s);

class JsonParts {
 public:
  JsonParts(Ir& ir, const JsonOptions& opt);
  Ir& ir;
  JsonOptions opt;

  int32_t ws();     // between tokens where compact output has nothing
  int32_t comma();  // ws "," (ws | an optional space)
  int32_t colon();  // ws ":" (ws | an optional space)
  int32_t lit(std::string_view s) { return ir.literal(s); }
  int32_t seq(std::initializer_list<int32_t> rules);

  int32_t string_char();                      // one character of a JSON string's contents, escapes included
  int32_t string_contents(int min, int max);  // min..max characters (max < 0: unbounded)
  int32_t quoted(int32_t contents);           // '"' contents '"'
  int32_t any_string() { return quoted(string_contents(0, -1)); }
  int32_t any_number();
  int32_t any_integer();
  int32_t any_value();
  // Integers in [lo, hi] (either side absent: unbounded), canonical form (no leading zeros, no "-0").
  int32_t integer_range(std::optional<std::string> lo, std::optional<std::string> hi);
  // Numbers (no exponent) x with lo <(=) x <(=) hi, bounds integers given as decimal strings.
  int32_t number_range(std::optional<std::string> lo, bool lo_incl, std::optional<std::string> hi,
                       bool hi_incl);
  // A JSON value equal to v, in the forms json.dumps writes (integral numbers also as N.0).
  int32_t value_literal(const Json& v);
  // A string (quoted) that is not one of names (raw, unescaped text); escapes only after it differs.
  int32_t key_not_in(const std::vector<std::string>& names);

 private:
  int32_t ws_ = -1, comma_ = -1, colon_ = -1, char_ = -1, any_number_ = -1, any_integer_ = -1,
          any_value_ = -1;
  int32_t digits_same_length(const std::string& lo, const std::string& hi);
  int32_t digits_range(const std::string& lo, const std::optional<std::string>& hi);
};

// Decimal-string helpers for non-negative integers without leading zeros.
int cmp_dec(const std::string& a, const std::string& b);
std::string inc_dec(const std::string& a);
std::string dec_dec(const std::string& a);  // a > 0

}  // namespace qwen3::constrain
