// libFuzzer harness: raw bytes through the server's HTTP request parser (Boost.Beast with the server's limits,
// server/http.h), one or more pipelined requests. Every parsed request must respect the limits; nothing may
// crash, leak or trip a sanitizer.
#include <cstddef>
#include <cstdint>
#include <cstdlib>

#include "server/http.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  qwen3::server::HttpLimits limits;
  limits.max_header_bytes = 2048;  // small, so the fuzzer reaches the limits
  limits.max_body_bytes = 4096;
  qwen3::server::http_parse_for_fuzzing(data, size, limits, [&](const qwen3::server::HttpRequest& r) {
    if (r.body.size() > limits.max_body_bytes) std::abort();
    if (r.method.empty() || r.target.empty()) std::abort();  // (a decoded path may hold '?': %3F)
  });
  return 0;
}
