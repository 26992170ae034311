#include "core/progress.h"

#include <unistd.h>

#include <cstdio>

#include "core/timer.h"

namespace qwen3 {

ProgressBar::ProgressBar(std::string label) : label_(std::move(label)), enabled_(::isatty(STDERR_FILENO)) {}

ProgressBar::~ProgressBar() {
  finish();
}

void ProgressBar::update(size_t done, size_t total, double unit_scale, const char* unit) {
  if (!enabled_ || total == 0) return;
  double now = now_seconds();
  if (done < total && now - last_draw_ < 0.05) return;
  last_draw_ = now;
  constexpr int kWidth = 30;
  int filled = static_cast<int>(static_cast<double>(done) / total * kWidth);
  char bar[kWidth + 1];
  for (int i = 0; i < kWidth; ++i) bar[i] = i < filled ? '#' : '.';
  bar[kWidth] = '\0';
  std::fprintf(stderr, "\r%s [%s] %3d%% %.0f/%.0f %s", label_.c_str(), bar,
               static_cast<int>(100.0 * done / total), done / unit_scale, total / unit_scale, unit);
  std::fflush(stderr);
  drawn_ = true;
}

void ProgressBar::finish() {
  if (drawn_) std::fprintf(stderr, "\r\033[K");
  drawn_ = false;
}

}  // namespace qwen3
