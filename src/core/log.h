// Logging to stderr (stdout carries generated text only). QWEN3_LOG=debug enables debug lines.
#pragma once

namespace qwen3 {

enum class LogLevel { kDebug, kInfo, kWarn, kError };

void log_set_level(LogLevel level);
bool log_enabled(LogLevel level);
void log_msg(LogLevel level, const char* fmt, ...) __attribute__((format(printf, 2, 3)));

}  // namespace qwen3

#define QWEN3_LOG_DEBUG(...) ::qwen3::log_msg(::qwen3::LogLevel::kDebug, __VA_ARGS__)
#define QWEN3_LOG_INFO(...) ::qwen3::log_msg(::qwen3::LogLevel::kInfo, __VA_ARGS__)
#define QWEN3_LOG_WARN(...) ::qwen3::log_msg(::qwen3::LogLevel::kWarn, __VA_ARGS__)
