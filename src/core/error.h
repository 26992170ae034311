// Errors: one exception type whose message is a single clear line for the user ("file: problem").
// Loaders and request parsers throw it; frontends catch it, print it and exit 1 (or answer HTTP 4xx).
#pragma once

#include <cstdarg>
#include <stdexcept>
#include <string>

namespace qwen3 {

struct Error : std::runtime_error {
  using std::runtime_error::runtime_error;
};

// printf-style formatting into a std::string.
std::string strfmt(const char* fmt, ...) __attribute__((format(printf, 1, 2)));

[[noreturn]] void throw_error(const char* fmt, ...) __attribute__((format(printf, 1, 2)));

}  // namespace qwen3

// Checks a condition that bad input can violate: throws qwen3::Error with the formatted message.
#define QWEN3_CHECK(cond, ...)                      \
  do {                                              \
    if (!(cond)) ::qwen3::throw_error(__VA_ARGS__); \
  } while (0)

// Checks an internal invariant that no input can violate; names file:line.
#define QWEN3_ASSERT(cond)                                                                       \
  do {                                                                                           \
    if (!(cond)) ::qwen3::throw_error("internal error at %s:%d: %s", __FILE__, __LINE__, #cond); \
  } while (0)
