// Stop strings over streamed text: text is released only once it can no longer be the start of a stop string,
// so a stop string split across tokens is caught and never partly printed.
#pragma once

#include <string>
#include <string_view>
#include <vector>

namespace qwen3 {

class StopMatcher {
 public:
  explicit StopMatcher(std::vector<std::string> stops);

  // Adds text; returns what can be released now. Once a stop string is found, `stopped()` is true and the
  // text before it is released (the stop string and anything after it never are).
  std::string push(std::string_view text);
  // Releases everything held (end of generation without a stop).
  std::string flush();
  bool stopped() const { return stopped_; }

 private:
  std::vector<std::string> stops_;
  std::string held_;
  bool stopped_ = false;
};

}  // namespace qwen3
