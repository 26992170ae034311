// A small HTTP/1.1 server for `qwen3 serve`, built on Boost.Beast's request parser and Asio: one I/O thread
// owns every socket, so a connection costs no thread however slow its client is. What the OpenAI layer needs
// from it and what the hardening issue asked of it:
//   - a deadline for a request's whole head (header_timeout_s) and another for its whole body, not per read,
//     so a client trickling a header line every few seconds is cut off;
//   - header and body size limits that hold for chunked bodies too (Beast counts decoded body bytes);
//   - a connection limit: past it a connection gets a canned 503 at once and is closed;
//   - a listen backlog of SOMAXCONN and no SO_REUSEPORT (a busy port is an error, not a shared one);
//   - handlers marked `inline` (health, metrics, model list) run on the I/O thread and are answered even when
//     the workers are all busy; the others run on a bounded worker pool (503 when its queue is full);
//   - responses streamed from any thread through an Exchange (chunked, with a keep-alive text written after a
//     second of silence, which is also how a client that left is noticed: the write fails, on_close runs).
// Only src/server includes this header's implementation's dependencies; the header itself includes none.
#pragma once

#include <atomic>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

namespace qwen3::server {

struct HttpLimits {
  size_t max_header_bytes = 16 << 10;  // request line + headers
  size_t max_body_bytes = 8 << 20;     // decoded body, chunked or not
  double header_timeout_s = 10;        // a new connection: from its accept to its first request's last header
                                       // byte; a kept-alive one: from the next request's first byte
  double keep_alive_timeout_s = 5;     // a kept-alive connection idle between requests (Keep-Alive: timeout=)
  double body_timeout_s = 60;          // from the end of the head to the body's last byte
  double write_timeout_s = 30;         // a response write that makes no progress
  int max_connections = 512;           // open at once; beyond, 503 and close
  int n_workers = 4;                   // threads for non-inline handlers
  int max_pending = 64;                // handlers waiting for a worker; beyond, 503
};

struct HttpRequest {
  std::string method;                          // "GET", "POST", ...
  std::string target;                          // as sent: path and query
  std::string path;                            // target without the query, percent-decoded
  std::map<std::string, std::string> headers;  // names in lower case
  std::string body;
  std::string remote;  // peer address
  std::string header(const std::string& lower_name) const {
    auto it = headers.find(lower_name);
    return it == headers.end() ? std::string() : it->second;
  }
};

class Connection;

// The answer to one request. Thread-safe: a handler answers it from a worker, and a streamed answer is
// written from the scheduler thread. Exactly one of respond() or begin_stream() ... end().
class Exchange {
 public:
  // A whole response with Content-Length. May replace a stream begun but not yet flushed (nothing is sent
  // before the handler returns), so a handler can still turn into an error after begin_stream().
  void respond(int status, const std::string& content_type, std::string body,
               std::vector<std::pair<std::string, std::string>> headers = {});
  // A chunked response whose body comes through write(); `keepalive` is written after a second of silence.
  void begin_stream(int status, const std::string& content_type, std::string keepalive,
                    std::vector<std::pair<std::string, std::string>> headers = {});
  bool write(std::string_view data);  // false once the client is gone
  void end();
  // Called once, on the I/O thread, if the connection ends before the response does (client left, timed
  // out, server stopped); at once if that has already happened.
  void on_close(std::function<void()> fn);
  bool closed() const;
  // A number for the request's log line (e.g. prompt_tokens), reported with the request when it is done.
  void log_number(const std::string& name, double value);
  // Headers added to whatever answer this exchange gets, errors included (CORS, from the before hook).
  void add_headers(const std::vector<std::pair<std::string, std::string>>& headers);

 private:
  friend class Connection;
  friend class HttpServer;
  explicit Exchange(std::shared_ptr<Connection> c, bool http10, bool head_only, bool keep_alive);
  void notify();  // asks the connection's strand to flush

  std::shared_ptr<Connection> conn_;
  const bool http10_, head_only_, keep_alive_;
  int keep_alive_s_ = 0;  // the idle timeout announced in Keep-Alive: timeout=
  mutable std::mutex mu_;
  std::string out_;           // framed bytes not yet handed to the socket
  bool started_ = false;      // a status line is queued
  bool streaming_ = false;    // chunked (or, for HTTP/1.0, until close)
  bool finished_ = false;     // the last byte is queued
  bool flushable_ = false;    // the handler has returned
  bool closed_ = false;       // the connection is gone
  bool close_after_ = false;  // Connection: close
  std::string keepalive_;
  std::function<void()> on_close_;
  int status_ = 0;
  size_t body_bytes_ = 0;
  std::vector<std::pair<std::string, double>> log_numbers_;
  std::vector<std::pair<std::string, std::string>> extra_headers_;
};

using HttpHandler = std::function<void(const HttpRequest&, const std::shared_ptr<Exchange>&)>;

struct ConnectionCounters {
  std::atomic<uint64_t> connections{0}, rejected_connections{0}, timeouts{0}, oversize{0};
  std::atomic<int> open_connections{0}, active_exchanges{0};
};

class HttpServer {
 public:
  explicit HttpServer(const HttpLimits& limits);
  ~HttpServer();
  HttpServer(const HttpServer&) = delete;
  HttpServer& operator=(const HttpServer&) = delete;

  // Routes: exact paths, or a prefix ending in '/' (e.g. "/v1/models/"). The fallback answers the rest.
  void route(const std::string& method, const std::string& path, HttpHandler h, bool inline_handler = false);
  void fallback(HttpHandler h);
  // Runs before routing, on the I/O thread: return true when it answered the request itself.
  void before(std::function<bool(const HttpRequest&, const std::shared_ptr<Exchange>&)> f);

  // Binds host:port (0: any free port) and starts the I/O thread and workers. Returns the bound port.
  // Throws qwen3::Error when the address cannot be bound (in use, or not this host's).
  int start(const std::string& host, int port);
  // From now on every connection closes after its current response (Connection: close). Connections are still
  // accepted and requests read: the before() hook answers them (503 while draining; liveness 200).
  void begin_drain();
  // Closes every connection and stops the threads. Exchanges still open see on_close.
  void stop();
  // SIGINT/SIGTERM delivered to the I/O thread: fn(n) with n = 1 for the first signal, 2 for the next...
  void on_signal(std::function<void(int)> fn);
  // Called on the I/O thread once per request when its answer is complete or its connection ends: for a
  // per-request log line.
  struct RequestRecord {
    std::string method, path, remote;
    int status = 0;          // 0: no answer was started
    size_t body_bytes = 0;   // response body bytes queued (chunk framing excluded)
    double seconds = 0;      // from the end of the request to the end of the answer
    bool completed = false;  // false: the connection ended first (client left, timeout, stop)
    std::vector<std::pair<std::string, double>> numbers;  // what the handler added (Exchange::log_number)
  };
  void on_request_done(std::function<void(const RequestRecord&)> fn);
  // The body of the errors the HTTP layer answers itself (400, 405, 408, 413, 431, 500, 503).
  void error_body(
      std::function<std::string(int status, const std::string& message, const std::string& code)> fn);

  const ConnectionCounters& counters() const { return counters_; }
  const HttpLimits& limits() const { return limits_; }

  struct Impl;

 private:
  friend class Connection;
  std::unique_ptr<Impl> impl_;
  HttpLimits limits_;
  std::function<std::string(int, const std::string&, const std::string&)> error_body_;
  std::function<void(const RequestRecord&)> request_done_;
  ConnectionCounters counters_;
};

// The standard reason phrase of a status code.
const char* http_reason(int status);

// Feeds raw bytes to the same request parser with the same limits the server uses, then to the handler
// (for the fuzz target and tests): returns the number of complete requests parsed.
int http_parse_for_fuzzing(const uint8_t* data, size_t size, const HttpLimits& limits,
                           const std::function<void(const HttpRequest&)>& handler);

}  // namespace qwen3::server
