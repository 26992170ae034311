#include "server/metrics.h"

#include "core/error.h"

namespace qwen3::server {

namespace {

void metric(std::string& out, const char* name, const char* type, const char* help, double value) {
  out += strfmt("# HELP %s %s\n# TYPE %s %s\n%s %.17g\n", name, help, name, type, name, value);
}

}  // namespace

std::string prometheus_text(const HttpCounters& h, const ConnectionCounters& c, const SchedulerStats& s,
                            bool draining) {
  std::string o;
  metric(o, "qwen3_draining", "gauge", "1 while the server drains after SIGTERM/SIGINT (readiness is 503)",
         draining ? 1 : 0);
  metric(o, "qwen3_connections_total", "counter", "TCP connections accepted", c.connections.load());
  metric(o, "qwen3_connections_rejected_total", "counter", "connections refused with 503 at the connection limit",
         c.rejected_connections.load());
  metric(o, "qwen3_connections_open", "gauge", "connections open", c.open_connections.load());
  metric(o, "qwen3_http_timeouts_total", "counter", "connections closed for a late request head, body or write",
         c.timeouts.load());
  metric(o, "qwen3_http_oversize_total", "counter", "requests refused for an oversize head or body",
         c.oversize.load());
  metric(o, "qwen3_requests_total", "counter", "HTTP requests received", h.requests.load());
  metric(o, "qwen3_requests_ok_total", "counter", "completion requests answered successfully",
         h.completions_ok.load());
  metric(o, "qwen3_requests_client_error_total", "counter", "requests answered with a 4xx error",
         h.client_errors.load());
  metric(o, "qwen3_requests_rejected_total", "counter", "requests rejected because the queue was full",
         h.rejected_busy.load());
  metric(o, "qwen3_client_disconnects_total", "counter", "clients that left before their answer was complete",
         h.disconnects.load());
  metric(o, "qwen3_requests_in_flight", "gauge", "completion requests being answered", h.in_flight.load());
  metric(o, "qwen3_sequences_done_total", "counter", "sequences finished",
         static_cast<double>(s.sequences_done));
  metric(o, "qwen3_sequences_cancelled_total", "counter", "sequences cancelled (client gone or shutdown)",
         static_cast<double>(s.sequences_cancelled));
  metric(o, "qwen3_sequences_failed_total", "counter", "sequences that failed alone (answered with an error)",
         static_cast<double>(s.sequences_failed));
  metric(o, "qwen3_prompt_tokens_total", "counter", "prompt tokens computed",
         static_cast<double>(s.prompt_tokens));
  metric(o, "qwen3_prompt_tokens_cached_total", "counter", "prompt tokens reused from a slot's cache",
         static_cast<double>(s.prompt_tokens_reused));
  metric(o, "qwen3_generated_tokens_total", "counter", "tokens generated",
         static_cast<double>(s.generated_tokens));
  metric(o, "qwen3_steps_total", "counter", "batched forward steps", static_cast<double>(s.steps));
  metric(o, "qwen3_busy_seconds_total", "counter", "seconds spent in forward steps", s.busy_seconds);
  metric(o, "qwen3_queue_depth", "gauge", "sequences waiting for a slot", s.queue_depth);
  metric(o, "qwen3_active_sequences", "gauge", "sequences holding a slot", s.active);
  metric(o, "qwen3_slots_total", "gauge", "KV-cache slots (--parallel)", s.n_parallel);
  metric(o, "qwen3_batch_tokens", "gauge", "tokens in the latest forward step", s.last_batch_size);
  metric(o, "qwen3_batch_sequences", "gauge", "sequences sampled in the latest forward step",
         s.last_batch_sequences);
  metric(o, "qwen3_prompt_tokens_per_second", "gauge", "prompt processing speed (moving average over steps)",
         s.prompt_tps);
  metric(o, "qwen3_generation_tokens_per_second", "gauge",
         "aggregate generation speed over all sequences (moving average over steps)", s.generation_tps);
  o += "# HELP qwen3_time_to_first_token_seconds time from request to first generated token\n"
       "# TYPE qwen3_time_to_first_token_seconds histogram\n";
  for (size_t i = 0; i < s.ttft_buckets.size(); ++i) {
    std::string le =
        i < std::size(SchedulerStats::kTtftBounds) ? strfmt("%g", SchedulerStats::kTtftBounds[i]) : "+Inf";
    o += strfmt("qwen3_time_to_first_token_seconds_bucket{le=\"%s\"} %llu\n", le.c_str(),
                static_cast<unsigned long long>(s.ttft_buckets[i]));
  }
  o += strfmt("qwen3_time_to_first_token_seconds_sum %.17g\nqwen3_time_to_first_token_seconds_count %llu\n",
              s.ttft_sum, static_cast<unsigned long long>(s.ttft_count));
  return o;
}

}  // namespace qwen3::server
