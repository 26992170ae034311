// Boost.Beast parses requests (limits on the head and on the decoded body, chunked included); Asio runs every
// socket on one I/O thread with deadlines from tcp_stream (an expiry is a point in time, so it bounds a whole
// multi-read head, not each read). Responses are framed here by hand: a status line, a few headers, and
// either a Content-Length body or chunks.
#include "server/http.h"

#include <sys/resource.h>

#include <utility>  // before Asio: Boost 1.74's awaitable.hpp uses std::exchange without it

#include <boost/asio.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <chrono>
#include <condition_variable>
#include <deque>
#include <optional>
#include <thread>
#include <unordered_set>

#include "core/error.h"
#include "core/log.h"

namespace qwen3::server {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
using tcp = asio::ip::tcp;
using Parser = http::request_parser<http::string_body>;
using Headers = std::vector<std::pair<std::string, std::string>>;

const char* http_reason(int status) {
  switch (status) {
    case 100:
      return "Continue";
    case 200:
      return "OK";
    case 204:
      return "No Content";
    case 304:
      return "Not Modified";
    case 400:
      return "Bad Request";
    case 401:
      return "Unauthorized";
    case 403:
      return "Forbidden";
    case 404:
      return "Not Found";
    case 405:
      return "Method Not Allowed";
    case 408:
      return "Request Timeout";
    case 413:
      return "Payload Too Large";
    case 429:
      return "Too Many Requests";
    case 431:
      return "Request Header Fields Too Large";
    case 500:
      return "Internal Server Error";
    case 501:
      return "Not Implemented";
    case 503:
      return "Service Unavailable";
    default:
      return status < 400 ? "OK" : status < 500 ? "Bad Request" : "Internal Server Error";
  }
}

namespace {

void configure(Parser& p, const HttpLimits& limits) {
  p.header_limit(static_cast<uint32_t>(std::min<size_t>(limits.max_header_bytes, UINT32_MAX)));
  p.body_limit(limits.max_body_bytes);
}

std::string percent_decode(std::string_view s) {
  auto hex = [](char c) {
    return c >= '0' && c <= '9'   ? c - '0'
           : c >= 'a' && c <= 'f' ? c - 'a' + 10
           : c >= 'A' && c <= 'F' ? c - 'A' + 10
                                  : -1;
  };
  std::string out;
  for (size_t i = 0; i < s.size(); ++i) {
    if (s[i] == '%' && i + 2 < s.size() && hex(s[i + 1]) >= 0 && hex(s[i + 2]) >= 0) {
      out += static_cast<char>(hex(s[i + 1]) * 16 + hex(s[i + 2]));
      i += 2;
    } else {
      out += s[i];
    }
  }
  return out;
}

HttpRequest to_request(http::request<http::string_body>&& m) {
  HttpRequest r;
  r.method = std::string(m.method_string());
  r.target = std::string(m.target());
  std::string_view t(m.target().data(), m.target().size());
  r.path = percent_decode(t.substr(0, t.find('?')));
  for (const auto& f : m) {
    std::string name(f.name_string());
    for (char& c : name) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    auto [it, inserted] = r.headers.emplace(name, std::string(f.value()));
    if (!inserted) it->second += ", " + std::string(f.value());
  }
  r.body = std::move(m.body());
  return r;
}

// The bytes of a parsed request head: request line and field lines, each with its CRLF.
size_t head_size(const http::request<http::string_body>& m) {
  size_t n = m.method_string().size() + m.target().size() + 12;
  for (const auto& f : m) n += f.name_string().size() + f.value().size() + 4;
  return n + 2;
}

std::string head_text(int status, const std::string& content_type, const Headers& headers, bool close,
                      std::optional<size_t> length, bool chunked) {
  std::string h = strfmt("HTTP/1.1 %d %s\r\n", status, http_reason(status));
  if (!content_type.empty()) h += "Content-Type: " + content_type + "\r\n";
  for (const auto& [k, v] : headers) h += k + ": " + v + "\r\n";
  if (length && status != 204 && status != 304) h += strfmt("Content-Length: %zu\r\n", *length);  // no body
  if (chunked) h += "Transfer-Encoding: chunked\r\n";
  h += close ? "Connection: close\r\n\r\n" : "Connection: keep-alive\r\n\r\n";
  return h;
}

}  // namespace

struct Route {
  std::string method, path;
  bool prefix;
  HttpHandler handler;
  bool inline_handler;
};

struct HttpServer::Impl {
  HttpServer& owner;
  asio::io_context ioc{1};
  tcp::acceptor acceptor{ioc};
  asio::signal_set signals{ioc};
  asio::steady_timer accept_retry{ioc};
  std::thread io_thread;
  std::vector<std::thread> workers;
  std::mutex wmu;
  std::condition_variable wcv;
  std::deque<std::function<void()>> wqueue;
  bool wstop = false;
  std::vector<Route> routes;
  HttpHandler fallback;
  std::function<bool(const HttpRequest&, const std::shared_ptr<Exchange>&)> before;
  std::function<void(int)> signal_fn;
  int n_signals = 0;
  std::atomic<bool> draining{false};                      // connections close after their current response
  std::unordered_set<std::shared_ptr<Connection>> conns;  // I/O thread only

  explicit Impl(HttpServer& o) : owner(o) {}
  void accept();
  void wait_signal();
  void reject_connection(tcp::socket socket);
  bool submit(std::function<void()> task) {
    {
      std::lock_guard lock(wmu);
      if (static_cast<int>(wqueue.size()) >= owner.limits_.max_pending) return false;
      wqueue.push_back(std::move(task));
    }
    wcv.notify_one();
    return true;
  }
  void worker() {
    for (;;) {
      std::function<void()> task;
      {
        std::unique_lock lock(wmu);
        wcv.wait(lock, [&] { return wstop || !wqueue.empty(); });
        if (wqueue.empty()) return;
        task = std::move(wqueue.front());
        wqueue.pop_front();
      }
      task();
    }
  }
};

// One client connection; every member function runs on the I/O thread.
class Connection : public std::enable_shared_from_this<Connection> {
 public:
  Connection(tcp::socket socket, HttpServer::Impl& srv)
      : stream_(std::move(socket)), srv_(srv), tick_(srv.ioc) {
    beast::error_code ec;
    auto ep = stream_.socket().remote_endpoint(ec);
    if (!ec) remote_ = ep.address().to_string();
  }

  // first: a fresh connection (its head is due header_timeout after the accept); otherwise a kept-alive
  // connection waiting for its next request: idle up to keep_alive_timeout, then header_timeout from the
  // first byte. An idle timeout shorter than a client's own (undici keeps 4 s) would close a connection the
  // client is just reusing; the Keep-Alive header tells clients ours.
  void read_request(bool first = false) {
    if (closed_) return;
    parser_.emplace();
    configure(*parser_, limits());
    idle_ = !first;
    stream_.expires_after(seconds(idle_ ? limits().keep_alive_timeout_s : limits().header_timeout_s));
    header_bytes_ = 0;
    read_header_part();
  }

  // The head a read at a time: Beast 1.74 checks header_limit against the bytes it has not yet consumed, and
  // it consumes complete field lines as they come, so thousands of short lines passed its limit. The bytes
  // consumed so far plus those buffered are counted here instead.
  void read_header_part() {
    http::async_read_some(
        stream_, buf_, *parser_, [self = shared_from_this()](beast::error_code ec, size_t n) {
          self->header_bytes_ += n;
          if (!ec && self->idle_ && self->header_bytes_ + self->buf_.size() > 0) {  // the next request began
            self->idle_ = false;
            self->stream_.expires_after(seconds(self->limits().header_timeout_s));
          }
          // Once the head is parsed, its size is measured on the message (this read may hold body bytes too).
          size_t head = self->parser_->is_header_done() ? head_size(self->parser_->get())
                                                        : self->header_bytes_ + self->buf_.size();
          if (!ec && head > self->limits().max_header_bytes)
            return self->on_header(http::error::header_limit);
          if (ec || self->parser_->is_header_done()) return self->on_header(ec);
          self->read_header_part();
        });
  }

  void flush() {
    if (closed_ || writing_ || !ex_) return;
    std::string data;
    bool finished, close_after;
    {
      std::lock_guard lock(ex_->mu_);
      if (!ex_->flushable_) return;
      data.swap(ex_->out_);
      finished = ex_->finished_;
      close_after = ex_->close_after_;
    }
    if (data.empty()) {
      if (finished) response_done(close_after);
      return;
    }
    writing_ = true;
    wbuf_ = std::move(data);
    last_write_ = std::chrono::steady_clock::now();
    stream_.expires_after(seconds(limits().write_timeout_s));
    asio::async_write(stream_, asio::buffer(wbuf_),
                      [self = shared_from_this()](beast::error_code ec, size_t) {
                        self->writing_ = false;
                        self->stream_.expires_never();
                        if (ec) {
                          if (ec == beast::error::timeout) ++self->srv_.owner.counters_.timeouts;
                          return self->close();
                        }
                        self->flush();
                      });
  }

  void close() {
    if (closed_) return;
    auto self = shared_from_this();  // erasing it from conns below may drop the last other reference
    closed_ = true;
    tick_.cancel();
    beast::error_code ec;
    stream_.socket().shutdown(tcp::socket::shutdown_both, ec);
    stream_.close();
    if (ex_) end_exchange(true);
    --srv_.owner.counters_.open_connections;
    srv_.conns.erase(shared_from_this());
  }

  // RFC 9112 9.6's staged close, after a response sent with Connection: close: half-close our side (the
  // client reads the response and EOF), then read and drop what the client still sends, up to kLingerBytes or
  // kLingerSeconds, before closing. Closing at once with unread input (a refused body still arriving, a
  // pipelined request) makes the kernel answer with a reset, which may discard the response the client has
  // not read yet: the 413 of a too-large upload would then reach it as "connection reset".
  void linger_close() {
    if (closed_) return;
    beast::error_code ec;
    stream_.socket().shutdown(tcp::socket::shutdown_send, ec);
    if (ec) return close();
    linger_left_ = kLingerBytes;
    stream_.expires_after(seconds(kLingerSeconds));
    linger_read();
  }

  bool idle() const { return !ex_; }
  bool draining() const { return srv_.draining.load(std::memory_order_relaxed); }
  asio::io_context& ioc() { return srv_.ioc; }

 private:
  static std::chrono::steady_clock::duration seconds(double s) {
    return std::chrono::duration_cast<std::chrono::steady_clock::duration>(std::chrono::duration<double>(s));
  }
  const HttpLimits& limits() const { return srv_.owner.limits_; }

  // An error the HTTP layer answers itself; the connection closes after it (its input is not trusted).
  void fail(int status, const std::string& message, const std::string& code) {
    start_exchange(false, false, /*keep_alive=*/false);  // Connection: close
    ex_->respond(status, "application/json", error_json(status, message, code), {});
    mark_flushable();
  }

  void on_header(beast::error_code ec) {
    if (ec == http::error::body_limit) return on_body(ec);  // the first read held the head and too much body
    if (ec) {
      if (ec == http::error::header_limit) {
        ++srv_.owner.counters_.oversize;
        return fail(431, strfmt("the request head exceeds %zu bytes", limits().max_header_bytes),
                    "header_too_large");
      }
      if (ec == beast::error::timeout) {
        if (!idle_) ++srv_.owner.counters_.timeouts;  // an idle kept-alive connection timing out is normal
        return close();                               // a client this slow is not waiting for an answer
      }
      if (ec == http::error::end_of_stream || ec == asio::error::eof || ec == asio::error::connection_reset ||
          ec == asio::error::operation_aborted || buf_.size() == 0)
        return close();
      return fail(400, "malformed HTTP request: " + ec.message(), "bad_request");
    }
    auto& m = parser_->get();
    if (auto len = parser_->content_length(); len && *len > limits().max_body_bytes) {
      ++srv_.owner.counters_.oversize;
      return fail(413, strfmt("The request body exceeds the limit of %zu bytes.", limits().max_body_bytes),
                  "request_too_large");
    }
    stream_.expires_after(seconds(limits().body_timeout_s));
    auto read_body = [self = shared_from_this()] {
      http::async_read(self->stream_, self->buf_, *self->parser_,
                       [self](beast::error_code ec, size_t) { self->on_body(ec); });
    };
    if (beast::iequals(m[http::field::expect], "100-continue") && !parser_->is_done()) {
      wbuf_ = "HTTP/1.1 100 Continue\r\n\r\n";
      asio::async_write(stream_, asio::buffer(wbuf_),
                        [self = shared_from_this(), read_body](beast::error_code ec, size_t) {
                          if (ec) return self->close();
                          read_body();
                        });
      return;
    }
    read_body();
  }

  void on_body(beast::error_code ec) {
    if (ec) {
      if (ec == http::error::body_limit) {
        ++srv_.owner.counters_.oversize;
        return fail(413, strfmt("The request body exceeds the limit of %zu bytes.", limits().max_body_bytes),
                    "request_too_large");
      }
      if (ec == beast::error::timeout) {
        ++srv_.owner.counters_.timeouts;
        return fail(408, "the request body did not arrive in time", "request_timeout");
      }
      if (ec == http::error::end_of_stream || ec == asio::error::eof || ec == asio::error::connection_reset ||
          ec == asio::error::operation_aborted || ec == http::error::partial_message)
        return close();
      return fail(400, "malformed HTTP request: " + ec.message(), "bad_request");
    }
    stream_.expires_never();
    auto msg = parser_->release();
    parser_.reset();
    bool http10 = msg.version() < 11, keep_alive = msg.keep_alive(), head = msg.method() == http::verb::head;
    HttpRequest req = to_request(std::move(msg));
    req.remote = remote_;
    dispatch(std::move(req), http10, head, keep_alive);
  }

  void dispatch(HttpRequest req, bool http10, bool head, bool keep_alive) {
    start_exchange(http10, head, keep_alive);
    record_.method = req.method;
    record_.path = req.path;
    auto ex = ex_;
    auto& srv = srv_;
    try {
      if (srv.before && srv.before(req, ex)) return mark_flushable();
    } catch (const std::exception& e) {
      QWEN3_LOG_WARN("request hook failed: %s", e.what());
      ex->respond(500, "application/json", error_json(500, "internal server error", ""));
      return mark_flushable();
    }
    std::string method = head ? "GET" : req.method;
    const Route* found = nullptr;
    bool path_known = false;
    for (const auto& r : srv.routes) {
      bool match = r.prefix
                       ? req.path.size() > r.path.size() && req.path.compare(0, r.path.size(), r.path) == 0
                       : req.path == r.path;
      if (!match) continue;
      path_known = true;
      if (r.method == method) {
        found = &r;
        break;
      }
    }
    HttpHandler handler;
    bool inl = true;
    if (found) {
      handler = found->handler, inl = found->inline_handler;
    } else if (path_known) {
      ex->respond(
          405, "application/json",
          error_json(405, strfmt("Method %s is not allowed on %s", req.method.c_str(), req.path.c_str()),
                     "method_not_allowed"));
      return mark_flushable();
    } else {
      handler = srv.fallback;
    }
    std::string internal = error_json(500, "internal server error", "");
    auto run = [handler, ex, internal, req = std::move(req)] {
      try {
        handler(req, ex);
      } catch (const std::exception& e) {
        QWEN3_LOG_WARN("request handler failed: %s", e.what());
        std::lock_guard lock(ex->mu_);
        if (!ex->started_) {
          ex->started_ = ex->finished_ = true;
          ex->out_ = head_text(500, "application/json", ex->extra_headers_, !ex->keep_alive_, internal.size(),
                               false) +
                     internal;
        }
      }
      {
        std::lock_guard lock(ex->mu_);
        if (!ex->started_) {  // a handler that answered nothing: a bug, not the client's fault
          ex->started_ = ex->finished_ = true;
          ex->out_ = head_text(500, "application/json", ex->extra_headers_, !ex->keep_alive_, internal.size(),
                               false) +
                     internal;
        }
        ex->flushable_ = true;
      }
      ex->notify();
    };
    if (inl) return run();
    if (!srv.submit(std::move(run))) {
      ex->respond(
          503, "application/json",
          error_json(503, "the server is busy: every request worker is taken, retry later", "server_busy"),
          {{"Retry-After", "1"}});
      mark_flushable();
    }
  }

  void start_exchange(bool http10, bool head, bool keep_alive) {
    ex_ = std::shared_ptr<Exchange>(new Exchange(shared_from_this(), http10, head, keep_alive));
    ex_->keep_alive_s_ = std::max(1, int(limits().keep_alive_timeout_s));
    record_ = HttpServer::RequestRecord{};
    record_.remote = remote_;
    t_request_ = std::chrono::steady_clock::now();
    ++srv_.owner.counters_.active_exchanges;
    last_write_ = std::chrono::steady_clock::now();
    arm_tick();
  }

  void mark_flushable() {
    {
      std::lock_guard lock(ex_->mu_);
      ex_->flushable_ = true;
    }
    flush();
  }

  // Once a second while a streamed response is open: the keep-alive text when nothing else was written.
  void arm_tick() {
    tick_.expires_after(std::chrono::seconds(1));
    tick_.async_wait([self = shared_from_this()](beast::error_code ec) {
      if (ec || self->closed_ || !self->ex_) return;
      auto ex = self->ex_;
      if (std::chrono::steady_clock::now() - self->last_write_ >= std::chrono::milliseconds(900)) {
        std::string ka;
        {
          std::lock_guard lock(ex->mu_);
          if (ex->streaming_ && !ex->finished_ && ex->flushable_ && ex->out_.empty()) ka = ex->keepalive_;
        }
        if (!ka.empty()) ex->write(ka);
      }
      self->arm_tick();
    });
  }

  void end_exchange(bool aborted) {
    std::function<void()> fn;
    {
      std::lock_guard lock(ex_->mu_);
      if (aborted) {
        ex_->closed_ = true;
        fn = std::move(ex_->on_close_);
      }
      record_.status = ex_->status_;
      record_.body_bytes = ex_->body_bytes_;
      record_.numbers = std::move(ex_->log_numbers_);
    }
    ex_.reset();
    --srv_.owner.counters_.active_exchanges;
    if (fn) fn();
    if (srv_.owner.request_done_) {
      record_.completed = !aborted;
      record_.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t_request_).count();
      if (record_.method.empty()) record_.method = "-";  // an error answered before the request was parsed
      srv_.owner.request_done_(record_);
    }
  }

  void response_done(bool close_after) {
    tick_.cancel();
    end_exchange(false);
    if (close_after || srv_.draining) return linger_close();
    read_request();
  }

  static constexpr size_t kLingerBytes = 1 << 20;
  static constexpr double kLingerSeconds = 2;
  void linger_read() {
    wbuf_.resize(16 << 10);  // the response is written: its buffer is free
    stream_.async_read_some(asio::buffer(wbuf_), [self = shared_from_this()](beast::error_code ec, size_t n) {
      if (ec || n >= self->linger_left_) return self->close();  // EOF (the client closed), timeout or enough
      self->linger_left_ -= n;
      self->linger_read();
    });
  }

  std::string error_json(int status, const std::string& message, const std::string& code) const {
    return srv_.owner.error_body_(status, message, code);
  }

  beast::tcp_stream stream_;
  HttpServer::Impl& srv_;
  asio::steady_timer tick_;
  beast::flat_buffer buf_;
  std::optional<Parser> parser_;
  size_t header_bytes_ = 0;  // of the request head being read, consumed by the parser
  bool idle_ = false;        // a kept-alive connection waiting for the first byte of its next request
  std::shared_ptr<Exchange> ex_;
  std::string wbuf_;
  bool writing_ = false, closed_ = false;
  size_t linger_left_ = 0;  // bytes linger_close still drops before closing
  std::chrono::steady_clock::time_point last_write_;
  std::string remote_;
  HttpServer::RequestRecord record_;
  std::chrono::steady_clock::time_point t_request_;

  friend class Exchange;
};

// ---------------------------------------------------------------------------------------------------------------

Exchange::Exchange(std::shared_ptr<Connection> c, bool http10, bool head_only, bool keep_alive)
    : conn_(std::move(c)), http10_(http10), head_only_(head_only), keep_alive_(keep_alive && !http10) {}

void Exchange::respond(int status, const std::string& content_type, std::string body, Headers headers) {
  {
    std::lock_guard lock(mu_);
    if (closed_ || (started_ && flushable_)) return;  // already answered (or being streamed)
    close_after_ = !keep_alive_ || conn_->draining();
    if (!close_after_) headers.emplace_back("Keep-Alive", strfmt("timeout=%d", keep_alive_s_));
    headers.insert(headers.end(), extra_headers_.begin(), extra_headers_.end());
    out_ = head_text(status, content_type, headers, close_after_, body.size(), false);
    if (!head_only_) out_ += body;
    status_ = status;
    body_bytes_ = body.size();
    started_ = finished_ = true;
    streaming_ = false;
  }
  notify();
}

void Exchange::begin_stream(int status, const std::string& content_type, std::string keepalive,
                            Headers headers) {
  {
    std::lock_guard lock(mu_);
    if (closed_ || started_) return;
    close_after_ = !keep_alive_ || conn_->draining();
    if (!close_after_) headers.emplace_back("Keep-Alive", strfmt("timeout=%d", keep_alive_s_));
    headers.insert(headers.end(), extra_headers_.begin(), extra_headers_.end());
    out_ = head_text(status, content_type, headers, close_after_, std::nullopt, !http10_);
    keepalive_ = std::move(keepalive);
    status_ = status;
    started_ = streaming_ = true;
    if (head_only_) finished_ = true;
  }
  notify();
}

bool Exchange::write(std::string_view data) {
  {
    std::lock_guard lock(mu_);
    if (closed_) return false;
    if (!streaming_ || finished_ || data.empty()) return true;
    body_bytes_ += data.size();
    if (http10_) {
      out_ += data;
    } else {
      out_ += strfmt("%zx\r\n", data.size());
      out_ += data;
      out_ += "\r\n";
    }
  }
  notify();
  return true;
}

void Exchange::end() {
  {
    std::lock_guard lock(mu_);
    if (closed_ || !streaming_ || finished_) return;
    if (!http10_) out_ += "0\r\n\r\n";
    finished_ = true;
  }
  notify();
}

void Exchange::on_close(std::function<void()> fn) {
  {
    std::lock_guard lock(mu_);
    if (!closed_) {
      on_close_ = std::move(fn);
      return;
    }
  }
  fn();
}

void Exchange::log_number(const std::string& name, double value) {
  std::lock_guard lock(mu_);
  log_numbers_.emplace_back(name, value);
}

void Exchange::add_headers(const Headers& headers) {
  std::lock_guard lock(mu_);
  extra_headers_.insert(extra_headers_.end(), headers.begin(), headers.end());
}

bool Exchange::closed() const {
  std::lock_guard lock(mu_);
  return closed_;
}

void Exchange::notify() {
  {
    std::lock_guard lock(mu_);
    if (!flushable_) return;
  }
  asio::post(conn_->ioc(), [c = conn_] { c->flush(); });
}

// ---------------------------------------------------------------------------------------------------------------

void HttpServer::Impl::accept() {
  acceptor.async_accept([this](beast::error_code ec, tcp::socket socket) {
    if (ec) {
      if (ec == asio::error::operation_aborted) return;
      // Out of descriptors or memory: wait a little rather than spin.
      QWEN3_LOG_WARN("accept failed: %s", ec.message().c_str());
      accept_retry.expires_after(std::chrono::milliseconds(100));
      accept_retry.async_wait([this](beast::error_code e) {
        if (!e) accept();
      });
      return;
    }
    ++owner.counters_.connections;
    if (owner.counters_.open_connections.load() >= owner.limits_.max_connections) {
      reject_connection(std::move(socket));
    } else {
      ++owner.counters_.open_connections;
      auto c = std::make_shared<Connection>(std::move(socket), *this);
      conns.insert(c);
      c->read_request(/*first=*/true);
    }
    accept();
  });
}

void HttpServer::Impl::reject_connection(tcp::socket socket) {
  ++owner.counters_.rejected_connections;
  std::string body = owner.error_body_(503, "too many connections: retry later", "too_many_connections");
  auto text = std::make_shared<std::string>(
      head_text(503, "application/json", {{"Retry-After", "1"}}, true, body.size(), false) + body);
  auto s = std::make_shared<tcp::socket>(std::move(socket));
  s->non_blocking(true);
  // The canned answer fits a socket buffer: one non-blocking send, then close, never a wait on this client.
  beast::error_code ec;
  s->send(asio::buffer(*text), tcp::socket::message_flags{}, ec);
  s->shutdown(tcp::socket::shutdown_both, ec);
  s->close(ec);
}

void HttpServer::Impl::wait_signal() {
  signals.async_wait([this](beast::error_code ec, int) {
    if (ec) return;
    ++n_signals;
    if (signal_fn) signal_fn(n_signals);
    wait_signal();
  });
}

HttpServer::HttpServer(const HttpLimits& limits) : impl_(std::make_unique<Impl>(*this)), limits_(limits) {
  error_body_ = [](int status, const std::string& message, const std::string&) {
    return strfmt("{\"status\":%d,\"message\":\"%s\"}", status, message.c_str());
  };
}

HttpServer::~HttpServer() {
  stop();
}

void HttpServer::route(const std::string& method, const std::string& path, HttpHandler h,
                       bool inline_handler) {
  bool prefix = !path.empty() && path.back() == '/' && path.size() > 1;
  impl_->routes.push_back(Route{method, path, prefix, std::move(h), inline_handler});
}
void HttpServer::fallback(HttpHandler h) {
  impl_->fallback = std::move(h);
}
void HttpServer::before(std::function<bool(const HttpRequest&, const std::shared_ptr<Exchange>&)> f) {
  impl_->before = std::move(f);
}
void HttpServer::on_signal(std::function<void(int)> fn) {
  impl_->signal_fn = std::move(fn);
}
void HttpServer::on_request_done(std::function<void(const RequestRecord&)> fn) {
  request_done_ = std::move(fn);
}
void HttpServer::error_body(std::function<std::string(int, const std::string&, const std::string&)> fn) {
  error_body_ = std::move(fn);
}

int HttpServer::start(const std::string& host, int port) {
  QWEN3_CHECK(port >= 0 && port <= 65535, "--port %d: choose 0..65535 (0: any free port)", port);
  // Connections are descriptors: allow as many as the hard limit permits.
  rlimit rl{};
  if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
    rl.rlim_cur = rl.rlim_max;
    setrlimit(RLIMIT_NOFILE, &rl);
  }
  Impl& im = *impl_;
  beast::error_code ec;
  tcp::resolver resolver(im.ioc);
  auto results = resolver.resolve(host, std::to_string(port), tcp::resolver::numeric_service, ec);
  QWEN3_CHECK(!ec && !results.empty(), "cannot listen on %s:%d: %s", host.c_str(), port,
              ec ? ec.message().c_str() : "no such address");
  tcp::endpoint ep = results.begin()->endpoint();
  im.acceptor.open(ep.protocol(), ec);
  QWEN3_CHECK(!ec, "cannot listen on %s:%d: %s", host.c_str(), port, ec.message().c_str());
  // SO_REUSEADDR only (a restarted server may bind while old connections are in TIME_WAIT); never
  // SO_REUSEPORT, so a second server on a busy port fails here instead of sharing it.
  im.acceptor.set_option(tcp::acceptor::reuse_address(true), ec);
  im.acceptor.bind(ep, ec);
  QWEN3_CHECK(
      !ec, "cannot listen on %s:%d: %s", host.c_str(), port,
      ec == asio::error::address_in_use ? "the port is in use (another server?)" : ec.message().c_str());
  im.acceptor.listen(asio::socket_base::max_listen_connections, ec);
  QWEN3_CHECK(!ec, "cannot listen on %s:%d: %s", host.c_str(), port, ec.message().c_str());
  int bound = im.acceptor.local_endpoint().port();
  im.signals.add(SIGINT, ec);
  im.signals.add(SIGTERM, ec);
  im.wait_signal();
  im.accept();
  for (int i = 0; i < std::max(1, limits_.n_workers); ++i) im.workers.emplace_back([&im] { im.worker(); });
  im.io_thread = std::thread([&im] { im.ioc.run(); });
  return bound;
}

void HttpServer::begin_drain() {
  Impl& im = *impl_;
  asio::post(im.ioc, [&im] { im.draining = true; });
}

void HttpServer::stop() {
  Impl& im = *impl_;
  if (im.io_thread.joinable()) {
    asio::post(im.ioc, [&im] {
      beast::error_code ec;
      im.acceptor.close(ec);
      im.signals.cancel(ec);
      im.accept_retry.cancel();
      auto all = std::vector<std::shared_ptr<Connection>>(im.conns.begin(), im.conns.end());
      for (auto& c : all) c->close();
      im.ioc.stop();
    });
    im.io_thread.join();
  }
  {
    std::lock_guard lock(im.wmu);
    im.wstop = true;
  }
  im.wcv.notify_all();
  for (auto& w : im.workers) w.join();
  im.workers.clear();
}

int http_parse_for_fuzzing(const uint8_t* data, size_t size, const HttpLimits& limits,
                           const std::function<void(const HttpRequest&)>& handler) {
  size_t off = 0;
  int n = 0;
  while (off < size) {
    Parser p;
    configure(p, limits);
    p.eager(true);
    beast::error_code ec;
    while (off < size && !p.is_done()) {
      size_t used = p.put(asio::buffer(data + off, size - off), ec);
      off += used;
      if (ec == http::error::need_more) {
        ec = {};
        if (used == 0) return n;
        continue;
      }
      if (ec) return n;
    }
    if (!p.is_done()) {
      p.put_eof(ec);
      if (ec || !p.is_done()) return n;
    }
    handler(to_request(p.release()));
    ++n;
  }
  return n;
}

}  // namespace qwen3::server
