// One background thread for work that overlaps the caller's: a constrained sequence's next token mask is
// computed while the forward pass that needs it runs. Jobs run one at a time in submission order.
#pragma once

#include <condition_variable>
#include <exception>
#include <functional>
#include <memory>
#include <mutex>

namespace qwen3 {

class BackgroundJob {
 public:
  // Blocks until the job has run; rethrows what it threw.
  void wait();
  bool done();

 private:
  friend std::shared_ptr<BackgroundJob> run_in_background(std::function<void()> fn);
  friend class BackgroundThread;
  std::function<void()> fn_;
  std::mutex mu_;
  std::condition_variable cv_;
  bool done_ = false;
  std::exception_ptr error_;
};

// Queues fn on the process's background thread (started on first use, joined at exit).
std::shared_ptr<BackgroundJob> run_in_background(std::function<void()> fn);

}  // namespace qwen3
