#include "core/log.h"

#include <atomic>
#include <cstdarg>
#include <cstdio>
#include <cstdlib>
#include <cstring>

namespace qwen3 {

static LogLevel initial_level() {
  const char* env = std::getenv("QWEN3_LOG");
  if (env && std::strcmp(env, "debug") == 0) return LogLevel::kDebug;
  if (env && std::strcmp(env, "warn") == 0) return LogLevel::kWarn;
  return LogLevel::kInfo;
}

static std::atomic<LogLevel> g_level{initial_level()};

void log_set_level(LogLevel level) {
  g_level = level;
}
bool log_enabled(LogLevel level) {
  return level >= g_level.load();
}

void log_msg(LogLevel level, const char* fmt, ...) {
  if (!log_enabled(level)) return;
  static const char* kPrefix[] = {"debug: ", "", "warning: ", "error: "};
  char buf[2048];
  va_list args;
  va_start(args, fmt);
  std::vsnprintf(buf, sizeof buf, fmt, args);
  va_end(args);
  std::fprintf(stderr, "%s%s\n", kPrefix[static_cast<int>(level)], buf);
}

}  // namespace qwen3
