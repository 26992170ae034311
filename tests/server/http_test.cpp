// The HTTP layer's request parsing with the server's limits (server/http.h), fed the bytes a client would
// send: the head limit counted over the whole head (many short lines too), the body limit over decoded
// chunked bodies, pipelined requests, percent-decoded paths. The end-to-end behaviour over sockets
// (deadlines, connection limit, drain) is tests/server/hostile.test.js's.
#include "server/http.h"

#include <gtest/gtest.h>

#include <string>
#include <vector>

namespace qwen3::server {
namespace {

std::vector<HttpRequest> parse(const std::string& bytes, const HttpLimits& limits = {}) {
  std::vector<HttpRequest> out;
  http_parse_for_fuzzing(reinterpret_cast<const uint8_t*>(bytes.data()), bytes.size(), limits,
                         [&](const HttpRequest& r) { out.push_back(r); });
  return out;
}

TEST(HttpParse, RequestLineHeadersAndBody) {
  auto r = parse(
      "POST /v1/models/a%2Fb?x=1 HTTP/1.1\r\nHost: h\r\nX-Two: 1\r\nx-two: 2\r\nContent-Length: 5\r\n\r\nhello");
  ASSERT_EQ(r.size(), 1u);
  EXPECT_EQ(r[0].method, "POST");
  EXPECT_EQ(r[0].target, "/v1/models/a%2Fb?x=1");
  EXPECT_EQ(r[0].path, "/v1/models/a/b");
  EXPECT_EQ(r[0].header("host"), "h");
  EXPECT_EQ(r[0].header("x-two"), "1, 2");
  EXPECT_EQ(r[0].body, "hello");
}

TEST(HttpParse, PipelinedRequests) {
  auto r = parse("GET /a HTTP/1.1\r\nHost: h\r\n\r\nGET /b HTTP/1.1\r\nHost: h\r\n\r\n");
  ASSERT_EQ(r.size(), 2u);
  EXPECT_EQ(r[1].path, "/b");
}

TEST(HttpParse, HeadLimitHoldsForOneLongLineAndForManyShortOnes) {
  HttpLimits limits;
  limits.max_header_bytes = 4096;
  EXPECT_EQ(parse("GET / HTTP/1.1\r\nX: " + std::string(3000, 'a') + "\r\n\r\n", limits).size(), 1u);
  EXPECT_EQ(parse("GET / HTTP/1.1\r\nX: " + std::string(5000, 'a') + "\r\n\r\n", limits).size(), 0u);
  std::string many = "GET / HTTP/1.1\r\n";
  for (int i = 0; i < 1000; ++i) many += "X-A: b\r\n";
  EXPECT_EQ(parse(many + "\r\n", limits).size(), 0u);
}

TEST(HttpParse, ChunkedBodiesCountAgainstTheBodyLimit) {
  HttpLimits limits;
  limits.max_body_bytes = 1000;
  auto chunked = [](int n_chunks) {
    std::string s = "POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n";
    for (int i = 0; i < n_chunks; ++i) s += "64\r\n" + std::string(100, 'x') + "\r\n";
    return s + "0\r\n\r\n";
  };
  auto ok = parse(chunked(10), limits);
  ASSERT_EQ(ok.size(), 1u);
  EXPECT_EQ(ok[0].body.size(), 1000u);
  EXPECT_EQ(parse(chunked(11), limits).size(), 0u);
  EXPECT_EQ(parse("POST / HTTP/1.1\r\nContent-Length: 1001\r\n\r\n" + std::string(1001, 'x'), limits).size(), 0u);
}

TEST(HttpParse, MalformedFramingIsRefused) {
  for (const char* bad : {"GARBAGE\r\n\r\n", "GET / HTTP/9.9\r\n\r\n",
                          "POST / HTTP/1.1\r\nContent-Length: 5\r\nContent-Length: 7\r\n\r\n12345",
                          "POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n",
                          "POST / HTTP/1.1\r\nContent-Length: -1\r\n\r\n"})
    EXPECT_EQ(parse(bad).size(), 0u) << bad;
}

}  // namespace
}  // namespace qwen3::server
