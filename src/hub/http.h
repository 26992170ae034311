// HTTP for the Hub client, over libcurl (the only file of the project that includes it: http.cpp). Two calls:
// a small request whose body is kept in memory (the API, HEAD of a file), and a download that streams a body
// into a file, resuming at a byte offset with Range. Transport failures (refused, reset, timed out, cut
// short) throw TransportError so that the caller may retry; HTTP statuses are returned, never thrown.
#pragma once

#include <atomic>
#include <cstdint>
#include <cstdio>
#include <functional>
#include <map>
#include <string>
#include <vector>

#include "core/error.h"

namespace qwen3::hub {

struct TransportError : Error {
  using Error::Error;
};

struct HttpResponse {
  long status = 0;
  std::map<std::string, std::string> headers;  // of the last response; names in lower case
  std::string body;                            // up to 1 MiB (an API answer or an error page)
  std::string url;                             // the URL that answered (after redirects, when followed)

  std::string header(const std::string& lower_name) const {
    auto it = headers.find(lower_name);
    return it == headers.end() ? std::string() : it->second;
  }
};

struct HttpRequest {
  std::string url;
  bool head = false;                         // HEAD instead of GET
  bool follow_redirects = false;             // follow 3xx (the download of a file, to its CDN)
  std::vector<std::string> headers;          // "Name: value"
  std::string bearer_token;                  // Authorization: Bearer ..., sent only to the host of `url`
  const std::atomic<bool>* abort = nullptr;  // set (Ctrl-C): the transfer stops and throws TransportError
};

// Call once before any thread makes a request (curl_global_init is not thread-safe).
void http_global_init();

HttpResponse http_request(const HttpRequest& req);

// GETs req.url into `out` (a file opened for writing at its end), asking for bytes from `offset` on when it
// is not 0. A 206 answer appends; a 200 answer to a Range request (the server ignored it) truncates the
// file first. on_bytes(n) is called after each piece written; its sum is what the file grew by. A non-2xx
// status writes nothing to the file and returns with the body of the error. Returns the response (body
// empty unless an error).
HttpResponse http_download(const HttpRequest& req, FILE* out, uint64_t offset,
                           const std::function<void(size_t)>& on_bytes);

}  // namespace qwen3::hub
