// JSON Schema by type: objects (properties in order, required, additional and pattern properties, counts),
// arrays (prefix items, items, counts), strings (lengths, pattern, format), numbers (bounds).
#include <cmath>
#include <set>

#include "constrain/json_compiler.h"

namespace qwen3::constrain {

namespace {

// Formats as ECMA regexes over the decoded string, anchored. Each accepts only valid values (a subset where
// the RFC's grammar is looser, e.g. no IPv4-embedded IPv6, no leap second).
const char* const kDate =
    "(?:\\d{4}-(?:(?:0[13578]|1[02])-(?:0[1-9]|[12]\\d|3[01])|(?:0[469]|11)-(?:0[1-9]|[12]\\d|30)|"
    "02-(?:0[1-9]|1\\d|2[0-8]))|(?:\\d{2}(?:0[48]|[2468][048]|[13579][26])|(?:[02468][048]|[13579][26])00)"
    "-02-29)";
const char* const kTime =
    "(?:[01]\\d|2[0-3]):[0-5]\\d:[0-5]\\d(?:\\.\\d+)?(?:Z|[+-](?:[01]\\d|2[0-3]):[0-5]\\d)";
const char* const kHex4 = "[0-9a-fA-F]{1,4}";

std::string format_regex(const std::string& f) {
  if (f == "date") return std::string("^") + kDate + "$";
  if (f == "time") return std::string("^") + kTime + "$";
  if (f == "date-time") return std::string("^") + kDate + "T" + kTime + "$";
  if (f == "uuid") return "^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$";
  if (f == "ipv4")
    return "^(?:(?:25[0-5]|2[0-4]\\d|1\\d\\d|[1-9]?\\d)\\.){3}(?:25[0-5]|2[0-4]\\d|1\\d\\d|[1-9]?\\d)$";
  if (f == "ipv6") {
    std::string h = kHex4;
    return "^(?:(?:" + h + ":){7}" + h + "|(?:" + h + ":){1,7}:|(?:" + h + ":){1,6}:" + h + "|(?:" + h +
           ":){1,5}(?::" + h + "){1,2}|(?:" + h + ":){1,4}(?::" + h + "){1,3}|(?:" + h + ":){1,3}(?::" + h +
           "){1,4}|(?:" + h + ":){1,2}(?::" + h + "){1,5}|" + h + ":(?::" + h + "){1,6}|:(?:(?::" + h +
           "){1,7}|:))$";
  }
  if (f == "email")
    return "^[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+(?:\\.[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+)*@"
           "(?:[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?\\.)+[A-Za-z]{2,63}$";
  if (f == "uri") {
    std::string pct = "%[0-9A-Fa-f]{2}";
    std::string pchar = "(?:[A-Za-z0-9._~!$&'()*+,;=:@-]|" + pct + ")";
    std::string user = "(?:[A-Za-z0-9._~!$&'()*+,;=:-]|" + pct + ")*";
    std::string host = "(?:[A-Za-z0-9._~!$&'()*+,;=-]|" + pct + ")*";
    std::string abempty = "(?:/" + pchar + "*)*";
    std::string hier = "(?://(?:" + user + "@)?" + host + "(?::\\d*)?" + abempty + "|/(?:" + pchar + "+" +
                       abempty + ")?|" + pchar + "+" + abempty + "|)";
    return "^[A-Za-z][A-Za-z0-9+.-]*:" + hier + "(?:\\?(?:" + pchar + "|[/?])*)?(?:#(?:" + pchar +
           "|[/?])*)?$";
  }
  return "";
}

bool is_trivially_true(const Json& s) {
  if (s.is_boolean()) return s.get<bool>();
  if (!s.is_object()) return false;
  static const std::set<std::string> annotations = {"title", "description", "examples", "$comment",
                                                    "default"};
  for (auto& [k, v] : s.items())
    if (!annotations.count(k)) return false;
  return true;
}

int64_t count_keyword(const Json& s, const char* k, const std::string& path, int64_t dflt) {
  if (!s.contains(k)) return dflt;
  const Json& v = s[k];
  if (!v.is_number() || v.get<double>() < 0 || v.get<double>() != std::floor(v.get<double>()))
    throw CompileError(std::string("schema: ") + k + " at " + path + ": must be a non-negative integer", k,
                       path + "/" + k);
  double d = v.get<double>();
  return d > 1e9 ? int64_t(1e9) : int64_t(d);
}

}  // namespace

int32_t SchemaCompiler::compile_object(const Json& s, const std::string& path, int depth) {
  struct Prop {
    std::string name;
    Json schema;
    bool required;
  };
  std::vector<Prop> props;
  std::set<std::string> required;
  if (s.contains("required")) {
    if (!s["required"].is_array()) fail("required", path + "/required", "must be an array");
    for (auto& r : s["required"]) {
      if (!r.is_string()) fail("required", path + "/required", "must hold strings");
      required.insert(r.get<std::string>());
    }
  }
  if (s.contains("properties")) {
    if (!s["properties"].is_object()) fail("properties", path + "/properties", "must be an object");
    for (auto& [k, v] : s["properties"].items()) props.push_back({k, v, required.count(k) > 0});
  }
  Json addl = s.contains("additionalProperties") ? s["additionalProperties"] : Json(true);
  if (!addl.is_boolean() && !addl.is_object())
    fail("additionalProperties", path + "/additionalProperties", "must be a schema");
  std::vector<std::pair<std::string, Json>> patterns;
  if (s.contains("patternProperties")) {
    if (!s["patternProperties"].is_object())
      fail("patternProperties", path + "/patternProperties", "must be an object");
    for (auto& [k, v] : s["patternProperties"].items())
      if (!is_trivially_true(v) || addl != Json(true)) patterns.emplace_back(k, v);
  }
  auto declared = [&](const std::string& n) {
    for (auto& p : props)
      if (p.name == n) return true;
    return false;
  };
  for (auto& r : required) {
    if (declared(r)) continue;
    for (auto& [pat, ps] : patterns)
      if (pattern_matches(pat, r))
        fail("patternProperties", path + "/patternProperties", "a required property matches a pattern");
    if (addl == Json(false)) {
      if (patterns.empty()) return ir_.nothing_rule();  // required but forbidden: no object is valid
      fail("required", path + "/required", "a required property only allowed through patternProperties");
    }
    props.push_back({r, addl, true});
  }
  // A declared property that a pattern matches must satisfy both schemas.
  for (auto& p : props)
    for (auto& [pat, ps] : patterns)
      if (pattern_matches(pat, p.name)) p.schema = Json{{"allOf", Json::array({p.schema, ps})}};

  // The key-value rule of additional properties (after the declared ones).
  int32_t add_kv = -1;
  if (!patterns.empty()) {
    if (addl != Json(false))
      fail("patternProperties", path + "/patternProperties",
           "only supported with additionalProperties: false (or with schemas that allow anything)");
    for (auto& p : props)
      for (auto& [pat, ps] : patterns)
        if (pattern_matches(pat, p.name))
          fail("patternProperties", path + "/patternProperties",
               "a declared property matches a pattern and could also appear as a pattern property");
    for (size_t i = 1; i < patterns.size(); i++)
      if (patterns[i].second != patterns[0].second)
        fail("patternProperties", path + "/patternProperties",
             "several patterns with different schemas (a key could match more than one)");
    std::vector<int32_t> keys;
    for (auto& [pat, ps] : patterns)
      keys.push_back(p_.quoted(compile_regex(ir_, pat, RegexMode::kJsonString, nullptr, "patternProperties",
                                             path + "/patternProperties/" + escape_pointer(pat))));
    int32_t value = compile(patterns[0].second,
                            path + "/patternProperties/" + escape_pointer(patterns[0].first), depth + 1);
    add_kv = p_.seq({ir_.alt_rule(keys), p_.colon(), value});
  } else if (addl != Json(false)) {
    std::vector<std::string> names;
    for (auto& p : props) names.push_back(p.name);
    int32_t value = compile(addl, path + "/additionalProperties", depth + 1);
    add_kv = p_.seq({p_.key_not_in(names), p_.colon(), value});
  }

  const int64_t n = int64_t(props.size());
  int64_t min_p = count_keyword(s, "minProperties", path, 0);
  int64_t max_p = count_keyword(s, "maxProperties", path, -1);
  int64_t n_required = 0;
  for (auto& p : props) n_required += p.required;
  if (max_p >= 0 && n_required > max_p) return ir_.nothing_rule();
  if (min_p > n && add_kv >= 0)
    fail("minProperties", path + "/minProperties",
         "more than the declared properties (counted by those only)");
  if (min_p > n) return ir_.nothing_rule();
  const int64_t cap = max_p >= 0 ? max_p : std::max<int64_t>(1, min_p);
  if ((n + 1) * (cap + 1) > 200000) fail("maxProperties", path + "/maxProperties", "too many states");

  std::vector<int32_t> kv(static_cast<size_t>(n));
  for (int64_t i = 0; i < n; i++)
    kv[size_t(i)] =
        p_.seq({p_.lit(py_json_string(props[size_t(i)].name)), p_.colon(),
                compile(props[size_t(i)].schema,
                        path + "/properties/" + escape_pointer(props[size_t(i)].name), depth + 1)});
  // Additional phase: A(c), c = members so far (capped; only > 0 matters without maxProperties).
  std::map<int64_t, int32_t> a_rules;
  auto A = [&](auto&& self, int64_t c) -> int32_t {
    int64_t key = max_p >= 0 ? c : std::min<int64_t>(c, 1);
    auto it = a_rules.find(key);
    if (it != a_rules.end()) return it->second;
    int32_t r = ir_.new_rule();
    a_rules[key] = r;
    ir_.add_alt(r, {});
    if (add_kv >= 0 && (max_p < 0 || c + 1 <= max_p)) {
      int32_t next = self(self, c + 1);
      if (c > 0)
        ir_.add_alt(r, {Ir::ref(p_.comma()), Ir::ref(add_kv), Ir::ref(next)});
      else
        ir_.add_alt(r, {Ir::ref(add_kv), Ir::ref(next)});
    }
    return r;
  };
  // Declared phase: S(i, c), built from the last property back.
  std::vector<std::map<int64_t, int32_t>> s_rules(size_t(n) + 1);
  auto S = [&](auto&& self, int64_t i, int64_t c) -> int32_t {
    auto it = s_rules[size_t(i)].find(c);
    if (it != s_rules[size_t(i)].end()) return it->second;
    int32_t r;
    if (i == n) {
      r = c >= min_p ? A(A, c) : ir_.nothing_rule();
    } else {
      r = ir_.new_rule();
      if (max_p < 0 || c + 1 <= max_p) {
        int32_t next = self(self, i + 1, std::min(c + 1, cap));
        if (c > 0)
          ir_.add_alt(r, {Ir::ref(p_.comma()), Ir::ref(kv[size_t(i)]), Ir::ref(next)});
        else
          ir_.add_alt(r, {Ir::ref(kv[size_t(i)]), Ir::ref(next)});
      }
      if (!props[size_t(i)].required) ir_.add_alt(r, {Ir::ref(self(self, i + 1, c))});
    }
    s_rules[size_t(i)][c] = r;
    return r;
  };
  return p_.seq({p_.lit("{"), p_.ws(), S(S, 0, 0), p_.ws(), p_.lit("}")});
}

int32_t SchemaCompiler::compile_array(const Json& s, const std::string& path, int depth) {
  std::vector<Json> prefix;
  Json rest = true;
  std::string rest_path = path + "/items";
  if (s.contains("prefixItems")) {
    if (!s["prefixItems"].is_array()) fail("prefixItems", path + "/prefixItems", "must be an array");
    for (auto& x : s["prefixItems"]) prefix.push_back(x);
    if (s.contains("items")) rest = s["items"];
  } else if (s.contains("items") && s["items"].is_array()) {
    for (auto& x : s["items"]) prefix.push_back(x);
    if (s.contains("additionalItems")) rest = s["additionalItems"], rest_path = path + "/additionalItems";
  } else if (s.contains("items")) {
    rest = s["items"];
  }
  int64_t a = count_keyword(s, "minItems", path, 0);
  int64_t b = count_keyword(s, "maxItems", path, -1);
  if (s.contains("uniqueItems") && s["uniqueItems"] == Json(true) && (b < 0 || b > 1))
    fail("uniqueItems", path + "/uniqueItems", "keyword not supported (except with maxItems <= 1)");
  if (b >= 0 && b < a) return ir_.nothing_rule();
  const int64_t k = int64_t(prefix.size());
  const int64_t T = std::max(k, a);
  if (T > 10000) fail("minItems", path + "/minItems", "too large (limit 10000)");
  int32_t rest_rule = compile(rest, rest_path, depth + 1);
  auto elem = [&](int64_t i) {
    return i < k
               ? compile(prefix[size_t(i)],
                         path + (s.contains("prefixItems") ? "/prefixItems/" : "/items/") + std::to_string(i),
                         depth + 1)
               : rest_rule;
  };
  const int64_t top = b >= 0 ? std::min(T, b) : T;
  // Tail after T elements: up to b - T more of rest.
  int32_t next;
  if (b >= 0 && top == b) {
    next = ir_.empty_rule();
  } else {
    int64_t more = b >= 0 ? b - T : -1;
    if (more > 100000) more = -1 == more ? -1 : more;
    if (more > 10000) fail("maxItems", path + "/maxItems", "too large (limit 10000 beyond minItems)");
    if (T == 0) {
      int32_t tail = ir_.repeat(p_.seq({p_.comma(), rest_rule}), 0, more < 0 ? -1 : int(more - 1));
      next = ir_.optional(p_.seq({rest_rule, tail}));
    } else {
      next = ir_.repeat(p_.seq({p_.comma(), rest_rule}), 0, more < 0 ? -1 : int(more));
    }
  }
  for (int64_t i = top - 1; i >= 0; i--) {
    int32_t r = ir_.new_rule();
    int32_t e = elem(i);
    if (i > 0)
      ir_.add_alt(r, {Ir::ref(p_.comma()), Ir::ref(e), Ir::ref(next)});
    else
      ir_.add_alt(r, {Ir::ref(e), Ir::ref(next)});
    if (i >= a) ir_.add_alt(r, {});
    next = r;
  }
  return p_.seq({p_.lit("["), p_.ws(), next, p_.ws(), p_.lit("]")});
}

int32_t SchemaCompiler::compile_string(const Json& s, const std::string& path) {
  int64_t min_l = count_keyword(s, "minLength", path, 0);
  int64_t max_l = count_keyword(s, "maxLength", path, -1);
  if (max_l >= 0 && max_l < min_l) return ir_.nothing_rule();
  std::string regex, keyword;
  if (s.contains("pattern")) {
    if (!s["pattern"].is_string()) fail("pattern", path + "/pattern", "must be a string");
    regex = s["pattern"].get<std::string>(), keyword = "pattern";
  }
  if (s.contains("format")) {
    if (!s["format"].is_string()) fail("format", path + "/format", "must be a string");
    std::string f = s["format"].get<std::string>();
    std::string fr = format_regex(f);
    // The formats JSON Schema defines are asserted by validators that check formats: one this engine does
    // not implement is an error. Any other name is an annotation (validators ignore unknown formats).
    static const std::set<std::string> defined = {
        "date-time", "date",          "time", "duration",     "email",        "idn-email",
        "hostname",  "idn-hostname",  "ipv4", "ipv6",         "uri",          "uri-reference",
        "iri",       "iri-reference", "uuid", "uri-template", "json-pointer", "relative-json-pointer",
        "regex"};
    if (fr.empty() && defined.count(f))
      fail("format", path + "/format", "format \"" + f + "\" not supported");
    if (!fr.empty()) {
      if (!regex.empty()) fail("format", path + "/format", "format together with pattern is not supported");
      regex = fr, keyword = "format";
    }
  }
  if (regex.empty()) {
    if (min_l > 10000 || max_l > 10000)
      fail(max_l > 10000 ? "maxLength" : "minLength", path, "too large (limit 10000)");
    return p_.quoted(p_.string_contents(int(min_l), int(max_l)));
  }
  RegexInfo info;
  int32_t contents = compile_regex(ir_, regex, RegexMode::kJsonString, &info, keyword, path + "/" + keyword);
  if (min_l > info.min_chars)
    fail("minLength", path + "/minLength", "minLength together with " + keyword + " is not supported");
  if (max_l >= 0 && (info.max_chars < 0 || info.max_chars > max_l))
    fail("maxLength", path + "/maxLength", "maxLength together with " + keyword + " is not supported");
  return p_.quoted(contents);
}

int32_t SchemaCompiler::compile_number(const Json& s, const std::string& path, bool integer) {
  if (s.contains("multipleOf")) {
    const Json& m = s["multipleOf"];
    bool one = m.is_number() && m.get<double>() == 1.0;
    if (!(integer && one)) fail("multipleOf", path + "/multipleOf", "keyword not supported");
  }
  // Lower and upper bounds, the tighter of the inclusive and exclusive keyword (draft 4: exclusive*
  // booleans).
  struct Bound {
    bool set = false;
    double v = 0;
    bool excl = false;
    const Json* src = nullptr;
    std::string kw;
  };
  Bound lo, hi;
  auto take = [&](Bound& b, const char* kw, bool excl, bool lower) {
    if (!s.contains(kw)) return;
    const Json& v = s[kw];
    if (v.is_boolean()) return;
    if (!v.is_number()) fail(kw, path + "/" + kw, "must be a number");
    bool ex = excl;
    if (!excl) {
      const char* ekw = lower ? "exclusiveMinimum" : "exclusiveMaximum";
      if (s.contains(ekw) && s[ekw].is_boolean()) ex = s[ekw].get<bool>();
    }
    double d = v.get<double>();
    bool tighter = !b.set || (lower ? (d > b.v || (d == b.v && ex)) : (d < b.v || (d == b.v && ex)));
    if (tighter) b = Bound{true, d, ex, &v, kw};
  };
  take(lo, "minimum", false, true);
  take(lo, "exclusiveMinimum", true, true);
  take(hi, "maximum", false, false);
  take(hi, "exclusiveMaximum", true, false);
  if (!lo.set && !hi.set) return integer ? p_.any_integer() : p_.any_number();
  std::optional<std::string> l, h;
  if (integer) {
    if (lo.set) l = int_bound(*lo.src, true, lo.excl);
    if (hi.set) h = int_bound(*hi.src, false, hi.excl);
    if ((lo.set && !l) || (hi.set && !h)) fail(lo.set && !l ? lo.kw : hi.kw, path, "bound not finite");
    auto signed_cmp = [](const std::string& a, const std::string& b) {
      bool na = a[0] == '-', nb = b[0] == '-';
      if (na != nb) return na ? -1 : 1;
      int c = cmp_dec(na ? a.substr(1) : a, nb ? b.substr(1) : b);
      return na ? -c : c;
    };
    if (l && h && signed_cmp(*l, *h) > 0) return ir_.nothing_rule();
    return p_.integer_range(l, h);
  }
  for (Bound* b : {&lo, &hi}) {
    if (b->set && (!std::isfinite(b->v) || b->v != std::floor(b->v)))
      fail(b->kw, path + "/" + b->kw, "a non-integer bound on a number is not supported");
  }
  if (lo.set) l = int_bound(*lo.src, true, false);
  if (hi.set) h = int_bound(*hi.src, false, false);
  if (lo.set && hi.set && (lo.v > hi.v || (lo.v == hi.v && (lo.excl || hi.excl)))) return ir_.nothing_rule();
  return p_.number_range(l, !lo.excl, h, !hi.excl);
}

}  // namespace qwen3::constrain
