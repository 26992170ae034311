#include "server/webui.h"

#include <algorithm>
#include <cctype>
#include <cstdint>

#include "core/error.h"

namespace qwen3::server {

namespace {

std::string lower(std::string s) {
  std::transform(s.begin(), s.end(), s.begin(), [](unsigned char c) { return std::tolower(c); });
  return s;
}

// scheme://host[:port]: a scheme of letters, digits, + - . ; a host of letters, digits, - . or a bracketed
// IPv6 address; an optional port of 1..5 digits; nothing after (browsers send no path or trailing slash).
bool valid_origin(const std::string& o) {
  size_t sep = o.find("://");
  if (sep == std::string::npos || sep == 0 || !std::isalpha(static_cast<unsigned char>(o[0]))) return false;
  for (size_t i = 0; i < sep; ++i)
    if (!std::isalnum(static_cast<unsigned char>(o[i])) && o[i] != '+' && o[i] != '-' && o[i] != '.')
      return false;
  std::string rest = o.substr(sep + 3);
  std::string host = rest, port;
  if (!rest.empty() && rest[0] == '[') {
    size_t close = rest.find(']');
    if (close == std::string::npos || close == 1) return false;
    for (size_t i = 1; i < close; ++i)
      if (!std::isxdigit(static_cast<unsigned char>(rest[i])) && rest[i] != ':' && rest[i] != '.')
        return false;
    host = rest.substr(0, close + 1);
    if (close + 1 < rest.size()) {
      if (rest[close + 1] != ':') return false;
      port = rest.substr(close + 2);
      if (port.empty()) return false;
    }
  } else {
    size_t colon = rest.rfind(':');
    if (colon != std::string::npos) {
      host = rest.substr(0, colon);
      port = rest.substr(colon + 1);
      if (port.empty()) return false;
    }
    if (host.empty()) return false;
    for (char c : host)
      if (!std::isalnum(static_cast<unsigned char>(c)) && c != '-' && c != '.') return false;
  }
  if (port.size() > 5) return false;
  for (char c : port)
    if (!std::isdigit(static_cast<unsigned char>(c))) return false;
  return true;
}

}  // namespace

const std::string& webui_etag() {
  // FNV-1a 64 over the page: stable for one build of the page, different for another.
  static const std::string etag = [] {
    uint64_t h = 14695981039346656037ull;
    for (unsigned char c : webui_page()) h = (h ^ c) * 1099511628211ull;
    return strfmt("\"%016llx\"", static_cast<unsigned long long>(h));
  }();
  return etag;
}

bool accepts_html(const std::string& accept) {
  return lower(accept).find("text/html") != std::string::npos;
}

HeaderList webui_headers() {
  return {{"ETag", webui_etag()},
          {"Cache-Control", "no-cache"},
          {"X-Content-Type-Options", "nosniff"},
          {"X-Frame-Options", "DENY"},
          {"Referrer-Policy", "no-referrer"}};
}

bool CorsPolicy::allows(const std::string& origin) const {
  if (origin.empty()) return false;
  return any || std::find(origins.begin(), origins.end(), lower(origin)) != origins.end();
}

CorsPolicy make_cors_policy(const std::vector<std::string>& values) {
  CorsPolicy p;
  for (const std::string& v : values) {
    if (v == "*") {
      p.any = true;
      continue;
    }
    QWEN3_CHECK(valid_origin(v),
                "--cors-origin %s: expected * or an origin like https://app.example:8443 (no path)",
                v.c_str());
    p.origins.push_back(lower(v));
  }
  return p;
}

HeaderList cors_headers(const CorsPolicy& p, const std::string& origin) {
  if (!p.allows(origin)) return {};
  // With a list, the answer depends on the Origin header: caches must keep one copy per origin.
  if (p.any) return {{"Access-Control-Allow-Origin", "*"}, {"Access-Control-Expose-Headers", "Retry-After"}};
  return {{"Access-Control-Allow-Origin", origin},
          {"Vary", "Origin"},
          {"Access-Control-Expose-Headers", "Retry-After"}};
}

HeaderList cors_preflight_headers(const CorsPolicy& p, const std::string& origin,
                                  const std::string& request_headers) {
  if (!p.allows(origin)) return {};
  HeaderList h = cors_headers(p, origin);
  h.emplace_back("Access-Control-Allow-Methods", "GET, POST, DELETE, OPTIONS");
  // Echo the requested headers (authorization, content-type, x-api-key, the SDKs' own x-stainless-*...) when
  // they are a plain list of header names; anything else is left out and the browser refuses the request.
  bool plain = !request_headers.empty() && request_headers.size() <= 1024 &&
               std::all_of(request_headers.begin(), request_headers.end(), [](unsigned char c) {
                 return std::isalnum(c) || c == '-' || c == '_' || c == ',' || c == ' ';
               });
  if (plain) h.emplace_back("Access-Control-Allow-Headers", request_headers);
  h.emplace_back("Access-Control-Max-Age", "600");
  return h;
}

}  // namespace qwen3::server
