// Request counters of the HTTP layer and the Prometheus text of /metrics (with the scheduler's statistics).
#pragma once

#include <atomic>
#include <cstdint>
#include <string>

#include "engine/scheduler.h"
#include "server/http.h"

namespace qwen3::server {

struct HttpCounters {
  std::atomic<uint64_t> requests{0};        // every request received
  std::atomic<uint64_t> completions_ok{0};  // chat + text completions answered 200
  std::atomic<uint64_t> client_errors{0};   // 4xx
  std::atomic<uint64_t> rejected_busy{0};   // 429/503
  std::atomic<uint64_t> disconnects{0};     // clients gone before their answer was complete
  std::atomic<int> in_flight{0};            // completion requests being answered
};

std::string prometheus_text(const HttpCounters& http, const ConnectionCounters& conn, const SchedulerStats& s,
                            bool draining);

}  // namespace qwen3::server
