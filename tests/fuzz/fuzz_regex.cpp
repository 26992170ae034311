// libFuzzer harness: the input is a regular expression, up to the first NUL byte; the bytes after it
// drive a matcher over what compiled. Compiling either succeeds or throws qwen3::Error (a CompileError),
// never crashes, hangs or grows without bound (Limits); every allowed token advances.
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <string>

#include "core/error.h"
#include "core/json.h"
#include "fuzz_constrain_common.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  return qwen3::fuzz::fuzz_one(
      data, size, [](qwen3::constrain::Builder& b, const std::string& text) { return b.regex(text); });
}
