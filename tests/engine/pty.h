// A program run in a pseudo-terminal, as a person at a terminal runs it: what it writes is collected, keys
// are sent as bytes. For the `qwen3 chat` tests (tests/engine/chat_*_test.cpp).
#pragma once

#include <gtest/gtest.h>
#include <poll.h>
#include <pty.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <string>
#include <utility>
#include <vector>

namespace qwen3::test {

class Pty {
 public:
  // env: variables set in the child (TERM among them: "dumb" makes the chat read plain lines).
  explicit Pty(const std::vector<std::string>& argv,
               const std::vector<std::pair<std::string, std::string>>& env = {{"TERM", "xterm"}}) {
    winsize ws{};
    ws.ws_row = 40;
    ws.ws_col = 200;
    pid_ = forkpty(&fd_, nullptr, nullptr, &ws);
    if (pid_ == 0) {
      for (const auto& [k, v] : env) setenv(k.c_str(), v.c_str(), 1);
      std::vector<char*> args;
      for (auto& a : argv) args.push_back(const_cast<char*>(a.c_str()));
      args.push_back(nullptr);
      execv(args[0], args.data());
      _exit(127);
    }
  }
  ~Pty() {
    if (pid_ > 0 && !exited_) {
      kill(pid_, SIGKILL);
      waitpid(pid_, nullptr, 0);
    }
    if (fd_ >= 0) close(fd_);
  }
  void send(const std::string& s) {
    ASSERT_EQ(write(fd_, s.data(), s.size()), static_cast<ssize_t>(s.size()));
  }
  // Reads until `needle` appears in the output after `from` (returns its end) or the timeout passes (npos).
  size_t wait_for(const std::string& needle, size_t from, double seconds = 60) {
    auto deadline = std::chrono::steady_clock::now() + std::chrono::duration<double>(seconds);
    for (;;) {
      size_t at = out_.find(needle, from);
      if (at != std::string::npos) return at + needle.size();
      auto left = std::chrono::duration<double>(deadline - std::chrono::steady_clock::now()).count();
      if (left <= 0) return std::string::npos;
      pollfd p{fd_, POLLIN, 0};
      if (poll(&p, 1, static_cast<int>(left * 1000) + 1) <= 0) continue;
      char buf[4096];
      ssize_t n = read(fd_, buf, sizeof buf);
      if (n <= 0) return std::string::npos;
      out_.append(buf, static_cast<size_t>(n));
    }
  }
  // Reads until the output is at least `len` bytes long.
  void wait_len(size_t len, double seconds = 60) {
    auto deadline = std::chrono::steady_clock::now() + std::chrono::duration<double>(seconds);
    while (out_.size() < len && std::chrono::steady_clock::now() < deadline) {
      pollfd p{fd_, POLLIN, 0};
      if (poll(&p, 1, 50) <= 0) continue;
      char buf[4096];
      ssize_t n = read(fd_, buf, sizeof buf);
      if (n <= 0) return;
      out_.append(buf, static_cast<size_t>(n));
    }
  }
  // Reads for `seconds` whatever comes (to see that nothing does).
  void drain(double seconds) { wait_for(std::string(1, '\0') + "never", out_.size(), seconds); }
  // The exit status, or -1 when the program is still running after `seconds`.
  int wait_exit(double seconds = 30) {
    auto deadline = std::chrono::steady_clock::now() + std::chrono::duration<double>(seconds);
    while (std::chrono::steady_clock::now() < deadline) {
      char buf[4096];
      pollfd p{fd_, POLLIN, 0};
      if (poll(&p, 1, 50) > 0) {
        ssize_t n = read(fd_, buf, sizeof buf);
        if (n > 0) {
          out_.append(buf, static_cast<size_t>(n));
          continue;
        }
      }
      int status;
      if (waitpid(pid_, &status, WNOHANG) == pid_) {
        exited_ = true;
        return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
      }
    }
    return -1;
  }
  const std::string& output() const { return out_; }
  // The last `n` bytes of the output, for failure messages.
  std::string tail(size_t n = 2000) const { return out_.substr(out_.size() > n ? out_.size() - n : 0); }

 private:
  int fd_ = -1;
  pid_t pid_ = -1;
  bool exited_ = false;
  std::string out_;
};

}  // namespace qwen3::test
