#include "test_util.h"

#include <gtest/gtest.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <stdexcept>

namespace qwen3::test {

static std::string slurp(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(in), {});
}

CommandResult run_command(const std::string& command, const std::string& input) {
  std::string base = scratch_dir("cmd_" + std::to_string(::getpid()));
  std::string in_path = base + "/stdin", out_path = base + "/stdout", err_path = base + "/stderr";
  write_file(in_path, input);
  std::string full = "(" + command + ") <'" + in_path + "' >'" + out_path + "' 2>'" + err_path + "'";
  int status = std::system(full.c_str());
  CommandResult r;
  r.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
  r.out = slurp(out_path);
  r.err = slurp(err_path);
  return r;
}

void write_file(const std::string& path, const std::string& contents) {
  std::filesystem::create_directories(std::filesystem::path(path).parent_path());
  std::ofstream out(path, std::ios::binary);
  out << contents;
  if (!out) throw std::runtime_error("cannot write " + path);
}

std::string scratch_dir(const std::string& name) {
  std::string dir = testdata_dir() + "/scratch/" + name;
  std::filesystem::remove_all(dir);
  std::filesystem::create_directories(dir);
  return dir;
}

std::string own_scratch_dir(const std::string& base) {
  return scratch_dir(base + "_" + ::testing::UnitTest::GetInstance()->current_test_info()->name());
}

}  // namespace qwen3::test
