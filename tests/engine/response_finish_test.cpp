// How the server reports the way a sequence ended (src/server/api.cpp's ResponseBuilder): finish_reason
// "abort" for a sequence the server ended (shutdown, a failed forward pass) or the client left, an OpenAI
// error object for a sequence that failed alone (an SSE event before [DONE], or the whole non-streamed body),
// and the chunks of a finished choice held back until every choice of the request is done.
#include <gtest/gtest.h>

#include "server/api.h"
#include "tiny_model.h"

namespace qwen3::server {
namespace {

const ServedModel& served() {
  static ServedModel s = [] {
    ServedModel m;
    m.model = test::tiny_model().model.get();
    m.tokenizer = &test::tiny_model().tok;
    m.id = "tiny";
    m.n_ctx = 256;
    m.n_parallel = 2;
    return m;
  }();
  return s;
}

ApiRequest request(bool chat, bool stream, int n = 1) {
  ApiRequest r;
  r.chat = chat;
  r.stream = stream;
  r.n = n;
  r.prompt = {151644, 872, 198};
  return r;
}

SequenceOutcome ended(FinishReason why, std::string error = "") {
  SequenceOutcome o;
  o.generation.finish = why;
  o.generation.tokens = {9707};
  o.generation.text = "Hello";
  o.error = std::move(error);
  return o;
}

// The JSON payloads of an SSE stream ("data: {...}\n\n" events), "[DONE]" kept as a string.
std::vector<ojson> events(const std::string& sse) {
  std::vector<ojson> out;
  size_t at = 0;
  while (at < sse.size()) {
    size_t end = sse.find("\n\n", at);
    EXPECT_NE(end, std::string::npos) << sse;
    if (end == std::string::npos) break;
    std::string ev = sse.substr(at, end - at);
    EXPECT_EQ(ev.rfind("data: ", 0), 0u) << ev;
    std::string data = ev.substr(6);
    out.push_back(data == "[DONE]" ? ojson("[DONE]") : ojson::parse(data));
    at = end + 2;
  }
  return out;
}

std::string body_of(bool chat, SequenceOutcome o) {
  ApiRequest r = request(chat, false);
  ResponseBuilder b(r, served(), "cmpl-1", 0);
  b.on_token(0, 9707, "Hello", nullptr);
  return b.on_done(0, o);
}

TEST(ResponseFinish, ServerEndedSequencesReportAbortNeverStop) {
  for (bool chat : {false, true}) {
    for (FinishReason why : {FinishReason::kAborted, FinishReason::kCancelled}) {
      ojson j = ojson::parse(body_of(chat, ended(why, "the server is shutting down")));
      EXPECT_EQ(j["choices"][0]["finish_reason"], "abort") << j.dump();
    }
    EXPECT_EQ(ojson::parse(body_of(chat, ended(FinishReason::kStop)))["choices"][0]["finish_reason"], "stop");
    EXPECT_EQ(ojson::parse(body_of(chat, ended(FinishReason::kLength)))["choices"][0]["finish_reason"],
              "length");

    ApiRequest r = request(chat, true);
    ResponseBuilder b(r, served(), "chatcmpl-1", 0);
    b.start();
    b.on_token(0, 9707, "Hello", nullptr);
    SequenceOutcome o = ended(FinishReason::kAborted);
    std::vector<ojson> ev = events(b.on_done(0, o));
    ASSERT_GE(ev.size(), 2u);
    EXPECT_EQ(ev.back(), "[DONE]");
    EXPECT_EQ(ev[ev.size() - 2]["choices"][0]["finish_reason"], "abort");
  }
}

TEST(ResponseFinish, AFailedSequenceIsAnErrorObject) {
  for (bool chat : {false, true}) {
    ojson j = ojson::parse(body_of(chat, ended(FinishReason::kError, "sampling failed")));
    ASSERT_TRUE(j.contains("error")) << j.dump();
    EXPECT_FALSE(j.contains("choices"));
    EXPECT_EQ(j["error"]["message"], "sampling failed");
    EXPECT_EQ(j["error"]["type"], "server_error");
    EXPECT_TRUE(j["error"]["param"].is_null());
    EXPECT_EQ(j["error"]["code"], "generation_failed");

    ApiRequest r = request(chat, true);
    ResponseBuilder b(r, served(), "chatcmpl-1", 0);
    b.start();
    b.on_token(0, 9707, "Hello", nullptr);
    SequenceOutcome o = ended(FinishReason::kError, "sampling failed");
    std::vector<ojson> ev = events(b.on_done(0, o));
    ASSERT_EQ(ev.size(), 2u);
    EXPECT_EQ(ev[0]["error"]["message"], "sampling failed");
    EXPECT_EQ(ev[0]["error"]["type"], "server_error");
    EXPECT_EQ(ev[1], "[DONE]");
  }
}

// A non-empty on_done return ends the response (the server closes the stream): with n choices, a finished
// choice's chunks wait for the others, then come out together with [DONE].
TEST(ResponseFinish, FinishedChoicesWaitForTheOthers) {
  for (bool chat : {false, true}) {
    ApiRequest r = request(chat, true, 2);
    ResponseBuilder b(r, served(), "chatcmpl-1", 0);
    b.start();
    b.on_token(0, 9707, "Hello", nullptr);
    SequenceOutcome first = ended(FinishReason::kError, "boom");
    EXPECT_EQ(b.on_done(0, first), "");
    b.on_token(1, 9707, "Hello", nullptr);  // choice 1 still streams
    SequenceOutcome second = ended(FinishReason::kLength);
    std::vector<ojson> ev = events(b.on_done(1, second));
    ASSERT_GE(ev.size(), 3u);
    EXPECT_EQ(ev.front()["error"]["message"], "choice 0: boom");
    EXPECT_EQ(ev[ev.size() - 2]["choices"][0]["index"], 1);
    EXPECT_EQ(ev[ev.size() - 2]["choices"][0]["finish_reason"], "length");
    EXPECT_EQ(ev.back(), "[DONE]");
  }
}

}  // namespace
}  // namespace qwen3::server
