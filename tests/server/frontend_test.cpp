// The API frontends' pieces that need no model: the Responses store's documented bounds (count, bytes, oldest
// first, items dropped with their response), the error shape of each API, the 501 routes and the enum checks.
// The frontends end to end are tests/clients/*.test.js's.
#include <gtest/gtest.h>

#include <string>

#include "server/frontend.h"
#include "server/responses_api.h"

namespace qwen3::server {
namespace {

ResponseStore::Stored stored(const std::string& item_id, size_t pad = 0) {
  ResponseStore::Stored s;
  s.response = {{"output", ojson::array({{{"id", item_id}, {"type", "message"}}})},
                {"pad", std::string(pad, 'x')}};
  s.conversation = ojson::array({{{"role", "user"}, {"content", "hi"}}});
  return s;
}

TEST(ResponseStore, KeepsAtMostTheNewestResponses) {
  ResponseStore store;
  for (size_t i = 0; i <= ResponseStore::kMaxResponses; ++i)
    store.put("resp_" + std::to_string(i), stored("msg_" + std::to_string(i)));
  EXPECT_FALSE(store.get("resp_0"));  // the oldest went first
  EXPECT_FALSE(store.item("msg_0"));  // with its items
  EXPECT_TRUE(store.get("resp_1"));
  EXPECT_TRUE(store.get("resp_" + std::to_string(ResponseStore::kMaxResponses)));
  ASSERT_TRUE(store.item("msg_5"));
  EXPECT_EQ((*store.item("msg_5"))["type"], "message");
  EXPECT_EQ(store.get("resp_7")->conversation[0]["content"], "hi");
  EXPECT_TRUE(store.erase("resp_7"));
  EXPECT_FALSE(store.erase("resp_7"));
  EXPECT_FALSE(store.item("msg_7"));
}

TEST(ResponseStore, KeepsAtMostItsBytes) {
  ResponseStore store;
  size_t pad = ResponseStore::kMaxBytes / 4;
  for (int i = 0; i < 5; ++i) store.put("r" + std::to_string(i), stored("i" + std::to_string(i), pad));
  EXPECT_FALSE(store.get("r0"));
  EXPECT_FALSE(store.get("r1"));
  EXPECT_TRUE(store.get("r2") && store.get("r3") && store.get("r4"));
  store.put("huge", stored("h", ResponseStore::kMaxBytes + 1));  // larger than the whole store: not kept
  EXPECT_FALSE(store.get("huge"));
  EXPECT_TRUE(store.get("r4"));
}

TEST(Frontend, ErrorShapes) {
  ApiError e{401, "Incorrect API key provided.", "invalid_request_error", "", "invalid_api_key"};
  EXPECT_EQ(error_shape_for("/api/chat"), ErrorShape::kOllama);
  EXPECT_EQ(error_shape_for("/v1/messages"), ErrorShape::kAnthropic);
  EXPECT_EQ(error_shape_for("/v1/messages/count_tokens"), ErrorShape::kAnthropic);
  EXPECT_EQ(error_shape_for("/v1/responses"), ErrorShape::kOpenAI);
  EXPECT_EQ(error_body(e, ErrorShape::kOllama), R"({"error":"Incorrect API key provided."})");
  EXPECT_EQ(
      error_body(e, ErrorShape::kAnthropic),
      R"({"type":"error","error":{"type":"authentication_error","message":"Incorrect API key provided."}})");
  EXPECT_EQ(error_body(e, ErrorShape::kOpenAI), error_body(e));
  e.status = 503;
  EXPECT_NE(error_body(e, ErrorShape::kAnthropic).find("overloaded_error"), std::string::npos);
}

TEST(Frontend, UnsupportedRoutesAre501WithTheReason) {
  auto e = unsupported_route("/v1/embeddings");
  ASSERT_TRUE(e);
  EXPECT_EQ(e->status, 501);
  EXPECT_NE(e->message.find("not an embedding model"), std::string::npos);
  for (const char* p : {"/v1/audio/speech", "/v1/images/generations", "/v1/files", "/v1/files/abc",
                        "/v1/batches", "/api/pull", "/api/embed", "/v1/chat/completions/chatcmpl-1"})
    EXPECT_TRUE(unsupported_route(p)) << p;
  for (const char* p : {"/v1/nothing", "/v1/filesystem", "/api/chatty", "/", "/v1/chat/completions"})
    EXPECT_FALSE(unsupported_route(p)) << p;
}

TEST(Frontend, UnknownEnumValuesAre400) {
  EXPECT_NO_THROW(
      check_enum_fields(ojson::parse(R"({"response_format": {"type": "json_schema"}, "reasoning_effort":
      "low", "modalities": ["text"], "service_tier": "auto", "verbosity": null})")));
  for (const char* body :
       {R"({"response_format": {"type": "xml"}})", R"({"response_format": "json"})",
        R"({"reasoning_effort": "max"})", R"({"reasoning_effort": 3})", R"({"service_tier": "gold"})",
        R"({"verbosity": "loud"})", R"({"prediction": {"type": "guess"}})", R"({"modalities": ["audio"]})",
        R"({"modalities": "text"})"}) {
    try {
      check_enum_fields(ojson::parse(body));
      ADD_FAILURE() << body;
    } catch (const ApiError& e) {
      EXPECT_EQ(e.status, 400) << body;
      EXPECT_FALSE(e.param.empty()) << body;
    }
  }
}

}  // namespace
}  // namespace qwen3::server
