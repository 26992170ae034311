// A one-line progress bar on stderr for long work (loading a model, quantising, long prompts). Draws only
// when stderr is a terminal, at most ~20 times a second, and clears itself when done.
#pragma once

#include <cstddef>
#include <string>

namespace qwen3 {

class ProgressBar {
 public:
  explicit ProgressBar(std::string label);
  ~ProgressBar();
  // done of total units; `unit_scale` divides both for display (e.g. 1 << 20 for MiB) with `unit` as the
  // suffix.
  void update(size_t done, size_t total, double unit_scale = 1 << 20, const char* unit = "MiB");
  void finish();

 private:
  std::string label_;
  bool enabled_;
  bool drawn_ = false;
  double last_draw_ = 0;
};

}  // namespace qwen3
