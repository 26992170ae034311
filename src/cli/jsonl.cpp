#include "cli/jsonl.h"

#include <cstdio>
#include <iostream>

#include <nlohmann/json.hpp>

#include "core/error.h"

namespace qwen3::cli {

void run_jsonl(const std::function<std::string(const std::string& line)>& answer) {
  std::string line;
  bool failed = false;
  while (std::getline(std::cin, line)) {
    if (line.find_first_not_of(" \t\r") == std::string::npos) continue;
    std::string text;
    try {
      text = answer(line);
    } catch (const Error& e) {
      std::fprintf(stderr, "error: %s\n", e.what());
      text =
          nlohmann::json{{"error", e.what()}}.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
      failed = true;
    }
    std::fwrite(text.data(), 1, text.size(), stdout);
    std::fputc('\n', stdout);
    std::fflush(stdout);
  }
  if (failed) throw Error("some requests failed (see the error lines above)");
}

}  // namespace qwen3::cli
