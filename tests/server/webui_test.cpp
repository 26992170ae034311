// The chat page's embedding and the CORS policy (--cors-origin) without a model: which origins are accepted,
// which headers each answer carries. The page in a real browser is tests/web/; CORS and --no-webui over HTTP
// are tests/server/webui.test.js.
#include <gtest/gtest.h>

#include <string>

#include "core/error.h"
#include "server/webui.h"

namespace qwen3::server {
namespace {

std::string header(const HeaderList& h, const std::string& name) {
  for (const auto& [k, v] : h)
    if (k == name) return v;
  return "<absent>";
}

TEST(Webui, PageIsTheBuiltBundle) {
  std::string_view page = webui_page();
  ASSERT_GT(page.size(), 1000u);
  EXPECT_EQ(page.substr(0, 15), "<!doctype html>");
  EXPECT_NE(page.find("<div id=\"app\">"), std::string_view::npos);
  EXPECT_NE(page.find("<script type=\"module\">"), std::string_view::npos);
  // Self-contained: no script or stylesheet from anywhere, and a policy that only lets it talk to its server.
  EXPECT_EQ(page.find("<script src"), std::string_view::npos);
  EXPECT_EQ(page.find("<link rel=\"stylesheet\""), std::string_view::npos);
  EXPECT_NE(page.find("connect-src 'self'"), std::string_view::npos);
  EXPECT_EQ(page.back(), '\n');
  EXPECT_EQ(page.find('\0'), std::string_view::npos);
}

TEST(Webui, EtagIsStableAndQuoted) {
  const std::string& e = webui_etag();
  EXPECT_EQ(e, webui_etag());
  ASSERT_EQ(e.size(), 18u);
  EXPECT_EQ(e.front(), '"');
  EXPECT_EQ(e.back(), '"');
  EXPECT_EQ(header(webui_headers(), "ETag"), e);
  EXPECT_EQ(header(webui_headers(), "X-Frame-Options"), "DENY");
}

TEST(Webui, BrowsersAskForHtmlProbesDoNot) {
  EXPECT_TRUE(accepts_html("text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8"));
  EXPECT_TRUE(accepts_html("TEXT/HTML"));
  EXPECT_FALSE(accepts_html("*/*"));
  EXPECT_FALSE(accepts_html(""));
  EXPECT_FALSE(accepts_html("application/json"));
}

TEST(Cors, OffByDefault) {
  CorsPolicy p = make_cors_policy({});
  EXPECT_FALSE(p.enabled());
  EXPECT_TRUE(cors_headers(p, "http://a.example").empty());
  EXPECT_TRUE(cors_preflight_headers(p, "http://a.example", "authorization").empty());
}

TEST(Cors, AcceptsOriginsAndRejectsMalformedOnes) {
  for (const char* ok : {"*", "http://localhost:3000", "https://app.example", "https://APP.example:8443",
                         "http://[::1]:5173", "http://127.0.0.1", "chrome-extension://abcdef"})
    EXPECT_NO_THROW(make_cors_policy({ok})) << ok;
  for (const char* bad : {"", "localhost:3000", "https://app.example/", "https://app.example/path",
                          "https://", "https://a b", "http://host:", "http://host:123456", "http://[::1",
                          "://x", "http://host:80x", "*.example.com", "https://app.example\r\nX: y"})
    EXPECT_THROW(make_cors_policy({bad}), Error) << bad;
}

TEST(Cors, ListedOriginsAreEchoedWithVary) {
  CorsPolicy p = make_cors_policy({"http://localhost:3000", "https://App.Example"});
  EXPECT_TRUE(p.enabled());
  HeaderList h = cors_headers(p, "http://localhost:3000");
  EXPECT_EQ(header(h, "Access-Control-Allow-Origin"), "http://localhost:3000");
  EXPECT_EQ(header(h, "Vary"), "Origin");
  EXPECT_EQ(header(cors_headers(p, "https://app.example"), "Access-Control-Allow-Origin"),
            "https://app.example");
  EXPECT_TRUE(cors_headers(p, "http://localhost:3001").empty());
  EXPECT_TRUE(cors_headers(p, "http://evil.example").empty());
  EXPECT_TRUE(cors_headers(p, "").empty());  // same-origin and non-browser requests send no Origin
}

TEST(Cors, AnyOriginIsAStar) {
  CorsPolicy p = make_cors_policy({"*"});
  HeaderList h = cors_headers(p, "https://whatever.example");
  EXPECT_EQ(header(h, "Access-Control-Allow-Origin"), "*");
  EXPECT_EQ(header(h, "Vary"), "<absent>");
  EXPECT_TRUE(cors_headers(p, "").empty());
}

TEST(Cors, PreflightNamesMethodsAndEchoesPlainHeaderNames) {
  CorsPolicy p = make_cors_policy({"http://localhost:3000"});
  HeaderList h =
      cors_preflight_headers(p, "http://localhost:3000", "authorization, content-type, x-stainless-os");
  EXPECT_EQ(header(h, "Access-Control-Allow-Origin"), "http://localhost:3000");
  EXPECT_NE(header(h, "Access-Control-Allow-Methods").find("POST"), std::string::npos);
  EXPECT_EQ(header(h, "Access-Control-Allow-Headers"), "authorization, content-type, x-stainless-os");
  EXPECT_EQ(header(h, "Access-Control-Max-Age"), "600");
  // Not a list of header names: not echoed.
  EXPECT_EQ(
      header(cors_preflight_headers(p, "http://localhost:3000", "a;b=c"), "Access-Control-Allow-Headers"),
      "<absent>");
  EXPECT_TRUE(cors_preflight_headers(p, "http://other.example", "authorization").empty());
}

}  // namespace
}  // namespace qwen3::server
