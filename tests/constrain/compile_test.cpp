// Compile errors name the keyword and the JSON pointer; bad schemas, grammars and regexes are errors, never
// crashes; limits hold.
#include <gtest/gtest.h>

#include "constrain/constrain.h"

namespace qwen3::constrain {
namespace {

std::shared_ptr<const Vocabulary> bytes_vocab() {
  std::vector<std::string> b(257);
  for (int i = 0; i < 256; i++) b[size_t(i)] = std::string(1, char(i));
  std::vector<int32_t> eos = {256};
  return make_vocabulary(b, {256}, eos);
}

void expect_error(const char* schema, const char* keyword, const char* path) {
  Builder b(bytes_vocab());
  try {
    b.json_schema(nlohmann::ordered_json::parse(schema));
    ADD_FAILURE() << "compiled: " << schema;
  } catch (const CompileError& e) {
    EXPECT_EQ(e.keyword, keyword) << schema << ": " << e.what();
    EXPECT_EQ(e.path, path) << schema << ": " << e.what();
  }
}

TEST(ConstrainCompile, UnsupportedKeywordsAreNamed) {
  expect_error(R"({"not": {"type": "string"}})", "not", "/not");
  expect_error(R"({"properties": {"a": {"format": "hostname"}}})", "format", "/properties/a/format");
  expect_error(R"({"properties": {"a/b": {"if": {}}}})", "if", "/properties/a~1b/if");
  expect_error(R"({"oneOf": [{"type": "string"}, {"type": "string", "minLength": 2}]})", "oneOf", "/oneOf");
  expect_error(R"({"type": "number", "minimum": 0.5})", "minimum", "/minimum");
  expect_error(R"({"type": "array", "uniqueItems": true})", "uniqueItems", "/uniqueItems");
  expect_error(R"({"type": "string", "pattern": "(?=a)b"})", "pattern", "/pattern");
  expect_error(R"({"type": "string", "pattern": "(a)\\1"})", "pattern", "/pattern");
  expect_error(R"({"$ref": "http://example.com/s.json"})", "$ref", "");
  expect_error(R"({"$ref": "#/$defs/missing"})", "$ref", "");
  expect_error(R"({"type": "strin"})", "type", "/type");
  expect_error(R"({"type": "object", "dependentRequired": {"a": ["b"]}})", "dependentRequired",
               "/dependentRequired");
}

TEST(ConstrainCompile, OneOfWithExclusiveBranchesCompiles) {
  Builder b(bytes_vocab());
  EXPECT_NO_THROW(b.json_schema(nlohmann::ordered_json::parse(
      R"({"oneOf": [{"type": "string"}, {"type": "integer"}, {"type": "object", "properties": {"k": {"const": 1}}, "required": ["k"]}, {"type": "object", "properties": {"k": {"const": 2}}, "required": ["k"]}]})")));
}

// A discriminated union whose branches narrow a property the parent declares (each branch merged with its
// siblings gives the property an allOf): exclusive by the merged enums; overlapping ones stay an error.
TEST(ConstrainCompile, OneOfDiscriminatedByMergedEnumsCompiles) {
  auto v = bytes_vocab();
  Builder b(v);
  auto g = b.build(b.json_schema(nlohmann::ordered_json::parse(
      R"({"type": "object", "properties": {"shape": {"type": "string", "enum": ["circle", "square"]}, "r": {"type": "integer"}, "side": {"type": "integer"}}, "oneOf": [{"properties": {"shape": {"enum": ["circle"]}}, "required": ["shape", "r"]}, {"properties": {"shape": {"enum": ["square"]}}, "required": ["shape", "side"]}]})")));
  Matcher circle(g);
  EXPECT_TRUE(circle.advance_bytes(R"({"shape": "circle", "r": 2})"));
  EXPECT_TRUE(circle.can_end());
  Matcher wrong(g);  // the circle branch: the shape must be "circle"
  EXPECT_FALSE(wrong.advance_bytes(R"({"shape": "square", "r": 2})") && wrong.can_end());
  expect_error(
      R"({"type": "object", "properties": {"shape": {"enum": ["circle", "square"]}}, "oneOf": [{"properties": {"shape": {"enum": ["circle", "square"]}}, "required": ["shape"]}, {"properties": {"shape": {"enum": ["circle"]}}, "required": ["shape"]}]})",
      "oneOf", "/oneOf");
}

TEST(ConstrainCompile, RecursiveRefsCompileAndMatch) {
  auto v = bytes_vocab();
  Builder b(v);
  auto g = b.build(b.json_schema(nlohmann::ordered_json::parse(
      R"({"$defs": {"node": {"type": "object", "properties": {"v": {"type": "integer"}, "kids": {"type": "array", "items": {"$ref": "#/$defs/node"}}}, "required": ["v"], "additionalProperties": false}}, "$ref": "#/$defs/node"})")));
  Matcher m(g);
  EXPECT_TRUE(m.advance_bytes(R"({"v": 1, "kids": [{"v": 2}, {"v": 3, "kids": []}]})"));
  EXPECT_TRUE(m.can_end());
  Matcher bad(g);
  EXPECT_FALSE(bad.advance_bytes(R"({"v": 1, "kids": [{"w": 2}]})"));
}

TEST(ConstrainCompile, BadGrammarsAndRegexesAreErrors) {
  auto v = bytes_vocab();
  for (const char* g :
       {"root ::= \"a", "root ::= [a-", "root ::= x", "a ::= \"a\"", "root ::= (\"a\"", "root ::= root \"a\"",
        "root ::= \"a\"{3,1}", "root ::= !<[5]>", "root ::= <[999]>", "root ::= \"a\" | \n root ::= \"b\""}) {
    Builder b(v);
    EXPECT_THROW(b.build(b.gbnf(g)), CompileError) << g;
  }
  for (const char* r : {"(", ")", "[a", "a{2,1}", "*a", "a**b(", "\\", "(?<=a)", "\\p{L}", "a\\b"}) {
    Builder b(v);
    EXPECT_THROW(b.build(b.regex(r)), CompileError) << r;
  }
}

TEST(ConstrainCompile, LimitsHold) {
  auto v = bytes_vocab();
  Limits lim;
  lim.max_rules = 1000;
  Builder b(v, lim);
  EXPECT_THROW(b.regex("(ab{0,3000}){2}"), CompileError);  // 3000 optional rules
  std::string deep = "{\"type\":\"array\",\"items\":";
  std::string s;
  for (int i = 0; i < 100; i++) s += deep;
  s += "{}";
  for (int i = 0; i < 100; i++) s += "}";
  Builder b2(v);
  EXPECT_THROW(b2.json_schema(nlohmann::ordered_json::parse(s)), CompileError);
}

TEST(ConstrainCompile, GbnfTokenReferencesAndComments) {
  auto v = bytes_vocab();
  Builder b(v);
  auto g =
      b.build(b.gbnf("# a comment\nroot ::= \"x\" <[256]> item*  # trailing\nitem ::= [0-9] | \"\\n\"\n"));
  Matcher m(g);
  EXPECT_TRUE(m.advance('x'));
  EXPECT_FALSE(m.can_end());
  EXPECT_TRUE(m.advance(256));  // the special token (also the EOS id here, taken as the grammar's token)
  EXPECT_TRUE(m.advance_bytes("12\n3"));
  EXPECT_TRUE(m.can_end());
}

}  // namespace
}  // namespace qwen3::constrain
