// JSON Schema (draft 2020-12 and drafts 4-7/2019-09 as real schemas use them) lowered into the grammar form.
//
// Soundness first: every text the grammar accepts is valid against the schema. A keyword this compiler cannot
// enforce exactly is a CompileError naming it; annotations are ignored. Where the exact language is out of
// reach, the grammar accepts a documented subset of the valid texts (docs/STRUCTURED.md): object properties
// in the order of `properties`, additional properties after them and never spelled like a declared one,
// numbers under bounds without exponent, enum values in json.dumps's spelling.
#include <algorithm>
#include <cmath>
#include <set>

#include "constrain/json_compiler.h"

namespace qwen3::constrain {

namespace {

const std::set<std::string> kIgnored = {"title",
                                        "description",
                                        "examples",
                                        "$comment",
                                        "default",
                                        "$schema",
                                        "$id",
                                        "id",
                                        "readOnly",
                                        "writeOnly",
                                        "deprecated",
                                        "contentEncoding",
                                        "contentMediaType",
                                        "$defs",
                                        "definitions",
                                        "$anchor",
                                        "$dynamicAnchor",
                                        "$vocabulary",
                                        "nullable_ignored_never"};
// Keywords this compiler enforces (in compile_object/array/string/number or the dispatcher).
const std::set<std::string> kSupported = {"type",
                                          "enum",
                                          "const",
                                          "properties",
                                          "required",
                                          "additionalProperties",
                                          "patternProperties",
                                          "minProperties",
                                          "maxProperties",
                                          "items",
                                          "prefixItems",
                                          "additionalItems",
                                          "minItems",
                                          "maxItems",
                                          "uniqueItems",
                                          "minLength",
                                          "maxLength",
                                          "pattern",
                                          "format",
                                          "minimum",
                                          "maximum",
                                          "exclusiveMinimum",
                                          "exclusiveMaximum",
                                          "multipleOf",
                                          "anyOf",
                                          "oneOf",
                                          "allOf",
                                          "$ref"};
// Keywords of the JSON Schema vocabularies that are not enforced: an error, never silently ignored.
const std::set<std::string> kUnsupported = {"not",
                                            "if",
                                            "then",
                                            "else",
                                            "dependencies",
                                            "dependentRequired",
                                            "dependentSchemas",
                                            "propertyNames",
                                            "unevaluatedProperties",
                                            "unevaluatedItems",
                                            "contains",
                                            "minContains",
                                            "maxContains",
                                            "$dynamicRef",
                                            "$recursiveRef",
                                            "$recursiveAnchor",
                                            "contentSchema"};

unsigned type_bit(const std::string& t) {
  if (t == "null") return kNull;
  if (t == "boolean") return kBool;
  if (t == "object") return kObject;
  if (t == "array") return kArray;
  if (t == "string") return kString;
  if (t == "integer") return kInteger;
  if (t == "number") return kNumber | kInteger;
  return 0;
}

unsigned value_type(const Json& v) {
  switch (v.type()) {
    case Json::value_t::null:
      return kNull;
    case Json::value_t::boolean:
      return kBool;
    case Json::value_t::object:
      return kObject;
    case Json::value_t::array:
      return kArray;
    case Json::value_t::string:
      return kString;
    case Json::value_t::number_integer:
    case Json::value_t::number_unsigned:
      return kInteger;
    case Json::value_t::number_float: {
      double d = v.get<double>();
      return d == std::floor(d) ? kInteger : kNumber;
    }
    default:
      return 0;
  }
}

}  // namespace

std::string escape_pointer(const std::string& k) {
  std::string o;
  for (char c : k) {
    if (c == '~')
      o += "~0";
    else if (c == '/')
      o += "~1";
    else
      o += c;
  }
  return o;
}

// An integer bound from a JSON number: ceil (lower) or floor (upper) as a decimal string; nullopt when the
// number is not finite or beyond what a double holds exactly as an integer.
std::optional<std::string> int_bound(const Json& v, bool lower, bool exclusive) {
  if (v.is_number_integer()) {
    long double x = v.is_number_unsigned() ? (long double)v.get<uint64_t>() : (long double)v.get<int64_t>();
    if (exclusive) x += lower ? 1 : -1;
    char buf[64];
    snprintf(buf, sizeof buf, "%.0Lf", x);
    return std::string(buf);
  }
  double d = v.get<double>();
  if (!std::isfinite(d)) return std::nullopt;
  double r = lower ? std::ceil(d) : std::floor(d);
  if (exclusive && r == d) r += lower ? 1 : -1;
  char buf[400];
  snprintf(buf, sizeof buf, "%.0f", r);
  std::string s = buf;
  return s == "-0" ? "0" : s;
}

const Json* SchemaCompiler::resolve(const std::string& ref, const std::string& path) {
  if (ref.empty() || ref[0] != '#') fail("$ref", path, "only local references (#/...) are supported: " + ref);
  if (ref.size() > 1 && ref[1] != '/') fail("$ref", path, "anchor references are not supported: " + ref);
  const Json* cur = &root_;
  size_t i = 2;
  while (i <= ref.size() && ref.size() > 1) {
    size_t j = ref.find('/', i);
    if (j == std::string::npos) j = ref.size();
    std::string tok = ref.substr(i, j - i), key;
    for (size_t k = 0; k < tok.size(); k++) {  // ~0 ~1 and %-escapes of the URI fragment
      if (tok[k] == '~' && k + 1 < tok.size()) {
        key += tok[k + 1] == '1' ? '/' : '~';
        k++;
      } else if (tok[k] == '%' && k + 2 < tok.size() + 0 && isxdigit(tok[k + 1]) && isxdigit(tok[k + 2])) {
        key += char(std::stoi(tok.substr(k + 1, 2), nullptr, 16));
        k += 2;
      } else {
        key += tok[k];
      }
    }
    if (cur->is_object() && cur->contains(key)) {
      cur = &(*cur)[key];
    } else if (cur->is_array() && !key.empty() && key.find_first_not_of("0123456789") == std::string::npos &&
               std::stoul(key) < cur->size()) {
      cur = &(*cur)[std::stoul(key)];
    } else {
      fail("$ref", path, "unresolvable reference " + ref);
    }
    i = j + 1;
  }
  return cur;
}

unsigned SchemaCompiler::types_of(const Json& s, const std::string& path) {
  if (s.is_boolean()) return s.get<bool>() ? unsigned(kAll) : 0u;
  unsigned t = kAll;
  if (s.contains("type")) {
    const Json& ty = s["type"];
    t = 0;
    if (ty.is_string()) {
      t = type_bit(ty.get<std::string>());
      if (!t) fail("type", path + "/type", "unknown type " + ty.dump());
    } else if (ty.is_array()) {
      for (auto& x : ty) {
        unsigned b = x.is_string() ? type_bit(x.get<std::string>()) : 0;
        if (!b) fail("type", path + "/type", "unknown type " + x.dump());
        t |= b;
      }
    } else {
      fail("type", path + "/type", "must be a string or an array");
    }
  }
  auto values = [&](const Json& vs) {
    unsigned u = 0;
    for (auto& v : vs) u |= value_type(v) == kInteger ? unsigned(kInteger | kNumber) : value_type(v);
    return u;
  };
  if (s.contains("const")) t &= values(Json::array({s["const"]}));
  if (s.contains("enum") && s["enum"].is_array()) t &= values(s["enum"]);
  return t;
}

// Two schemas no value satisfies both (for oneOf): different types, or the same required property with
// disjoint const/enum values.
bool SchemaCompiler::disjoint(const Json& a0, const Json& b0, int depth) {
  const Json* a = &a0;
  const Json* b = &b0;
  for (int k = 0; k < 32 && a->is_object() && a->contains("$ref") && a->size() == 1; k++)
    a = resolve((*a)["$ref"].get<std::string>(), "");
  for (int k = 0; k < 32 && b->is_object() && b->contains("$ref") && b->size() == 1; k++)
    b = resolve((*b)["$ref"].get<std::string>(), "");
  // allOf (a oneOf branch merged with its siblings makes one per shared property): judged as the one schema
  // it merges into, where that merge is exact; a merge that matches nothing is disjoint from anything.
  Json ma, mb;
  auto flatten = [&](const Json*& x, Json& hold) {
    if (!x->is_object() || !(x->contains("allOf") || (x->contains("$ref") && x->size() > 1))) return true;
    try {
      hold = merge_all_of(*x, "", depth);
    } catch (const CompileError&) {
      return true;  // not mergeable: judged as it is (never disjoint by its allOf)
    }
    x = &hold;
    return !(hold.is_boolean() && !hold.get<bool>());
  };
  if (!flatten(a, ma) || !flatten(b, mb)) return true;
  unsigned ta = types_of(*a, ""), tb = types_of(*b, "");
  if (ta & kInteger) ta |= kNumber;  // an integer is a number
  if (tb & kInteger) tb |= kNumber;
  if ((ta & tb) == 0) return true;
  auto values = [](const Json& s) -> std::optional<Json> {
    if (!s.is_object()) return std::nullopt;
    if (s.contains("const")) return Json::array({s["const"]});
    if (s.contains("enum") && s["enum"].is_array()) return s["enum"];
    return std::nullopt;
  };
  auto va = values(*a), vb = values(*b);
  if (va && vb) {
    for (auto& x : *va)
      for (auto& y : *vb)
        if (x == y) return false;
    return true;
  }
  if (depth > 4 || !a->is_object() || !b->is_object()) return false;
  if ((ta & tb) == kObject && a->contains("properties") && b->contains("properties") &&
      a->contains("required") && b->contains("required")) {
    for (auto& [k, sa] : (*a)["properties"].items()) {
      if (!(*b)["properties"].contains(k)) continue;
      bool ra = false, rb = false;
      for (auto& r : (*a)["required"]) ra |= r == k;
      for (auto& r : (*b)["required"]) rb |= r == k;
      if (ra && rb && disjoint(sa, (*b)["properties"][k], depth + 1)) return true;
    }
  }
  // One requires a property the other forbids (additionalProperties false, not among its properties, no
  // patternProperties).
  auto forbids_required = [](const Json& x, const Json& y) {
    if (!x.is_object() || !y.is_object() || !x.contains("required") || !x["required"].is_array())
      return false;
    if (!y.contains("additionalProperties") || y["additionalProperties"] != Json(false) ||
        y.contains("patternProperties"))
      return false;
    for (auto& r : x["required"])
      if (r.is_string() && !(y.contains("properties") && y["properties"].is_object() &&
                             y["properties"].contains(r.get<std::string>())))
        return true;
    return false;
  };
  if ((ta & tb) == kObject && (forbids_required(*a, *b) || forbids_required(*b, *a))) return true;
  return false;
}

// allOf and $ref-with-siblings as one schema: keywords combined by their intersection semantics where that is
// exact, else a CompileError naming allOf.
Json SchemaCompiler::merge_all_of(const Json& s, const std::string& path, int depth) {
  if (depth > ir_.limits.max_depth) fail("allOf", path, "nested too deeply");
  std::vector<Json> parts;
  Json base = Json::object();
  for (auto& [k, v] : s.items()) {
    if (k == "allOf" || k == "$ref") continue;
    base[k] = v;
  }
  parts.push_back(base);
  if (s.contains("$ref")) {
    if (!s["$ref"].is_string()) fail("$ref", path, "must be a string");
    const Json* t = resolve(s["$ref"].get<std::string>(), path);
    parts.push_back(*t);
  }
  if (s.contains("allOf")) {
    if (!s["allOf"].is_array()) fail("allOf", path, "must be an array");
    for (auto& x : s["allOf"]) parts.push_back(x);
  }
  Json out = Json::object();
  for (auto part : parts) {
    if (part.is_boolean()) {
      if (!part.get<bool>()) return false;
      continue;
    }
    if (!part.is_object()) fail("allOf", path, "a subschema must be an object or a boolean");
    if (part.contains("$ref") || part.contains("allOf")) part = merge_all_of(part, path, depth + 1);
    if (part.is_boolean()) {
      if (!part.get<bool>()) return false;
      continue;
    }
    for (auto& [k, v] : part.items()) {
      if (!out.contains(k) || kIgnored.count(k)) {
        out[k] = v;
        continue;
      }
      Json& o = out[k];
      if (o == v) continue;
      if (k == "type") {
        std::set<std::string> a, b, both;
        auto add = [](std::set<std::string>& dst, const Json& t) {
          if (t.is_string())
            dst.insert(t.get<std::string>());
          else
            for (auto& x : t) dst.insert(x.get<std::string>());
        };
        add(a, o), add(b, v);
        for (auto& x : a) {
          if (b.count(x))
            both.insert(x);
          else if (x == "number" && b.count("integer"))
            both.insert("integer");
        }
        for (auto& x : b)
          if (x == "number" && a.count("integer")) both.insert("integer");
        o = Json::array();
        for (auto& x : both) o.push_back(x);
      } else if (k == "required") {
        for (auto& x : v)
          if (std::find(o.begin(), o.end(), x) == o.end()) o.push_back(x);
      } else if (k == "properties") {
        if (out.contains("additionalProperties") || part.contains("additionalProperties") ||
            out.contains("patternProperties") || part.contains("patternProperties"))
          fail("allOf", path,
               "properties combined with additionalProperties/patternProperties across subschemas");
        for (auto& [pk, pv] : v.items()) {
          if (o.contains(pk))
            o[pk] = Json{{"allOf", Json::array({o[pk], pv})}};
          else
            o[pk] = pv;
        }
      } else if (k == "minimum" || k == "minLength" || k == "minItems" || k == "minProperties" ||
                 k == "exclusiveMinimum") {
        if (v.is_number() && o.is_number())
          o = std::max(o.get<double>(), v.get<double>());
        else
          fail("allOf", path, k + " in two subschemas");
      } else if (k == "maximum" || k == "maxLength" || k == "maxItems" || k == "maxProperties" ||
                 k == "exclusiveMaximum") {
        if (v.is_number() && o.is_number())
          o = std::min(o.get<double>(), v.get<double>());
        else
          fail("allOf", path, k + " in two subschemas");
      } else if (k == "anyOf" || k == "oneOf") {
        // allOf of two anyOf: keep the first, merge the second into its branches
        Json branches = Json::array();
        for (auto& x : o)
          for (auto& y : v) branches.push_back(Json{{"allOf", Json::array({x, y})}});
        if (k == "oneOf") fail("allOf", path, "oneOf in two subschemas");
        o = branches;
      } else if (k == "items" && o.is_object() && v.is_object()) {
        o = Json{{"allOf", Json::array({o, v})}};
      } else if (k == "additionalProperties" && o.is_object() && v.is_object()) {
        fail("allOf", path, "additionalProperties in two subschemas");
      } else if (k == "enum") {
        Json both = Json::array();
        for (auto& x : o)
          if (std::find(v.begin(), v.end(), x) != v.end()) both.push_back(x);
        o = both;
      } else {
        fail("allOf", path, "keyword " + k + " in two subschemas with different values");
      }
    }
    if (part.contains("additionalProperties") || part.contains("patternProperties")) {
      // additionalProperties only sees its own subschema's properties: exact only when every other part's
      // properties are among them.
      for (auto& other : parts) {
        if (!other.is_object() || &other == &part || !other.contains("properties")) continue;
        for (auto& [pk, pv] : other["properties"].items())
          if (!part.contains("properties") || !part["properties"].contains(pk))
            fail("allOf", path, "additionalProperties in one subschema, properties in another");
      }
    }
  }
  return out;
}

int32_t SchemaCompiler::compile(const Json& s, const std::string& path, int depth) {
  if (depth > ir_.limits.max_depth)
    fail("$ref", path, "nested too deeply (limit " + std::to_string(ir_.limits.max_depth) + ")");
  if (s.is_boolean()) return s.get<bool>() ? p_.any_value() : ir_.nothing_rule();
  if (!s.is_object()) fail("schema", path, "a schema must be an object or a boolean");

  for (auto& [k, v] : s.items()) {
    if (kUnsupported.count(k)) fail(k, path + "/" + escape_pointer(k), "keyword not supported");
    (void)v;
  }
  if (s.contains("$ref") && s.size() == 1) {
    std::string ref = s["$ref"].is_string() ? s["$ref"].get<std::string>() : "";
    if (!s["$ref"].is_string()) fail("$ref", path, "must be a string");
    auto it = ref_rules_.find(ref);
    if (it != ref_rules_.end()) return it->second;
    const Json* t = resolve(ref, path);
    int32_t r = ir_.new_rule();
    ref_rules_[ref] = r;
    int32_t body = compile(*t, ref.size() > 1 ? ref.substr(1) : "", depth + 1);
    ir_.add_alt(r, {Ir::ref(body)});
    return r;
  }
  if (s.contains("allOf") || s.contains("$ref")) {
    bool only_annotations = true;
    if (s.contains("$ref") && !s.contains("allOf")) {
      for (auto& [k, v] : s.items())
        if (k != "$ref" && !kIgnored.count(k) && (kSupported.count(k) || kUnsupported.count(k)))
          only_annotations = false;
      if (only_annotations) return compile(Json{{"$ref", s["$ref"]}}, path, depth + 1);
    }
    return compile(merge_all_of(s, path, depth), path, depth + 1);
  }
  for (const char* k : {"anyOf", "oneOf"}) {
    if (!s.contains(k)) continue;
    const Json& branches = s[k];
    if (!branches.is_array() || branches.empty()) fail(k, path + "/" + k, "must be a non-empty array");
    Json rest = Json::object();
    bool siblings = false;
    for (auto& [kk, v] : s.items()) {
      if (kk == k) continue;
      rest[kk] = v;
      if (!kIgnored.count(kk) && kSupported.count(kk)) siblings = true;
    }
    if (std::string(k) == "oneOf") {
      for (size_t i = 0; i < branches.size(); i++)
        for (size_t j = i + 1; j < branches.size(); j++)
          if (!disjoint(
                  siblings ? merge_all_of(Json{{"allOf", Json::array({rest, branches[i]})}}, path, depth)
                           : branches[i],
                  siblings ? merge_all_of(Json{{"allOf", Json::array({rest, branches[j]})}}, path, depth)
                           : branches[j],
                  0))
            fail("oneOf", path + "/oneOf",
                 "branches " + std::to_string(i) + " and " + std::to_string(j) +
                     " may both match (only provably exclusive branches are supported)");
    }
    std::vector<int32_t> alts;
    for (size_t i = 0; i < branches.size(); i++) {
      std::string bp = path + "/" + k + "/" + std::to_string(i);
      if (siblings) {
        alts.push_back(compile(Json{{"allOf", Json::array({rest, branches[i]})}}, bp, depth + 1));
      } else {
        alts.push_back(compile(branches[i], bp, depth + 1));
      }
    }
    return ir_.alt_rule(alts);
  }

  unsigned types = types_of(s, path);
  if (s.contains("enum") || s.contains("const")) {
    for (auto& [k, v] : s.items())
      if (k != "enum" && k != "const" && k != "type" && kSupported.count(k))
        fail(k, path + "/" + escape_pointer(k), "not supported beside enum/const");
    Json values = s.contains("const") ? Json::array({s["const"]}) : s["enum"];
    if (!values.is_array()) fail("enum", path + "/enum", "must be an array");
    std::vector<int32_t> alts;
    for (auto& v : values) {
      if (s.contains("const") && s.contains("enum") &&
          std::find(s["enum"].begin(), s["enum"].end(), v) == s["enum"].end())
        continue;
      unsigned vt = value_type(v);
      if (vt & types) alts.push_back(p_.value_literal(v));
    }
    return ir_.alt_rule(alts);
  }
  std::vector<int32_t> alts;
  if (types & kNull) alts.push_back(p_.lit("null"));
  if (types & kBool) alts.push_back(ir_.alt_rule({p_.lit("true"), p_.lit("false")}));
  if (types & kObject) alts.push_back(compile_object(s, path, depth));
  if (types & kArray) alts.push_back(compile_array(s, path, depth));
  if (types & kString) alts.push_back(compile_string(s, path));
  if (types & kNumber) {
    alts.push_back(compile_number(s, path, false));
  } else if (types & kInteger) {
    alts.push_back(compile_number(s, path, true));
  }
  return ir_.alt_rule(alts);
}

int32_t compile_json_schema(Ir& ir, const Json& schema, const JsonOptions& opt) {
  SchemaCompiler c(ir, schema, opt);
  return c.compile(schema, "", 0);
}

int32_t compile_json_value(Ir& ir, const JsonOptions& opt) {
  JsonParts p(ir, opt);
  return p.any_value();
}

}  // namespace qwen3::constrain
