// qwen3 pull: the Hub protocol (hub.h), parallel resumable downloads, digests checked before a blob is moved
// into place, and the progress a user sees. Tested against a stand-in Hub (tests/hub/).
#include <signal.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <memory>
#include <mutex>
#include <thread>

#include "core/error.h"
#include "core/json.h"
#include "core/timer.h"
#include "hub/cache.h"
#include "hub/digest.h"
#include "hub/http.h"
#include "hub/select.h"

namespace qwen3::hub {

namespace fs = std::filesystem;

namespace {

std::atomic<bool> g_interrupted{false};

void on_sigint(int) {
  g_interrupted.store(true);
}

// SIGINT sets g_interrupted for the duration of a pull (transfers stop, partial files stay resumable);
// the handler before is restored after.
class InterruptScope {
 public:
  InterruptScope() {
    g_interrupted.store(false);
    struct sigaction sa {};
    sa.sa_handler = on_sigint;
    sigemptyset(&sa.sa_mask);
    sa.sa_flags = SA_RESETHAND;  // a second Ctrl-C kills as usual
    ::sigaction(SIGINT, &sa, &old_);
  }
  ~InterruptScope() { ::sigaction(SIGINT, &old_, nullptr); }

 private:
  struct sigaction old_ {};
};

// Percent-encodes all but unreserved characters and '/' (urllib.parse.quote, as hf_hub_url uses it).
std::string quote(const std::string& s, bool keep_slash = true) {
  static const char* kHex = "0123456789ABCDEF";
  std::string out;
  for (unsigned char c : s) {
    if (std::isalnum(c) || c == '-' || c == '_' || c == '.' || c == '~' || (keep_slash && c == '/')) {
      out += static_cast<char>(c);
    } else {
      out += '%';
      out += kHex[c >> 4];
      out += kHex[c & 15];
    }
  }
  return out;
}

std::string human_bytes(double b) {
  const char* units[] = {"B", "KiB", "MiB", "GiB", "TiB"};
  int u = 0;
  while (b >= 1024 && u < 4) {
    b /= 1024;
    ++u;
  }
  return u == 0 ? strfmt("%.0f B", b) : strfmt("%.1f %s", b, units[u]);
}

// The ETag of huggingface_hub's _normalize_etag: no W/ prefix, no quotes.
std::string normalize_etag(std::string e) {
  if (e.rfind("W/", 0) == 0) e = e.substr(2);
  if (e.size() >= 2 && e.front() == '"' && e.back() == '"') e = e.substr(1, e.size() - 2);
  return e;
}

std::string host_of(const std::string& url) {
  size_t s = url.find("://");
  size_t start = s == std::string::npos ? 0 : s + 3;
  size_t end = url.find_first_of("/?#", start);
  return url.substr(start, end == std::string::npos ? std::string::npos : end - start);
}

bool retryable_status(long s) {
  return s == 408 || s == 429 || s >= 500;
}

// One line for an HTTP error of the Hub (X-Error-Code as huggingface_hub's hf_raise_for_status reads it).
[[noreturn]] void throw_hub_error(const HttpResponse& r, const std::string& repo, const std::string& what,
                                  const HubEnv& env) {
  std::string code = r.header("x-error-code");
  std::string message = r.header("x-error-message");
  std::string detail = message.empty() ? "" : " (" + message + ")";
  if (code == "GatedRepo" || ((r.status == 401 || r.status == 403) && code.empty() && !env.token.empty())) {
    if (env.token.empty())
      throw_error("%s is gated: accept its licence at %s/%s and set HF_TOKEN to a token of that account",
                  repo.c_str(), env.endpoint.c_str(), repo.c_str());
    throw_error(
        "%s is gated and HF_TOKEN has no access to it: accept its licence at %s/%s with that account%s",
        repo.c_str(), env.endpoint.c_str(), repo.c_str(), detail.c_str());
  }
  if (code == "RepoNotFound" || (r.status == 401 && code.empty()))
    throw_error("%s: no such repository on %s%s", repo.c_str(), env.endpoint.c_str(),
                env.token.empty() ? " (or it is private: set HF_TOKEN)" : "");
  if (code == "RevisionNotFound")
    throw_error("%s: %s: no such revision%s", repo.c_str(), what.c_str(), detail.c_str());
  if (code == "EntryNotFound" || r.status == 404)
    throw_error("%s: %s: not found%s", repo.c_str(), what.c_str(), detail.c_str());
  if (r.status == 401 || r.status == 403)
    throw_error("%s: access refused (HTTP %ld)%s: check HF_TOKEN", repo.c_str(), r.status, detail.c_str());
  throw_error("%s: %s: HTTP %ld from %s%s", repo.c_str(), what.c_str(), r.status, r.url.c_str(),
              detail.c_str());
}

struct FileJob {
  std::string path;  // in the repo
  std::string etag;  // the blob's name
  uint64_t size = 0;
  std::string url;    // where the bytes are (the CDN's address, or the resolve URL)
  uint64_t have = 0;  // bytes already in blobs/<etag>.incomplete
  bool done = false;  // the snapshot already points at a blob that is there
};

struct Progress {
  std::atomic<uint64_t> bytes{0};  // written in this run
  uint64_t total = 0;              // to write in this run
  bool tty = false;
  std::mutex mu;  // one line at a time on stderr
  bool bar_drawn = false;

  void line(const std::string& text) {
    std::lock_guard<std::mutex> lock(mu);
    std::fprintf(stderr, "%s%s\n", bar_drawn ? "\r\033[K" : "", text.c_str());
    bar_drawn = false;
  }
};

class Puller {
 public:
  Puller(const RepoRef& ref, const PullOptions& opt, const HubEnv& env)
      : ref_(ref), opt_(opt), env_(env), repo_dir_(repo_cache_dir(env, ref.repo)) {}

  std::string run();

 private:
  HttpRequest request(const std::string& url) const {
    HttpRequest req;
    req.url = url;
    req.bearer_token = env_.token;
    req.abort = &abort_;
    return req;
  }
  // A request to the Hub retried on transport failures and 5xx (backoff); statuses returned.
  // retry_transport false: a failed connection is reported at once (the first contact: no network at all
  // should not cost a minute of backoff).
  HttpResponse with_retries(const HttpRequest& req, const std::string& what, bool retry_transport = true);
  void head_file(FileJob& job);
  void download(FileJob& job);
  void sleep_backoff(int attempt);

  RepoRef ref_;
  PullOptions opt_;
  HubEnv env_;
  std::string repo_dir_;
  std::string commit_;
  std::atomic<bool> abort_{false};
  Progress progress_;
};

void Puller::sleep_backoff(int attempt) {
  // 0.5, 1, 2, 4, 8 s ... at most 30 s, in small steps so that Ctrl-C is not kept waiting.
  double s = std::min(30.0, 0.5 * static_cast<double>(1 << std::min(attempt, 6)));
  for (double t = 0; t < s && !abort_.load() && !g_interrupted.load(); t += 0.05)
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
}

HttpResponse Puller::with_retries(const HttpRequest& req, const std::string& what, bool retry_transport) {
  for (int attempt = 0;; ++attempt) {
    try {
      HttpResponse r = http_request(req);
      if (!retryable_status(r.status) || attempt >= opt_.retries) return r;
      progress_.line(
          strfmt("pull: %s: HTTP %ld, retrying (%d/%d)", what.c_str(), r.status, attempt + 1, opt_.retries));
    } catch (const TransportError& e) {
      if (g_interrupted.load() || abort_.load()) throw Error("interrupted");
      if (attempt >= opt_.retries || !retry_transport)
        throw_error("%s: cannot reach %s: %s (HF_HUB_OFFLINE=1 uses the cache alone)", what.c_str(),
                    env_.endpoint.c_str(), e.what());
      progress_.line(
          strfmt("pull: %s: %s, retrying (%d/%d)", what.c_str(), e.what(), attempt + 1, opt_.retries));
    }
    sleep_backoff(attempt);
  }
}

void Puller::head_file(FileJob& job) {
  fs::path pointer = fs::path(repo_dir_) / "snapshots" / commit_ / job.path;
  if (fs::exists(pointer)) {  // follows the link: its blob is there
    job.done = true;
    return;
  }
  std::string url = env_.endpoint + "/" + ref_.repo + "/resolve/" + commit_ + "/" + quote(job.path);
  HttpRequest req = request(url);
  req.head = true;
  HttpResponse r;
  // Relative redirects (a renamed repo) are followed; an absolute one is the CDN: its headers carry the
  // metadata and its Location is where the bytes are (huggingface_hub's get_hf_file_metadata).
  for (int hops = 0;; ++hops) {
    r = with_retries(req, job.path);
    std::string location = r.header("location");
    if (r.status >= 300 && r.status < 400 && !location.empty() && location[0] == '/' && hops < 10) {
      size_t scheme = req.url.find("://");
      req.url = req.url.substr(0, req.url.find('/', scheme + 3)) + location;
      continue;
    }
    break;
  }
  if (r.status >= 400) throw_hub_error(r, ref_.repo, job.path, env_);
  std::string etag = r.header("x-linked-etag");
  if (etag.empty()) etag = r.header("etag");
  job.etag = normalize_etag(etag);
  std::string size = r.header("x-linked-size");
  if (size.empty()) size = r.header("content-length");
  QWEN3_CHECK(!job.etag.empty() && !size.empty() && !r.header("x-repo-commit").empty(),
              "%s: %s: the server's answer lacks X-Repo-Commit, ETag or the size: is %s a Hugging Face Hub?",
              ref_.repo.c_str(), job.path.c_str(), env_.endpoint.c_str());
  QWEN3_CHECK(job.etag.find('/') == std::string::npos && job.etag.find("..") == std::string::npos,
              "%s: %s: unusable ETag %s", ref_.repo.c_str(), job.path.c_str(), job.etag.c_str());
  job.size = std::strtoull(size.c_str(), nullptr, 10);
  std::string location = r.header("location");
  job.url = r.status >= 300 && r.status < 400 && !location.empty() ? location : req.url;
  std::string blob = repo_dir_ + "/blobs/" + job.etag;
  std::error_code ec;
  if (fs::exists(blob)) return;  // linked without a download
  uint64_t have = fs::file_size(blob + ".incomplete", ec);
  job.have = ec ? 0 : std::min<uint64_t>(have, job.size);
}

void Puller::download(FileJob& job) {
  std::string blob = repo_dir_ + "/blobs/" + job.etag;
  std::string incomplete = blob + ".incomplete";
  BlobLock lock(env_, ref_.repo, job.etag);
  std::error_code ec;
  fs::create_directories(repo_dir_ + "/blobs", ec);
  QWEN3_CHECK(!ec, "%s/blobs: %s", repo_dir_.c_str(), ec.message().c_str());
  if (!fs::exists(blob)) {
    double t0 = now_seconds();
    uint64_t counted = job.have;  // bytes of the file that progress_ has been told of (from job.have on)
    for (int attempt = 0;; ++attempt) {
      std::unique_ptr<FILE, int (*)(FILE*)> f(std::fopen(incomplete.c_str(), "ab"), &std::fclose);
      QWEN3_CHECK(f, "%s: cannot open for writing", incomplete.c_str());
      uint64_t offset = fs::file_size(incomplete, ec);
      if (ec || offset > job.size) {  // longer than the file: a different file was there; start again
        fs::resize_file(incomplete, 0, ec);
        offset = 0;
      }
      if (offset == job.size && job.size > 0) break;
      // The bar moves as bytes arrive; after the attempt the count is set right from the file's size.
      auto on_bytes = [&](size_t n) {
        progress_.bytes += n;
        counted += n;
      };
      std::string failure;
      try {
        HttpRequest req = request(job.url);
        req.follow_redirects = true;
        // huggingface_hub's rule: a URL on another host than the Hub's is a signed CDN URL: no token there.
        if (host_of(job.url) != host_of(env_.endpoint)) req.bearer_token.clear();
        HttpResponse r = http_download(req, f.get(), offset, on_bytes);
        std::fflush(f.get());
        if (r.status == 416) {
          fs::resize_file(incomplete, 0, ec);
          failure = "the server refused the range";
        } else if (r.status >= 400 && !retryable_status(r.status)) {
          throw_hub_error(r, ref_.repo, job.path, env_);
        } else if (r.status >= 400) {
          failure = strfmt("HTTP %ld", r.status);
        }
      } catch (const TransportError& e) {
        std::fflush(f.get());
        if (g_interrupted.load() || abort_.load())
          throw_error("interrupted (%s stays for the next `qwen3 pull` to resume)", incomplete.c_str());
        failure = e.what();
      }
      f.reset();
      uint64_t now_size = fs::file_size(incomplete, ec);
      if (ec) now_size = 0;
      // Progress follows the file: a restart from 0 (ignored Range) takes back what was counted.
      if (now_size >= counted) {
        progress_.bytes += now_size - counted;
      } else {
        progress_.bytes -= std::min<uint64_t>(progress_.bytes, counted - now_size);
      }
      counted = now_size;
      if (failure.empty() && now_size == job.size) break;
      if (failure.empty())
        failure = strfmt("connection closed at %s of %s", human_bytes(now_size).c_str(),
                         human_bytes(job.size).c_str());
      QWEN3_CHECK(attempt < opt_.retries, "%s: download failed after %d tries: %s (run again to resume)",
                  job.path.c_str(), attempt + 1, failure.c_str());
      progress_.line(strfmt("pull: %s: %s, resuming (%d/%d)", job.path.c_str(), failure.c_str(), attempt + 1,
                            opt_.retries));
      sleep_backoff(attempt);
      if (g_interrupted.load() || abort_.load())
        throw_error("interrupted (%s stays for the next `qwen3 pull` to resume)", incomplete.c_str());
    }
    if (job.size == 0) {  // an empty file: no request ever wrote it
      std::unique_ptr<FILE, int (*)(FILE*)> f(std::fopen(incomplete.c_str(), "ab"), &std::fclose);
      QWEN3_CHECK(f, "%s: cannot create", incomplete.c_str());
    }
    // The digest the Hub named the blob by: sha256 for LFS files, the git blob sha1 for the others.
    std::string digest;
    if (job.etag.size() == 64)
      digest = sha256_file(incomplete);
    else if (job.etag.size() == 40)
      digest = git_blob_sha1_file(incomplete);
    if (!digest.empty() && digest != job.etag) {
      fs::remove(incomplete, ec);
      throw_error("%s: %s mismatch: the Hub says %s, the download has %s; it was deleted (run again)",
                  job.path.c_str(), job.etag.size() == 64 ? "sha256" : "git sha1", job.etag.c_str(),
                  digest.c_str());
    }
    fs::rename(incomplete, blob, ec);
    QWEN3_CHECK(!ec, "%s: %s", blob.c_str(), ec.message().c_str());
    if (!progress_.tty) {
      double dt = std::max(1e-3, now_seconds() - t0);
      progress_.line(strfmt("pull: %s: %s in %.1f s (%s/s)", job.path.c_str(), human_bytes(job.size).c_str(),
                            dt, human_bytes((job.size - job.have) / dt).c_str()));
    }
  }
  link_snapshot_file(repo_dir_, commit_, job.path, job.etag);
}

std::string Puller::run() {
  std::string what = "revision " + opt_.revision;
  std::string api = env_.endpoint + "/api/models/" + ref_.repo + "/revision/" + quote(opt_.revision, false);
  HttpResponse r = with_retries(request(api), ref_.repo, false);
  if (r.status != 200) throw_hub_error(r, ref_.repo, what, env_);
  nlohmann::ordered_json info;
  std::string err;
  QWEN3_CHECK(try_parse_json(r.body, info, &err) && info.is_object() && info.contains("sha") &&
                  info["sha"].is_string() && is_commit_hash(info["sha"].get<std::string>()),
              "%s: the Hub's answer for %s is not a model revision (%s)", ref_.repo.c_str(), what.c_str(),
              err.empty() ? "no commit sha" : err.c_str());
  commit_ = info["sha"].get<std::string>();
  std::vector<std::string> repo_files;
  if (info.contains("siblings") && info["siblings"].is_array())
    for (auto& s : info["siblings"])
      if (s.is_object() && s.contains("rfilename") && s["rfilename"].is_string())
        repo_files.push_back(s["rfilename"].get<std::string>());
  for (const std::string& f : repo_files)
    QWEN3_CHECK(
        !f.empty() && f[0] != '/' && f.find("..") == std::string::npos && f.find('\\') == std::string::npos,
        "%s: unsafe file name %s in the Hub's answer", ref_.repo.c_str(), f.c_str());
  ModelFiles mf = select_model_files(repo_files, ref_.quant, opt_.include);
  QWEN3_CHECK(mf.error.empty(), "%s %s", ref_.repo.c_str(), mf.error.c_str());

  std::vector<FileJob> jobs(mf.files.size());
  for (size_t i = 0; i < jobs.size(); ++i) jobs[i].path = mf.files[i];
  progress_.tty = ::isatty(STDERR_FILENO);
  // Runs fn on every job, opt_.parallel at a time; the first error stops the others (their partial files
  // stay) and is rethrown. `draw` runs on this thread meanwhile.
  auto parallel = [&](auto fn, const std::function<void()>& draw) {
    std::atomic<size_t> next{0};
    std::exception_ptr first_error;
    std::mutex error_mu;
    std::vector<std::thread> threads;
    std::atomic<int> running{0};
    int n = std::max(1, std::min<int>(opt_.parallel, static_cast<int>(jobs.size())));
    for (int t = 0; t < n; ++t) {
      ++running;
      threads.emplace_back([&] {
        for (size_t i; (i = next++) < jobs.size() && !abort_.load();) {
          try {
            fn(jobs[i]);
          } catch (...) {
            std::lock_guard<std::mutex> lock(error_mu);
            if (!first_error) first_error = std::current_exception();
            abort_.store(true);
          }
        }
        --running;
      });
    }
    while (running.load() > 0) {
      if (g_interrupted.load()) abort_.store(true);
      if (draw) draw();
      std::this_thread::sleep_for(std::chrono::milliseconds(100));
    }
    for (auto& th : threads) th.join();
    if (first_error) std::rethrow_exception(first_error);
    if (g_interrupted.load()) throw Error("interrupted");
  };
  parallel([&](FileJob& j) { head_file(j); }, nullptr);

  size_t n_fetch = 0;
  for (const FileJob& j : jobs)
    if (!j.done && !fs::exists(repo_dir_ + "/blobs/" + j.etag)) {
      progress_.total += j.size - j.have;
      ++n_fetch;
    }
  std::string label = ref_.repo + (ref_.quant.empty() ? "" : ":" + ref_.quant);
  if (n_fetch > 0)
    progress_.line(strfmt("pull: %s at %.12s: %zu of %zu files, %s to download into %s", label.c_str(),
                          commit_.c_str(), n_fetch, jobs.size(), human_bytes(progress_.total).c_str(),
                          env_.cache_dir.c_str()));
  double t0 = now_seconds();
  auto draw = [&] {
    if (!progress_.tty || progress_.total == 0) return;
    double done = static_cast<double>(progress_.bytes.load());
    double dt = now_seconds() - t0;
    double rate = dt > 0.5 ? done / dt : 0;
    std::string eta = "--:--";
    if (rate > 0) {
      long s = static_cast<long>((progress_.total - done) / rate);
      eta = strfmt("%ld:%02ld", s / 60, s % 60);
    }
    constexpr int kWidth = 30;
    int filled = static_cast<int>(done / progress_.total * kWidth);
    std::string bar(filled, '#');
    bar.resize(kWidth, '.');
    std::lock_guard<std::mutex> lock(progress_.mu);
    std::fprintf(stderr, "\r\033[Kpull %s [%s] %3d%% %s / %s %s/s ETA %s", label.c_str(), bar.c_str(),
                 static_cast<int>(100 * done / progress_.total), human_bytes(done).c_str(),
                 human_bytes(progress_.total).c_str(), human_bytes(rate).c_str(), eta.c_str());
    std::fflush(stderr);
    progress_.bar_drawn = true;
  };
  parallel(
      [&](FileJob& j) {
        if (!j.done) download(j);
      },
      draw);
  {
    std::lock_guard<std::mutex> lock(progress_.mu);
    if (progress_.bar_drawn) std::fprintf(stderr, "\r\033[K");
    progress_.bar_drawn = false;
  }
  write_ref(repo_dir_, opt_.revision, commit_);
  std::string snap = repo_dir_ + "/snapshots/" + commit_;
  if (n_fetch > 0)
    progress_.line(strfmt("pull: %s: %s in %.1f s", label.c_str(), human_bytes(progress_.total).c_str(),
                          now_seconds() - t0));
  return mf.gguf.empty() ? snap : snap + "/" + mf.gguf;
}

}  // namespace

std::string pull(const RepoRef& ref, const PullOptions& options, const HubEnv& env) {
  if (env.offline) {  // as snapshot_download offline: the cached snapshot, when there is one
    if (auto local = find_cached_model(ref, options.revision, env)) return *local;
    throw_error("%s: not in the Hugging Face cache %s, and HF_HUB_OFFLINE is set: nothing can be downloaded",
                ref.repo.c_str(), env.cache_dir.c_str());
  }
  http_global_init();
  InterruptScope scope;
  PullOptions opt = options;
  if (const char* r = std::getenv("QWEN3_HUB_RETRIES")) opt.retries = std::max(0, std::atoi(r));
  Puller p(ref, opt, env);
  return p.run();
}

std::string resolve_model(const RepoRef& ref, const HubEnv& env) {
  if (auto local = find_cached_model(ref, "main", env)) return *local;
  std::string name = ref.repo + (ref.quant.empty() ? "" : ":" + ref.quant);
  QWEN3_CHECK(
      !env.offline,
      "%s: not in the Hugging Face cache %s, and HF_HUB_OFFLINE is set (unset it, or run `qwen3 pull %s` "
      "where there is a network)",
      name.c_str(), env.cache_dir.c_str(), name.c_str());
  return pull(ref, PullOptions{}, env);
}

}  // namespace qwen3::hub
