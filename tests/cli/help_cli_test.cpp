// `--help` of every subcommand shows each option's default beside it and ends with an example (issue 24, item
// 8).
#include <gtest/gtest.h>

#include <string>

#include "test_util.h"

namespace qwen3::test {
namespace {

TEST(Help, EverySubcommandEndsWithAnExample) {
  for (const char* sub :
       {"synth", "eval", "generate", "chat", "template", "tokenize", "quantize", "bench", "serve"}) {
    auto r = run_command(qwen3_binary() + " " + sub + " --help");
    EXPECT_EQ(r.exit_code, 0) << sub;
    size_t at = r.out.find("\nExample:\n  ");
    ASSERT_NE(at, std::string::npos) << sub << ":\n" << r.out;
    EXPECT_NE(r.out.find("qwen3 " + std::string(sub) + " ", at), std::string::npos) << sub << ":\n" << r.out;
  }
}

TEST(Help, DefaultsAreShown) {
  auto bench = run_command(qwen3_binary() + " bench --help");
  EXPECT_NE(bench.out.find("-p,--n-prompt INT=512"), std::string::npos) << bench.out;
  EXPECT_NE(bench.out.find("-r,--repetitions INT=5"), std::string::npos) << bench.out;
  auto serve = run_command(qwen3_binary() + " serve --help");
  EXPECT_NE(serve.out.find("--port INT=8080"), std::string::npos) << serve.out;
}

}  // namespace
}  // namespace qwen3::test
