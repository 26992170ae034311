// The HTTP glue: routes, authentication, errors in OpenAI's shape, and the bridge between a handler thread
// and the scheduler thread (a Channel of bytes the scheduler's callbacks fill and the chunked content
// provider drains). A write that fails means the client left: the request's cancel flag is set and the
// scheduler frees its slot at the next step.
#include "server/server.h"

#include <httplib.h>
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
#include "server/metrics.h"

namespace qwen3::server {

namespace {

struct Channel {
  std::mutex mu;
  std::condition_variable cv;
  std::string pending;
  bool closed = false;
  void push(std::string s) {
    if (s.empty()) return;
    {
      std::lock_guard lock(mu);
      pending += s;
    }
    cv.notify_one();
  }
  void close(std::string s) {
    {
      std::lock_guard lock(mu);
      pending += s;
      closed = true;
    }
    cv.notify_one();
  }
};

// Everything one completion request owns; shared by the handler, the content provider and the scheduler's
// callbacks.
struct Job {
  ApiRequest request;
  std::unique_ptr<ResponseBuilder> builder;
  Channel channel;
  std::shared_ptr<std::atomic<bool>> cancel = std::make_shared<std::atomic<bool>>(false);
};

std::string random_id() {
  static std::mutex mu;
  static std::mt19937_64 rng(std::random_device{}());
  std::lock_guard lock(mu);
  return strfmt("%016llx", static_cast<unsigned long long>(rng()));
}

class Server {
 public:
  Server(const ServedModel& served, const ServerOptions& opt) : served_(served), opt_(opt) {}

  // The model is loaded: requests are served from now on (before, they get 503).
  void start(Scheduler* scheduler) {
    scheduler_ = scheduler;
    ready_.store(true, std::memory_order_release);
  }

  void setup(httplib::Server& svr) {
    size_t n_threads = static_cast<size_t>(opt_.n_parallel + opt_.max_queue + 16);
    svr.new_task_queue = [n_threads] { return new httplib::ThreadPool(n_threads); };
    svr.set_payload_max_length(opt_.max_body_bytes);
    // httplib waits for idle keep-alive connections to time out before a stop returns: 5 s (its default, as
    // llama-server) bounds how long SIGTERM takes with idle clients connected.
    svr.set_keep_alive_timeout(5);
    svr.set_pre_routing_handler([this](const httplib::Request& req, httplib::Response& res) {
      ++http_.requests;
      if (!ready_.load(std::memory_order_acquire)) {
        if (req.path == "/health") {
          res.status = 503;
          res.set_content(dump({{"status", "loading"}}), "application/json");
        } else {
          fail(res, ApiError{503, "Loading model", "server_error", "", "model_loading"});
        }
        return httplib::Server::HandlerResponse::Handled;
      }
      if (opt_.api_key.empty() || req.path == "/health") return httplib::Server::HandlerResponse::Unhandled;
      if (req.get_header_value("Authorization") == "Bearer " + opt_.api_key)
        return httplib::Server::HandlerResponse::Unhandled;
      fail(res, ApiError{401, "Incorrect API key provided.", "invalid_request_error", "", "invalid_api_key"});
      return httplib::Server::HandlerResponse::Handled;
    });
    // Statuses the library answers itself (404 no route, 413 body too large, 400 bad request line) get a
    // body.
    svr.set_error_handler([this](const httplib::Request& req, httplib::Response& res) {
      if (!res.body.empty()) return;
      ApiError e{res.status, strfmt("HTTP %d", res.status), "invalid_request_error", "", ""};
      if (res.status == 404)
        e.message = strfmt("Unknown request URL: %s %s", req.method.c_str(), req.path.c_str()),
        e.code = "unknown_url";
      if (res.status == 413)
        e.message = strfmt("The request body exceeds the limit of %zu bytes.", opt_.max_body_bytes),
        e.code = "request_too_large";
      fail(res, e);
    });
    svr.set_exception_handler([this](const httplib::Request&, httplib::Response& res, std::exception_ptr) {
      fail(res, ApiError{500, "internal server error", "server_error", "", ""});
    });
    svr.Get("/health", [this](const httplib::Request&, httplib::Response& res) {
      SchedulerStats s = scheduler_->stats();
      res.set_content(dump({{"status", "ok"},
                            {"slots_idle", s.n_parallel - s.active},
                            {"slots_busy", s.active},
                            {"queue_depth", s.queue_depth}}),
                      "application/json");
    });
    svr.Get("/metrics", [this](const httplib::Request&, httplib::Response& res) {
      res.set_content(prometheus_text(http_, scheduler_->stats()), "text/plain; version=0.0.4");
    });
    auto models = [this](const httplib::Request&, httplib::Response& res) {
      ojson m = {{"id", served_.id}, {"object", "model"}, {"created", created_}, {"owned_by", "qwen3.cpp"}};
      res.set_content(dump({{"object", "list"}, {"data", ojson::array({m})}}), "application/json");
    };
    svr.Get("/v1/models", models);
    svr.Get("/v1/models/(.+)", [this](const httplib::Request& req, httplib::Response& res) {
      if (req.matches[1] != served_.id)
        return fail(res, ApiError{404, strfmt("The model '%s' does not exist", req.matches[1].str().c_str()),
                                  "invalid_request_error", "model", "model_not_found"});
      res.set_content(
          dump({{"id", served_.id}, {"object", "model"}, {"created", created_}, {"owned_by", "qwen3.cpp"}}),
          "application/json");
    });
    svr.Post("/v1/chat/completions", [this](const httplib::Request& req, httplib::Response& res) {
      guarded(res, [&] { completion(req, res, true); });
    });
    svr.Post("/v1/completions", [this](const httplib::Request& req, httplib::Response& res) {
      guarded(res, [&] { completion(req, res, false); });
    });
  }

 private:
  void fail(httplib::Response& res, const ApiError& e) {
    if (e.status == 429 || e.status == 503)
      ++http_.rejected_busy;
    else if (e.status < 500)
      ++http_.client_errors;
    res.status = e.status;
    res.set_content(error_body(e), "application/json");
  }

  // The one place a request's failure becomes an HTTP error.
  template <class F>
  void guarded(httplib::Response& res, F&& f) {
    try {
      f();
    } catch (const ApiError& e) {
      fail(res, e);
    } catch (const SchedulerStopped& e) {
      fail(res, ApiError{503, e.what(), "server_error", "", "service_unavailable"});
    } catch (const QueueFull& e) {
      fail(res, ApiError{429, e.what(), "rate_limit_error", "", "queue_full"});
    } catch (const Error& e) {
      fail(res, ApiError{400, e.what(), "invalid_request_error", "", ""});
    } catch (const nlohmann::json::exception& e) {
      fail(res, ApiError{400, e.what(), "invalid_request_error", "", ""});
    } catch (const std::bad_alloc&) {
      fail(res, ApiError{503, "out of memory for this request", "server_error", "", ""});
    }
  }

  void completion(const httplib::Request& req, httplib::Response& res, bool chat) {
    auto job = std::make_shared<Job>();
    job->request = chat ? parse_chat_request(req.body, served_) : parse_completion_request(req.body, served_);
    const ApiRequest& r = job->request;
    job->builder = std::make_unique<ResponseBuilder>(r, served_, (chat ? "chatcmpl-" : "cmpl-") + random_id(),
                                                     static_cast<int64_t>(std::time(nullptr)));
    job->channel.push(job->builder->start());
    std::vector<SequenceRequest> seqs;
    for (int i = 0; i < r.n; ++i) {
      SequenceRequest s;
      s.prompt = r.prompt;
      s.params = r.chat_request.generation;
      s.params.sampling.seed += static_cast<uint64_t>(i);  // choices differ, each reproducible
      s.top_logprobs = r.top_logprobs;
      s.cancel = job->cancel;
      Job* j = job.get();
      s.on_token = [j, i](int32_t id, std::string_view text, const TokenLogprob* lp) {
        j->channel.push(j->builder->on_token(i, id, text, lp));
        return !j->cancel->load();
      };
      // The callback keeps the job alive until the scheduler is done with it.
      s.on_done = [job, i](SequenceOutcome& out) {
        std::string tail = job->builder->on_done(i, out);
        if (!tail.empty()) job->channel.close(std::move(tail));
      };
      seqs.push_back(std::move(s));
    }
    scheduler_->submit(std::move(seqs));
    ++http_.in_flight;
    res.set_header("Cache-Control", "no-cache");
    res.set_chunked_content_provider(
        r.stream ? "text/event-stream" : "application/json",
        [this, job](size_t, httplib::DataSink& sink) {
          std::unique_lock lock(job->channel.mu);
          bool ready = job->channel.cv.wait_for(lock, std::chrono::seconds(1), [&] {
            return !job->channel.pending.empty() || job->channel.closed;
          });
          std::string out;
          out.swap(job->channel.pending);
          bool closed = job->channel.closed;
          lock.unlock();
          // Nothing for a second (queued, or a long prefill): a keep-alive that is also how a client that
          // left is noticed. SSE comments and leading JSON whitespace are ignored by clients.
          if (!ready) out = job->request.stream ? ": keep-alive\n\n" : " ";
          if (!out.empty() && !sink.write(out.data(), out.size())) {
            job->cancel->store(true);
            return false;
          }
          if (closed) sink.done();
          return true;
        },
        [this, job](bool success) {
          --http_.in_flight;
          bool closed;
          {
            std::lock_guard lock(job->channel.mu);
            closed = job->channel.closed;
          }
          if (!success || !closed) {
            job->cancel->store(true);
            ++http_.disconnects;
          } else {
            ++http_.completions_ok;
          }
        });
  }

  const ServedModel& served_;  // filled in before start()
  Scheduler* scheduler_ = nullptr;
  std::atomic<bool> ready_{false};
  ServerOptions opt_;
  HttpCounters http_;
  int64_t created_ = static_cast<int64_t>(std::time(nullptr));
};

}  // namespace

void run_server(const std::function<LoadedModel()>& load, ThreadPool* pool, const ServerOptions& opt) {
  QWEN3_CHECK(opt.n_parallel >= 1 && opt.n_parallel <= 256, "--parallel %d: choose 1..256", opt.n_parallel);
  QWEN3_CHECK(opt.max_queue >= 0, "--queue %d: must be >= 0", opt.max_queue);
  // SIGINT/SIGTERM are handled by one thread (sigwait) that stops the server; SIGPIPE from a closed socket is
  // ignored (the failed write is how a disconnect is seen).
  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, SIGINT);
  sigaddset(&set, SIGTERM);
  pthread_sigmask(SIG_BLOCK, &set, nullptr);
  signal(SIGPIPE, SIG_IGN);

  ServedModel served;
  httplib::Server svr;
  Server server(served, opt);
  server.setup(svr);
  int port = opt.port;
  if (port == 0) {
    port = svr.bind_to_any_port(opt.host);
    QWEN3_CHECK(port > 0, "cannot listen on %s (any port)", opt.host.c_str());
  } else {
    QWEN3_CHECK(svr.bind_to_port(opt.host, port),
                "cannot listen on %s:%d (in use, or not an address of this host)", opt.host.c_str(), port);
  }
  std::thread signals([&] {
    int sig = 0;
    sigwait(&set, &sig);
    if (sig != 0) svr.stop();
  });
  std::thread listener([&] { svr.listen_after_bind(); });
  // Both threads end once the listener stops (a signal, or a failed load below).
  auto join_threads = [&] {
    listener.join();
    pthread_kill(signals.native_handle(), SIGTERM);
    signals.join();
  };
  std::fprintf(stderr,
               "qwen3 serve: listening on %s:%d, loading the model (requests get 503 until it is ready)\n",
               opt.host.c_str(), port);
  std::fflush(stderr);
  LoadedModel m;
  try {
    m = load();
  } catch (...) {
    svr.stop();
    join_threads();
    throw;
  }
  served.model = m.model.get();
  served.tokenizer = m.tokenizer.get();
  served.chat_template = m.chat_template.get();
  served.id = std::filesystem::path(m.model->dir).filename().string();
  if (served.id.empty()) served.id = std::filesystem::path(m.model->dir).parent_path().filename().string();
  served.n_ctx = opt.n_ctx;
  served.n_parallel = opt.n_parallel;

  SchedulerOptions so;
  so.n_parallel = opt.n_parallel;
  so.n_ctx = opt.n_ctx;
  so.kv_type = opt.kv_type;
  so.max_queue = opt.max_queue;
  so.max_batch_tokens = std::max(opt.max_batch_tokens, opt.n_parallel);
  so.pool = pool;
  Scheduler scheduler(*m.model, *m.tokenizer, so);
  server.start(&scheduler);
  std::fprintf(stderr,
               "qwen3 serve: %s on http://%s:%d/v1 (%d slots of %d tokens, %s KV cache, queue %d%s)\n",
               served.id.c_str(), opt.host.c_str(), port, opt.n_parallel, opt.n_ctx, dtype_name(opt.kv_type),
               opt.max_queue, opt.api_key.empty() ? "" : ", API key required");
  std::fflush(stderr);
  join_threads();  // until a signal stops the server
  std::fprintf(stderr, "qwen3 serve: stopped\n");
}

}  // namespace qwen3::server
