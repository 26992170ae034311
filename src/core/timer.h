// Wall-clock timing in seconds.
#pragma once

#include <chrono>

namespace qwen3 {

inline double now_seconds() {
  using namespace std::chrono;
  return duration<double>(steady_clock::now().time_since_epoch()).count();
}

}  // namespace qwen3
