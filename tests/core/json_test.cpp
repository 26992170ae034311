// core/json.h against nlohmann's own parser (the independent reference for what the values must be), plus the
// two properties nlohmann's parse lacks: a depth bound checked before values are built, and linear-time
// objects.
#include "core/json.h"

#include <gtest/gtest.h>

#include <chrono>
#include <string>

#include "core/error.h"

namespace qwen3 {
namespace {

using ojson = nlohmann::ordered_json;

TEST(Json, SameValuesAsNlohmann) {
  const char* texts[] = {
      "null", "true", "-0", "1e300", "18446744073709551615", "-9223372036854775808", "\"\\u00e9\\ud83d\\ude00\"",
      "[]", "{}", "[1,[2,[3,{}]],{\"a\":[null]}]",
      R"({"z":1,"a":{"y":[1,2,{"x":"s"}],"b":false},"m":[[],[{}]],"k1":1,"k2":2,"k3":3,"k4":4,"k5":5,"k6":6,"k7":7,"k8":8})",
      " \t\n{ \"a\" : [ 1 , 2 ] }\r\n"};
  for (const char* t : texts) {
    ojson ours = parse_json(t);
    ojson ref = ojson::parse(t);
    EXPECT_EQ(ours, ref) << t;
    EXPECT_EQ(ours.dump(), ref.dump()) << t;  // member order too
  }
}

TEST(Json, DuplicateKeysKeepFirstPlaceAndLastValue) {
  // Below and above the size where objects get a hash index.
  for (int n : {3, 20}) {
    std::string t = "{";
    for (int i = 0; i < n; ++i) t += "\"k" + std::to_string(i) + "\":" + std::to_string(i) + ",";
    t += "\"k1\":[99],\"k0\":{\"x\":1}}";
    ojson ours = parse_json(t);
    ojson ref = ojson::parse(t);
    EXPECT_EQ(ours.dump(), ref.dump()) << n;
    EXPECT_EQ(ours.size(), static_cast<size_t>(n));
    EXPECT_EQ(ours.begin().key(), "k0");
    EXPECT_EQ(ours["k1"], ojson::array({99}));
  }
}

TEST(Json, InvalidTextIsAnErrorNotACrash) {
  for (const char* t : {"", "{", "[1,]", "{\"a\" 1}", "nul", "[1] x", "\"\\ud800\"", "1e400", "{\"a\":1,}", "\"\x01\""}) {
    ojson out = 5;
    std::string error;
    EXPECT_FALSE(try_parse_json(t, out, &error)) << t;
    EXPECT_TRUE(out.is_null()) << t;
    EXPECT_FALSE(error.empty()) << t;
    EXPECT_THROW(parse_json(t), Error) << t;
  }
}

TEST(Json, DepthIsBoundedBeforeValuesAreBuilt) {
  // 100,000 levels: nlohmann's own parse overflows the stack copying this (the reported crash); here the
  // parse stops at the limit with an error.
  std::string deep = "{\"a\":" + std::string(100000, '[') + std::string(100000, ']') + ",\"b\":1}";
  std::string error;
  ojson out;
  EXPECT_FALSE(try_parse_json(deep, out, &error));
  EXPECT_NE(error.find("deeper than 128"), std::string::npos) << error;
  // Exactly at the limit is fine; one more is not.
  auto nest = [](int n) { return std::string(n, '[') + std::string(n, ']'); };
  EXPECT_NO_THROW(parse_json(nest(10), JsonLimits{10}));
  EXPECT_THROW(parse_json(nest(11), JsonLimits{10}), Error);
  EXPECT_NO_THROW(parse_json("{\"a\":{\"b\":[1]}}", JsonLimits{3}));
  EXPECT_THROW(parse_json("{\"a\":{\"b\":[[1]]}}", JsonLimits{3}), Error);
}

TEST(Json, ManyKeysParseInLinearTime) {
  // 200,000 keys: quadratic insertion (ordered_json's) takes minutes; linear takes well under a second. The
  // bound is generous (a loaded CI machine) but far below the quadratic cost.
  std::string t = "{";
  for (int i = 0; i < 200000; ++i) t += "\"key" + std::to_string(i) + "\":" + std::to_string(i) + ",";
  t += "\"key7\":-1}";
  auto t0 = std::chrono::steady_clock::now();
  ojson j = parse_json(t);
  double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  ASSERT_EQ(j.size(), 200000u);
  EXPECT_EQ(j["key7"], -1);
  EXPECT_EQ(j["key199999"], 199999);
  EXPECT_LT(s, 5.0);
}

}  // namespace
}  // namespace qwen3
