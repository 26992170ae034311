#include "core/background.h"

#include <deque>
#include <thread>

namespace qwen3 {

class BackgroundThread {
 public:
  BackgroundThread() : thread_([this] { loop(); }) {}
  ~BackgroundThread() {
    {
      std::lock_guard lock(mu_);
      stop_ = true;
    }
    cv_.notify_one();
    thread_.join();
  }
  void push(std::shared_ptr<BackgroundJob> job) {
    {
      std::lock_guard lock(mu_);
      queue_.push_back(std::move(job));
    }
    cv_.notify_one();
  }

 private:
  void loop() {
    for (;;) {
      std::shared_ptr<BackgroundJob> job;
      {
        std::unique_lock lock(mu_);
        cv_.wait(lock, [&] { return stop_ || !queue_.empty(); });
        if (queue_.empty()) return;  // stopping, nothing left
        job = std::move(queue_.front());
        queue_.pop_front();
      }
      std::exception_ptr error;
      try {
        job->fn_();
      } catch (...) {
        error = std::current_exception();
      }
      job->fn_ = nullptr;  // release what it captured here, not in whoever drops the job last
      {
        std::lock_guard lock(job->mu_);
        job->done_ = true;
        job->error_ = error;
      }
      job->cv_.notify_all();
    }
  }

  std::mutex mu_;
  std::condition_variable cv_;
  std::deque<std::shared_ptr<BackgroundJob>> queue_;
  bool stop_ = false;
  std::thread thread_;  // last: started once the members above exist
};

void BackgroundJob::wait() {
  std::unique_lock lock(mu_);
  cv_.wait(lock, [&] { return done_; });
  if (error_) std::rethrow_exception(error_);
}

bool BackgroundJob::done() {
  std::lock_guard lock(mu_);
  return done_;
}

std::shared_ptr<BackgroundJob> run_in_background(std::function<void()> fn) {
  static BackgroundThread thread;
  auto job = std::make_shared<BackgroundJob>();
  job->fn_ = std::move(fn);
  thread.push(job);
  return job;
}

}  // namespace qwen3
