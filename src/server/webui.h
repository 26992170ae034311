// The chat page at GET / (web/: Preact + TypeScript, built into one self-contained HTML file that CMake
// embeds at compile time, web/embed.cmake) and cross-origin access to the API (--cors-origin). Neither needs
// the model: what they decide is tested in tests/server/webui_test.cpp, the page itself in tests/web/.
#pragma once

#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace qwen3::server {

using HeaderList = std::vector<std::pair<std::string, std::string>>;

// The page's bytes (web/dist/index.html as built; generated source).
std::string_view webui_page();
// A strong validator of the page (a hash of its bytes, quoted), for ETag / If-None-Match.
const std::string& webui_etag();
// Whether a GET / is a browser asking for a page (Accept names text/html) rather than a client probing the
// root as Ollama's integrations do (they get "Ollama is running").
bool accepts_html(const std::string& accept);
// Headers the page is served with (caching by ETag, no framing by other sites, no sniffing, no referrer).
HeaderList webui_headers();

// --cors-origin values: "*" or origins like https://app.example:8443 (scheme://host[:port], no path).
// Empty: no cross-origin access (the default), browsers keep other origins out.
struct CorsPolicy {
  bool any = false;
  std::vector<std::string> origins;  // lower-cased
  bool enabled() const { return any || !origins.empty(); }
  bool allows(const std::string& origin) const;
};
// Checks each value; throws qwen3::Error naming a malformed one.
CorsPolicy make_cors_policy(const std::vector<std::string>& values);
// The headers for any answer to a request from `origin` (the Origin header): none when CORS is off, the
// request has no Origin or its origin is not allowed.
HeaderList cors_headers(const CorsPolicy& p, const std::string& origin);
// The answer's headers to a preflight (OPTIONS with Access-Control-Request-Method) from an allowed origin:
// the methods, the requested headers (those that are plain header names) and a max age.
HeaderList cors_preflight_headers(const CorsPolicy& p, const std::string& origin,
                                  const std::string& request_headers);

}  // namespace qwen3::server
