#include "hub/http.h"

#include <curl/curl.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <memory>
#include <mutex>

namespace qwen3::hub {

namespace {

constexpr size_t kMaxBody = 1 << 20;

struct Transfer {
  HttpResponse* resp;
  FILE* out = nullptr;  // download target, or null to keep the body in memory
  uint64_t offset = 0;
  bool decided = false;  // whether the status of the final response was seen by write_cb
  bool to_file = false;
  bool write_failed = false;
  const std::function<void(size_t)>* on_bytes = nullptr;
  CURL* curl = nullptr;
  const std::atomic<bool>* abort = nullptr;
};

size_t header_cb(char* data, size_t size, size_t n, void* user) {
  auto* t = static_cast<Transfer*>(user);
  std::string line(data, size * n);
  while (!line.empty() && (line.back() == '\n' || line.back() == '\r')) line.pop_back();
  if (line.rfind("HTTP/", 0) == 0) {
    t->resp->headers.clear();  // a new response (after a redirect or a 100 Continue)
    return size * n;
  }
  size_t colon = line.find(':');
  if (colon == std::string::npos) return size * n;
  std::string name = line.substr(0, colon);
  std::transform(name.begin(), name.end(), name.begin(), [](unsigned char c) { return std::tolower(c); });
  size_t v = line.find_first_not_of(" \t", colon + 1);
  t->resp->headers[name] = v == std::string::npos ? "" : line.substr(v);
  return size * n;
}

size_t write_cb(char* data, size_t size, size_t n, void* user) {
  auto* t = static_cast<Transfer*>(user);
  size_t bytes = size * n;
  if (!t->decided) {
    t->decided = true;
    long status = 0;
    curl_easy_getinfo(t->curl, CURLINFO_RESPONSE_CODE, &status);
    t->to_file = t->out && status >= 200 && status < 300;
    if (t->to_file && t->offset > 0 && status == 200) {
      // The server ignored Range: start the file again.
      if (std::fflush(t->out) != 0 || ::ftruncate(::fileno(t->out), 0) != 0 ||
          std::fseek(t->out, 0, SEEK_SET) != 0) {
        t->write_failed = true;
        return 0;
      }
    }
  }
  if (!t->to_file) {
    if (t->resp->body.size() < kMaxBody) t->resp->body.append(data, std::min(bytes, kMaxBody));
    return bytes;
  }
  if (std::fwrite(data, 1, bytes, t->out) != bytes) {
    t->write_failed = true;
    return 0;
  }
  if (t->on_bytes && *t->on_bytes) (*t->on_bytes)(bytes);
  return bytes;
}

int progress_cb(void* user, curl_off_t, curl_off_t, curl_off_t, curl_off_t) {
  auto* t = static_cast<Transfer*>(user);
  return t->abort && t->abort->load() ? 1 : 0;
}

std::string host_of(const std::string& url) {
  size_t s = url.find("://");
  size_t start = s == std::string::npos ? 0 : s + 3;
  size_t end = url.find_first_of("/?#", start);
  return url.substr(start, end == std::string::npos ? std::string::npos : end - start);
}

HttpResponse perform(const HttpRequest& req, FILE* out, uint64_t offset,
                     const std::function<void(size_t)>* on_bytes) {
  http_global_init();
  HttpResponse resp;
  std::unique_ptr<CURL, void (*)(CURL*)> curl(curl_easy_init(), &curl_easy_cleanup);
  if (!curl) throw TransportError("libcurl: cannot start a transfer");
  Transfer t{&resp};
  t.out = out;
  t.offset = offset;
  t.on_bytes = on_bytes;
  t.curl = curl.get();
  t.abort = req.abort;
  CURL* c = curl.get();
  curl_easy_setopt(c, CURLOPT_URL, req.url.c_str());
  curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
  curl_easy_setopt(c, CURLOPT_USERAGENT, "qwen3.cpp/0.1.0; libcurl");
  curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT, 30L);
  // A stalled connection (under 1 byte/s for 60 s) counts as cut: the caller retries and resumes.
  curl_easy_setopt(c, CURLOPT_LOW_SPEED_LIMIT, 1L);
  curl_easy_setopt(c, CURLOPT_LOW_SPEED_TIME, 60L);
  curl_easy_setopt(c, CURLOPT_HEADERFUNCTION, header_cb);
  curl_easy_setopt(c, CURLOPT_HEADERDATA, &t);
  curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, write_cb);
  curl_easy_setopt(c, CURLOPT_WRITEDATA, &t);
  curl_easy_setopt(c, CURLOPT_XFERINFOFUNCTION, progress_cb);
  curl_easy_setopt(c, CURLOPT_XFERINFODATA, &t);
  curl_easy_setopt(c, CURLOPT_NOPROGRESS, 0L);
  curl_easy_setopt(c, CURLOPT_FOLLOWLOCATION, req.follow_redirects ? 1L : 0L);
  curl_easy_setopt(c, CURLOPT_MAXREDIRS, 10L);
  if (req.head) curl_easy_setopt(c, CURLOPT_NOBODY, 1L);
  // Range by hand, not CURLOPT_RESUME_FROM: a server that ignores it (200, whole body) is handled in
  // write_cb instead of failing the transfer.
  std::string range = std::to_string(offset) + "-";
  if (offset > 0) curl_easy_setopt(c, CURLOPT_RANGE, range.c_str());
  curl_slist* list = nullptr;
  // The sizes and digests of the Hub are those of the stored bytes: no compression on the way.
  list = curl_slist_append(list, "Accept-Encoding: identity");
  for (const std::string& h : req.headers) list = curl_slist_append(list, h.c_str());
  if (!req.bearer_token.empty()) {
    // curl drops a custom Authorization header when a redirect leaves the host (CURLOPT_UNRESTRICTED_AUTH
    // off), so a token never reaches a CDN.
    list = curl_slist_append(list, ("Authorization: Bearer " + req.bearer_token).c_str());
  }
  std::unique_ptr<curl_slist, void (*)(curl_slist*)> headers(list, &curl_slist_free_all);
  curl_easy_setopt(c, CURLOPT_HTTPHEADER, list);
  CURLcode rc = curl_easy_perform(c);
  curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &resp.status);
  char* eff = nullptr;
  curl_easy_getinfo(c, CURLINFO_EFFECTIVE_URL, &eff);
  resp.url = eff ? eff : req.url;
  if (t.write_failed) throw Error("cannot write the download to disk (disk full?)");
  if (rc == CURLE_ABORTED_BY_CALLBACK) throw TransportError("interrupted");
  if (rc != CURLE_OK) {
    throw TransportError(strfmt("%s: %s", host_of(req.url).c_str(), curl_easy_strerror(rc)));
  }
  return resp;
}

}  // namespace

void http_global_init() {
  static std::once_flag once;
  std::call_once(once, [] { curl_global_init(CURL_GLOBAL_DEFAULT); });
}

HttpResponse http_request(const HttpRequest& req) {
  return perform(req, nullptr, 0, nullptr);
}

HttpResponse http_download(const HttpRequest& req, FILE* out, uint64_t offset,
                           const std::function<void(size_t)>& on_bytes) {
  return perform(req, out, offset, &on_bytes);
}

}  // namespace qwen3::hub
