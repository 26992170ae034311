// `qwen3 bench` end to end on a tiny synthetic model: the JSON carries llama-bench's contract fields with
// sane values, the human table names each test, and bad arguments exit 1 with one clear line on stderr.
#include <gtest/gtest.h>

#include <unistd.h>

#include <algorithm>
#include <filesystem>
#include <string>

#include <nlohmann/json.hpp>

#include "test_util.h"

namespace qwen3::test {
namespace {

// A tiny model of this process's own (CTest runs each test as a separate process, in parallel), removed at
// exit.
struct TinyModel {
  std::string dir = scratch_dir("bench_tiny_" + std::to_string(::getpid()));
  TinyModel() {
    auto r = run_command(qwen3_binary() + " synth --preset tiny --no-tokenizer --out " + dir + "/m");
    EXPECT_EQ(r.exit_code, 0) << r.err;
  }
  ~TinyModel() { std::filesystem::remove_all(dir); }
};

const std::string& tiny_model() {
  static const TinyModel model;
  static const std::string path = model.dir + "/m";
  return path;
}

CommandResult bench(const std::string& args) {
  return run_command(qwen3_binary() + " bench -m " + tiny_model() + " " + args);
}

TEST(BenchCli, JsonHasLlamaBenchFields) {
  auto r = bench("-p 8 -n 4 -r 3 -t 2 --json --no-limits");
  ASSERT_EQ(r.exit_code, 0) << r.err;
  auto j = nlohmann::json::parse(r.out);
  ASSERT_TRUE(j.is_array());
  ASSERT_EQ(j.size(), 2u);
  EXPECT_EQ(j[0]["n_prompt"], 8);
  EXPECT_EQ(j[0]["n_gen"], 0);
  EXPECT_EQ(j[1]["n_prompt"], 0);
  EXPECT_EQ(j[1]["n_gen"], 4);
  for (const auto& o : j) {
    for (const char* f : {"n_prompt", "n_gen", "n_depth", "n_threads", "type", "avg_ts", "stddev_ts",
                          "samples_ts", "samples_ns", "type_k", "type_v"})
      EXPECT_TRUE(o.contains(f)) << f;
    EXPECT_EQ(o["n_depth"], 0);
    EXPECT_EQ(o["n_threads"], 2);
    EXPECT_EQ(o["type"], "bf16");   // as synthesised
    EXPECT_EQ(o["type_k"], "f16");  // the default cache type
    EXPECT_EQ(o["samples_ts"].size(), 3u);
    EXPECT_GT(o["avg_ts"].get<double>(), 0);
    EXPECT_GE(o["stddev_ts"].get<double>(), 0);
  }
  EXPECT_GT(j[1]["bytes_per_token"].get<double>(), 0);
}

TEST(BenchCli, DepthKvTypeThreadsAndDtype) {
  auto r = bench("-p 4 -n 2 -d 40 -r 1 -t 1 --kv-type bf16 --dtype f32 --json --no-limits");
  ASSERT_EQ(r.exit_code, 0) << r.err;
  auto j = nlohmann::json::parse(r.out);
  ASSERT_EQ(j.size(), 2u);
  for (const auto& o : j) {
    EXPECT_EQ(o["n_depth"], 40);
    EXPECT_EQ(o["n_threads"], 1);
    EXPECT_EQ(o["type_k"], "bf16");
    EXPECT_EQ(o["type"], "f32");
  }
}

TEST(BenchCli, SyntheticDepthFill) {
  auto r = bench("-p 4 -n 2 -d 100 -r 1 --depth-fill synthetic --json --no-limits");
  ASSERT_EQ(r.exit_code, 0) << r.err;
  auto j = nlohmann::json::parse(r.out);
  ASSERT_EQ(j.size(), 2u);
  EXPECT_EQ(j[0]["n_depth"], 100);
  EXPECT_EQ(j[0]["depth_fill"], "synthetic");
}

TEST(BenchCli, TableWithLimits) {
  auto r = bench("-p 4 -n 2 -r 1");
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_NE(r.out.find("limits ("), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("| pp4"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("| tg2"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("GB/s"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("% of read bw"), std::string::npos) << r.out;
}

// Each decode repetition is set against a read probe of the model's own weights taken right before and after
// it: one probe figure and one share per repetition, and the share is the repetition's GB/s over it.
TEST(BenchCli, DecodeSharesAgainstAdjacentReadProbes) {
  auto r = bench("-p 0 -n 2 -r 3 --json");
  ASSERT_EQ(r.exit_code, 0) << r.err;
  auto j = nlohmann::json::parse(r.out);
  ASSERT_EQ(j.size(), 1u);
  const auto& t = j[0];
  ASSERT_EQ(t["adjacent_read_gbs"].size(), 3u) << t.dump();
  ASSERT_EQ(t["adjacent_share"].size(), 3u);
  for (int i = 0; i < 3; ++i) {
    const double probe = t["adjacent_read_gbs"][i].get<double>(),
                 share = t["adjacent_share"][i].get<double>();
    EXPECT_GT(probe, 0);
    const double rep_gbs = t["bytes_per_token"].get<double>() * t["samples_ts"][i].get<double>() / 1e9;
    EXPECT_NEAR(share, rep_gbs / probe, 1e-9 * share) << i;
  }
  auto shares = t["adjacent_share"].get<std::vector<double>>();
  std::sort(shares.begin(), shares.end());
  EXPECT_DOUBLE_EQ(t["adjacent_share_median"].get<double>(), shares[1]);
  // Without limits there is no probe.
  auto n = bench("-p 0 -n 2 -r 1 --json --no-limits");
  ASSERT_EQ(n.exit_code, 0) << n.err;
  EXPECT_FALSE(nlohmann::json::parse(n.out)[0].contains("adjacent_share"));
}

TEST(BenchCli, LimitsAloneAsJson) {
  auto r = run_command(qwen3_binary() + " bench --limits --json");
  ASSERT_EQ(r.exit_code, 0) << r.err;
  auto j = nlohmann::json::parse(r.out);
  EXPECT_GT(j["read_gbs"].get<double>(), 0);
  EXPECT_GT(j["read_gbs_1t"].get<double>(), 0);
  EXPECT_GT(j["f32_gflops"].get<double>(), 0);
}

TEST(BenchCli, BadArgumentsExitOneWithOneLine) {
  for (const std::string args : {"-r 0", "--kv-type q4_0", "--kv-type nope", "-p 0 -n 0", "-p -3",
                                 "--kv-type q8_0", "-t -1", "-p many", "--dtype f8", "--depth-fill nope"}) {
    auto r = bench(args);
    EXPECT_EQ(r.exit_code, 1) << args << "\n" << r.out << r.err;
    EXPECT_EQ(r.err.rfind("error: ", 0), 0u) << args << ": " << r.err;
    EXPECT_EQ(std::count(r.err.begin(), r.err.end(), '\n'), 1) << args << ": " << r.err;
  }
  auto r = run_command(qwen3_binary() + " bench -p 4");
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_NE(r.err.find("-m MODEL"), std::string::npos) << r.err;
}

}  // namespace
}  // namespace qwen3::test
