// Helpers shared by the test binaries: paths to the source tree, the test data and the qwen3 binary, and
// running a command to capture its output.
#pragma once

#include <string>

namespace qwen3::test {

inline std::string source_dir() {
  return QWEN3_SOURCE_DIR;
}
inline std::string testdata_dir() {
  return QWEN3_TESTDATA_DIR;
}
inline std::string qwen3_binary() {
  return QWEN3_BINARY;
}
inline std::string tokenizer_dir() {
  return source_dir() + "/.cache/qwen3-tokenizer";
}

struct CommandResult {
  int exit_code = -1;
  std::string out;  // stdout
  std::string err;  // stderr
};

// Runs `command` through /bin/sh with `input` on stdin; captures stdout and stderr.
CommandResult run_command(const std::string& command, const std::string& input = "");

// Writes `contents` to `path`, creating parent directories.
void write_file(const std::string& path, const std::string& contents);

// A fresh empty directory under the test data directory.
std::string scratch_dir(const std::string& name);
// The same, named after `base` and the running test: CTest runs the tests of one binary as parallel
// processes, so each needs its own.
std::string own_scratch_dir(const std::string& base);

}  // namespace qwen3::test
