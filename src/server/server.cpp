// The OpenAI glue over the HTTP layer (server/http.h): routes, authentication, errors in OpenAI's shape, the
// bridge from the scheduler thread's callbacks to a streamed response, and the server's lifecycle (load with
// 503s, serve, drain on SIGTERM, stop). A write to a client that left fails: the request's cancel flag is set
// and the scheduler frees its slot at the next step.
#include "server/server.h"

#include <signal.h>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdio>
#include <ctime>
#include <filesystem>
#include <mutex>
#include <random>
#include <thread>

#include "core/error.h"
#include "core/log.h"
#include "server/adapters.h"
#include "server/anthropic_api.h"
#include "server/frontend.h"
#include "server/http.h"
#include "server/metrics.h"
#include "server/ollama_api.h"
#include "server/responses_api.h"
#include "server/structured.h"
#include "server/webui.h"

namespace qwen3::server {

namespace {

// Everything one completion request owns; shared by the handler and the scheduler's callbacks.
struct Job {
  std::unique_ptr<ApiRequest> request;
  std::unique_ptr<ResponseWriter> builder;
  std::shared_ptr<Exchange> exchange;
  std::shared_ptr<std::atomic<bool>> cancel = std::make_shared<std::atomic<bool>>(false);
  // Filled by on_done on the scheduler thread, for the request's log line.
  size_t completion_tokens = 0;
  double first_token_seconds = -1;
};

std::string random_id() {
  static std::mutex mu;
  static std::mt19937_64 rng(std::random_device{}());
  std::lock_guard lock(mu);
  return strfmt("%016llx", static_cast<unsigned long long>(rng()));
}

const char* kJson = "application/json";

// A client's bytes made safe for a log line: control characters, quotes and non-ASCII as \xNN (no terminal
// escapes or forged lines from a request path), at most 200 characters.
std::string printable(const std::string& s) {
  std::string out;
  for (unsigned char c : s.substr(0, 200)) {
    if (c >= 0x20 && c < 0x7f && c != '"' && c != '\\')
      out += static_cast<char>(c);
    else
      out += strfmt("\\x%02x", c);
  }
  if (s.size() > 200) out += "...";
  return out;
}

class Server {
 public:
  Server(const ServedModel& served, const ServerOptions& opt)
      : served_(served), opt_(opt), cors_(make_cors_policy(opt.cors_origins)) {}

  // The model is loaded: requests are served from now on (before, they get 503).
  void start(Scheduler* scheduler) {
    scheduler_.store(scheduler, std::memory_order_release);
    ready_.store(true, std::memory_order_release);
  }
  void begin_drain() { draining_.store(true, std::memory_order_release); }
  int in_flight() const { return http_.in_flight.load(); }

  void setup(HttpServer& svr) {
    http_server_ = &svr;
    svr.error_body([](int status, const std::string& message, const std::string& code) {
      return error_body(
          ApiError{status, message, status >= 500 ? "server_error" : "invalid_request_error", "", code});
    });
    // One line per request (health checks and scrapes excepted), as llama-server logs them; JSON lines with
    // --log-format json.
    if (opt_.log_requests)
      svr.on_request_done([json = opt_.log_json](const HttpServer::RequestRecord& r) {
        if (r.path == "/health" || r.path == "/health/ready" || r.path == "/metrics") return;
        std::string line;
        if (json) {
          ojson j = {{"remote", r.remote},      {"method", r.method},    {"path", r.path},
                     {"status", r.status},      {"bytes", r.body_bytes}, {"seconds", r.seconds},
                     {"completed", r.completed}};
          for (const auto& [k, v] : r.numbers) j[k] = v;
          line = dump(j);  // invalid UTF-8 replaced; control characters escaped by JSON
        } else {
          line =
              strfmt("qwen3 serve: %s %s %s %d %zu B %.3f s", r.remote.c_str(), printable(r.method).c_str(),
                     printable(r.path).c_str(), r.status, r.body_bytes, r.seconds);
          for (const auto& [k, v] : r.numbers) line += strfmt(" %s=%g", k.c_str(), v);
          if (!r.completed) line += " (connection ended)";
        }
        std::fprintf(stderr, "%s\n", line.c_str());
      });
    svr.before([this](const HttpRequest& req, const std::shared_ptr<Exchange>& ex) {
      ++http_.requests;
      if (cors_.enabled() && cross_origin(req, ex)) return true;
      ErrorShape shape = error_shape_for(req.path);
      bool health = req.path == "/health" || req.path == "/health/ready";
      // The page itself needs no key (it asks for one when the API answers 401).
      bool page = opt_.webui && req.path == "/" && (req.method == "GET" || req.method == "HEAD");
      if (!ready_.load(std::memory_order_acquire)) {
        if (health) {
          ex->respond(503, kJson, dump({{"status", "loading"}}));
        } else {
          fail(ex, ApiError{503, "Loading model", "server_error", "", "model_loading"},
               {{"Retry-After", "1"}}, shape);
        }
        return true;
      }
      if (draining_.load(std::memory_order_acquire) && req.path != "/health" && req.path != "/metrics") {
        if (req.path == "/health/ready")
          ex->respond(503, kJson, dump({{"status", "shutting_down"}}));
        else
          fail(ex, ApiError{503, "The server is shutting down", "server_error", "", "shutting_down"},
               {{"Retry-After", "1"}}, shape);
        return true;
      }
      if (opt_.api_key.empty() || health || page) return false;
      // Bearer as OpenAI's and Ollama's clients send it; x-api-key as Anthropic's do.
      if (req.header("authorization") == "Bearer " + opt_.api_key || req.header("x-api-key") == opt_.api_key)
        return false;
      fail(ex, ApiError{401, "Incorrect API key provided.", "invalid_request_error", "", "invalid_api_key"},
           {}, shape);
      return true;
    });
    svr.fallback([this](const HttpRequest& req, const std::shared_ptr<Exchange>& ex) {
      ErrorShape shape = error_shape_for(req.path);
      if (shape == ErrorShape::kOllama && !opt_.ollama_api) shape = ErrorShape::kOpenAI;
      if (auto e = unsupported_route(req.path); e && (shape != ErrorShape::kOllama || opt_.ollama_api))
        return fail(ex, *e, {}, shape);
      fail(ex,
           ApiError{404, strfmt("Unknown request URL: %s %s", req.method.c_str(), req.path.c_str()),
                    "invalid_request_error", "", "unknown_url"},
           {}, shape);
    });
    // The operator routes and the model list run on the I/O thread: answered however busy the workers are.
    svr.route(
        "GET", "/health",
        [this](const HttpRequest&, const std::shared_ptr<Exchange>& ex) {
          SchedulerStats s = scheduler_.load()->stats();
          ex->respond(200, kJson,
                      dump({{"status", "ok"},
                            {"slots_idle", s.n_parallel - s.active},
                            {"slots_busy", s.active},
                            {"queue_depth", s.queue_depth}}));
        },
        true);
    svr.route(
        "GET", "/health/ready",
        [](const HttpRequest&, const std::shared_ptr<Exchange>& ex) {
          ex->respond(200, kJson, dump({{"status", "ready"}}));
        },
        true);
    svr.route(
        "GET", "/metrics",
        [this](const HttpRequest&, const std::shared_ptr<Exchange>& ex) {
          ex->respond(200, "text/plain; version=0.0.4",
                      prometheus_text(http_, http_server_->counters(), scheduler_.load()->stats(),
                                      draining_.load(std::memory_order_acquire)));
        },
        true);
    svr.route(
        "GET", "/v1/models",
        [this](const HttpRequest&, const std::shared_ptr<Exchange>& ex) {
          ojson data = ojson::array({model_object()});
          for (auto& m : served_.adapters->model_objects(served_.id, created_)) data.push_back(std::move(m));
          ex->respond(200, kJson, dump({{"object", "list"}, {"data", std::move(data)}}));
        },
        true);
    svr.route(
        "GET", "/v1/models/",
        [this](const HttpRequest& req, const std::shared_ptr<Exchange>& ex) {
          std::string id = req.path.substr(std::string("/v1/models/").size());
          for (auto& m : served_.adapters->model_objects(served_.id, created_))
            if (m["id"] == id) return ex->respond(200, kJson, dump(m));
          if (id != served_.id)
            return fail(ex, ApiError{404, strfmt("The model '%s' does not exist", id.c_str()),
                                     "invalid_request_error", "model", "model_not_found"});
          ex->respond(200, kJson, dump(model_object()));
        },
        true);
    svr.route("POST", "/v1/chat/completions",
              [this](const HttpRequest& req, const std::shared_ptr<Exchange>& ex) {
                guarded(ex, [&] { completion(req, ex, true); });
              });
    svr.route("POST", "/v1/completions", [this](const HttpRequest& req, const std::shared_ptr<Exchange>& ex) {
      guarded(ex, [&] { completion(req, ex, false); });
    });
    // The chat page (web/), or what Ollama answers at its root for clients that do not ask for HTML.
    if (opt_.webui || opt_.ollama_api)
      svr.route(
          "GET", "/",
          [this](const HttpRequest& req, const std::shared_ptr<Exchange>& ex) {
            if (!opt_.webui || (opt_.ollama_api && !accepts_html(req.header("accept"))))
              return ex->respond(200, "text/plain; charset=utf-8", "Ollama is running");
            if (req.header("if-none-match") == webui_etag()) return ex->respond(304, "", "", webui_headers());
            ex->respond(200, "text/html; charset=utf-8", std::string(webui_page()), webui_headers());
          },
          true);
    for (bool load : {true, false})
      svr.route("POST", load ? "/v1/load_lora_adapter" : "/v1/unload_lora_adapter",
                [this, load](const HttpRequest& req, const std::shared_ptr<Exchange>& ex) {
                  guarded(ex, [&] {
                    AdapterRegistry& a = *served_.adapters;
                    ex->respond(200, "text/plain; charset=utf-8",
                                load ? a.load_request(req.body) : a.unload_request(req.body));
                  });
                });
    setup_frontends(svr);
  }

 private:
  // --cors-origin: every answer to an allowed origin carries Access-Control-Allow-Origin (errors and 401s
  // too, so a browser app can read them); a preflight is answered here, before authentication (browsers send
  // no credentials with it). True when the request was answered.
  bool cross_origin(const HttpRequest& req, const std::shared_ptr<Exchange>& ex) {
    std::string origin = req.header("origin");
    bool preflight = req.method == "OPTIONS" && !req.header("access-control-request-method").empty();
    if (!cors_.allows(origin)) {
      if (!preflight || origin.empty()) return false;
      fail(ex, ApiError{403, strfmt("Origin %s is not allowed (see --cors-origin)", origin.c_str()),
                        "invalid_request_error", "", "origin_not_allowed"});
      return true;
    }
    if (!preflight) {
      ex->add_headers(cors_headers(cors_, origin));
      return false;
    }
    ex->respond(204, "", "",
                cors_preflight_headers(cors_, origin, req.header("access-control-request-headers")));
    return true;
  }

  ojson model_object() const {
    return {{"id", served_.id}, {"object", "model"}, {"created", created_}, {"owned_by", "qwen3.cpp"}};
  }

  void fail(const std::shared_ptr<Exchange>& ex, const ApiError& e,
            std::vector<std::pair<std::string, std::string>> headers = {},
            ErrorShape shape = ErrorShape::kOpenAI) {
    if (e.status == 429 || e.status == 503)
      ++http_.rejected_busy;
    else if (e.status < 500)
      ++http_.client_errors;
    ex->respond(e.status, kJson, error_body(e, shape), std::move(headers));
  }

  // The one place a request's failure becomes an HTTP error (in the shape of the API that was called).
  template <class F>
  void guarded(const std::shared_ptr<Exchange>& ex, F&& f, ErrorShape shape = ErrorShape::kOpenAI) {
    try {
      f();
    } catch (const ApiError& e) {
      fail(ex, e, {}, shape);
    } catch (const SchedulerStopped& e) {
      fail(ex, ApiError{503, e.what(), "server_error", "", "shutting_down"}, {{"Retry-After", "1"}}, shape);
    } catch (const QueueFull& e) {
      fail(ex, ApiError{429, e.what(), "rate_limit_error", "", "queue_full"}, {{"Retry-After", "1"}}, shape);
    } catch (const Error& e) {
      fail(ex, ApiError{400, e.what(), "invalid_request_error", "", ""}, {}, shape);
    } catch (const nlohmann::json::exception& e) {
      fail(ex, ApiError{400, e.what(), "invalid_request_error", "", ""}, {}, shape);
    } catch (const std::bad_alloc&) {
      fail(ex, ApiError{503, "out of memory for this request", "server_error", "", ""}, {}, shape);
    }
  }

  // The Responses API, Ollama's and Anthropic's: each prepares a request and its writer (frontend.h).
  void setup_frontends(HttpServer& svr) {
    using Prepare = std::function<Prepared(const HttpRequest&)>;
    auto post = [&](const char* path, Prepare prepare) {
      svr.route("POST", path, [this, prepare](const HttpRequest& req, const std::shared_ptr<Exchange>& ex) {
        guarded(
            ex, [&] { submit(ex, prepare(req)); }, error_shape_for(req.path));
      });
    };
    // Answered at once; on the I/O thread (inline) only where no body is parsed or large answer written.
    auto get = [&](const char* method, const char* path, std::function<std::string(const HttpRequest&)> f,
                   bool inline_handler = false) {
      svr.route(
          method, path,
          [this, f](const HttpRequest& req, const std::shared_ptr<Exchange>& ex) {
            guarded(
                ex, [&] { ex->respond(200, kJson, f(req)); }, error_shape_for(req.path));
          },
          inline_handler);
    };
    post("/v1/responses",
         [this](const HttpRequest& req) { return prepare_response(req.body, served_, responses_); });
    get("GET", "/v1/responses/",
        [this](const HttpRequest& req) { return stored_response(req.path, responses_); });
    get("DELETE", "/v1/responses/",
        [this](const HttpRequest& req) { return delete_response(req.path, responses_); });
    post("/v1/messages", [this](const HttpRequest& req) { return prepare_messages(req.body, served_); });
    get("POST", "/v1/messages/count_tokens",
        [this](const HttpRequest& req) { return count_tokens(req.body, served_); });
    if (!opt_.ollama_api) return;
    post("/api/chat", [this](const HttpRequest& req) { return prepare_ollama_chat(req.body, served_); });
    post("/api/generate",
         [this](const HttpRequest& req) { return prepare_ollama_generate(req.body, served_); });
    get(
        "GET", "/api/tags", [this](const HttpRequest&) { return ollama_tags(served_); }, true);
    get("POST", "/api/show", [this](const HttpRequest& req) { return ollama_show(req.body, served_); });
    get(
        "GET", "/api/ps", [this](const HttpRequest&) { return ollama_ps(served_); }, true);
    get(
        "GET", "/api/version", [](const HttpRequest&) { return ollama_version(); }, true);
  }

  void completion(const HttpRequest& req, const std::shared_ptr<Exchange>& ex, bool chat) {
    Prepared p;
    p.request = std::make_unique<ApiRequest>(chat ? parse_chat_request(req.body, served_)
                                                  : parse_completion_request(req.body, served_));
    p.writer =
        std::make_unique<ResponseBuilder>(*p.request, served_, (chat ? "chatcmpl-" : "cmpl-") + random_id(),
                                          static_cast<int64_t>(std::time(nullptr)));
    p.request->stream ? set_sse(p) : set_json(p);
    submit(ex, std::move(p));
  }

  void submit(const std::shared_ptr<Exchange>& ex, Prepared p) {
    if (!p.immediate.empty()) return ex->respond(200, kJson, std::move(p.immediate));
    Scheduler* scheduler = scheduler_.load(std::memory_order_acquire);
    if (!scheduler) throw SchedulerStopped("the server is shutting down");
    auto job = std::make_shared<Job>();
    job->exchange = ex;
    job->request = std::move(p.request);
    job->builder = std::move(p.writer);
    // The adapters the request's "model" names (a 404 for an unknown one, before anything is sent).
    job->request->lora = served_.adapters->resolve(job->request->model, served_.id);
    const ApiRequest& r = *job->request;
    // Nothing is sent before this handler returns: an exception below still turns into an error response.
    // While nothing else is written for a second, a keep-alive goes out (SSE comments and leading JSON
    // whitespace are ignored by clients); a failed write is how a client that left is noticed.
    ex->begin_stream(200, p.content_type, p.keepalive, {{"Cache-Control", "no-cache"}});
    ex->write(job->builder->start());
    std::vector<SequenceRequest> seqs;
    for (int i = 0; i < r.n; ++i) {
      SequenceRequest s;
      s.prompt = r.prompt;
      s.params = r.chat_request.generation;
      s.params.sampling.seed += static_cast<uint64_t>(i);  // choices differ, each reproducible
      s.top_logprobs = r.top_logprobs;
      s.cancel = job->cancel;
      s.lora = r.lora;
      Job* j = job.get();
      s.on_token = [j, i](int32_t id, std::string_view text, const TokenLogprob* lp) {
        std::string out = j->builder->on_token(i, id, text, lp);
        if (!out.empty()) j->exchange->write(out);
        return !j->cancel->load();
      };
      // The callback keeps the job alive until the scheduler is done with it.
      s.on_done = [this, job, i](SequenceOutcome& out) {
        job->completion_tokens += out.generation.tokens.size();
        if (out.first_token_seconds > 0 &&
            (job->first_token_seconds < 0 || out.first_token_seconds < job->first_token_seconds))
          job->first_token_seconds = out.first_token_seconds;
        std::string tail = job->builder->on_done(i, out);
        if (tail.empty()) return;
        job->exchange->log_number("prompt_tokens", static_cast<double>(job->request->prompt.size()));
        job->exchange->log_number("completion_tokens", static_cast<double>(job->completion_tokens));
        if (job->first_token_seconds >= 0) job->exchange->log_number("ttft_s", job->first_token_seconds);
        bool delivered = job->exchange->write(tail);
        job->exchange->end();
        --http_.in_flight;
        if (delivered && !job->cancel->load())
          ++http_.completions_ok;
        else
          ++http_.disconnects;
      };
      seqs.push_back(std::move(s));
    }
    ex->on_close([cancel = job->cancel] { cancel->store(true); });
    ++http_.in_flight;
    try {
      scheduler->submit(std::move(seqs));
    } catch (...) {
      --http_.in_flight;
      throw;
    }
  }

  const ServedModel& served_;  // filled in before start()
  std::atomic<Scheduler*> scheduler_{nullptr};
  std::atomic<bool> ready_{false}, draining_{false};
  ServerOptions opt_;
  CorsPolicy cors_;
  HttpCounters http_;
  HttpServer* http_server_ = nullptr;
  ResponseStore responses_;
  int64_t created_ = static_cast<int64_t>(std::time(nullptr));
};

// Waits on a condition with a deadline, polling (the conditions are counters the other threads change).
template <class Pred>
bool wait_until(Pred pred, double seconds) {
  auto end = std::chrono::steady_clock::now() + std::chrono::duration<double>(seconds);
  while (!pred()) {
    if (std::chrono::steady_clock::now() >= end) return false;
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  return true;
}

}  // namespace

void run_server(const std::function<LoadedModel()>& load, ThreadPool* pool, const ServerOptions& opt) {
  QWEN3_CHECK(opt.n_parallel >= 1 && opt.n_parallel <= 256, "--parallel %d: choose 1..256", opt.n_parallel);
  QWEN3_CHECK(opt.max_queue >= 0, "--queue %d: must be >= 0", opt.max_queue);
  QWEN3_CHECK(opt.port >= 0 && opt.port <= 65535, "--port %d: choose 0..65535 (0: any free port)", opt.port);
  // SIGINT/SIGTERM reach the HTTP layer's I/O thread through Asio's signal_set (its handler only wakes that
  // thread); SIGPIPE from a closed socket is ignored (the failed write is how a disconnect is seen).
  signal(SIGPIPE, SIG_IGN);

  ServedModel served;
  HttpLimits limits;
  limits.max_body_bytes = opt.max_body_bytes;
  limits.header_timeout_s = opt.header_timeout_s;
  limits.keep_alive_timeout_s = opt.keep_alive_timeout_s;
  limits.max_connections = opt.max_connections;
  limits.n_workers = std::clamp(opt.n_parallel, 2, 8);
  limits.max_pending = opt.max_queue + opt.n_parallel + 16;
  HttpServer http(limits);
  Server server(served, opt);
  server.setup(http);

  std::atomic<int> n_signals{0};
  std::atomic<bool> loaded{false};
  http.on_signal([&](int n) {
    if (!loaded.load()) {  // nothing to drain while the model loads
      std::fprintf(stderr, "qwen3 serve: stopped while loading the model\n");
      std::fflush(stderr);
      std::_Exit(0);
    }
    // The drain starts here, on the I/O thread, before it reads any request that came after the signal
    // (readiness 503 at once), not at the main thread's next look, which a busy machine can delay.
    server.begin_drain();
    http.begin_drain();
    n_signals.store(n);
  });
  int port = http.start(opt.host, opt.port);
  std::fprintf(stderr,
               "qwen3 serve: listening on %s:%d, loading the model (requests get 503 until it is ready)\n",
               opt.host.c_str(), port);
  std::fflush(stderr);
  LoadedModel m = load();
  served.model = m.model.get();
  served.tokenizer = m.tokenizer.get();
  served.chat_template = m.chat_template.get();
  served.id = std::filesystem::path(m.model->dir).filename().string();
  if (served.id.empty()) served.id = std::filesystem::path(m.model->dir).parent_path().filename().string();
  served.n_ctx = opt.n_ctx;
  served.n_parallel = opt.n_parallel;
  served.vocab = constrain::make_vocabulary(*m.tokenizer, m.model->generation.eos_token_ids);
  GrammarCache grammars;
  served.grammars = &grammars;
  AdapterRegistry adapters(*m.model, opt.max_loras, opt.lora_runtime);
  for (const LoraSpec& a : m.adapters) {
    try {
      adapters.add(a.name, a.path, a.scale);
    } catch (const ApiError& e) {
      throw_error("--lora %s=%s: %s", a.name.c_str(), a.path.c_str(), e.message.c_str());
    }
  }
  served.adapters = &adapters;

  SchedulerOptions so;
  so.n_parallel = opt.n_parallel;
  so.n_ctx = opt.n_ctx;
  so.kv_type = opt.kv_type;
  so.max_queue = opt.max_queue;
  so.max_batch_tokens = std::max(opt.max_batch_tokens, opt.n_parallel);
  so.pool = pool;
  auto scheduler = std::make_unique<Scheduler>(*m.model, *m.tokenizer, so);
  server.start(scheduler.get());
  loaded.store(true);
  std::fprintf(stderr,
               "qwen3 serve: %s on http://%s:%d/v1 (%d slots of %d tokens, %s KV cache, queue %d%s)\n",
               served.id.c_str(), opt.host.c_str(), port, opt.n_parallel, opt.n_ctx, dtype_name(opt.kv_type),
               opt.max_queue, opt.api_key.empty() ? "" : ", API key required");
  if (opt.webui) {
    // A wildcard address is opened in a browser as this host's loopback.
    std::string host = opt.host == "0.0.0.0" ? "127.0.0.1" : opt.host == "::" ? "::1" : opt.host;
    if (host.find(':') != std::string::npos) host = "[" + host + "]";
    std::fprintf(stderr, "qwen3 serve: chat page on http://%s:%d/\n", host.c_str(), port);
  }
  std::fflush(stderr);

  // Serve until a signal; then drain: no new requests (503 shutting_down, readiness 503, liveness 200), the
  // running ones finish for up to drain_timeout_s, then whatever still runs ends with finish_reason "abort".
  while (n_signals.load() == 0) std::this_thread::sleep_for(std::chrono::milliseconds(20));
  int draining = server.in_flight();
  if (draining > 0) {
    std::fprintf(stderr, "qwen3 serve: draining %d request(s), up to %g s (a second signal stops at once)\n",
                 draining, opt.drain_timeout_s);
    std::fflush(stderr);
  }
  wait_until([&] { return server.in_flight() == 0 || n_signals.load() >= 2; }, opt.drain_timeout_s);
  int aborted = server.in_flight();
  // Sequences still running end as aborted and their final chunks are queued; the scheduler object stays (a
  // handler still validating a body gets SchedulerStopped: 503; /health and /metrics still read its stats).
  scheduler->stop();
  wait_until([&] { return http.counters().active_exchanges.load() == 0; }, n_signals.load() >= 2 ? 0.2 : 2.0);
  http.stop();  // joins the I/O thread and the workers before the scheduler (declared later) is destroyed
  std::fprintf(stderr, "qwen3 serve: stopped (%d request(s) drained, %d aborted)\n", draining - aborted,
               aborted);
}

}  // namespace qwen3::server
