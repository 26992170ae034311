// The command line users bring from llama.cpp (issue 24, items 5-7): its spellings are aliases that mean the
// same as ours, -ngl is a warning, a flag given twice takes its last value, --seed -1 is a random seed,
// environment variables stand in for the common flags, every value is checked before anything is read (one
// line, exit 1, in well under a second), and an unknown option is one line naming it.
#include <gtest/gtest.h>
#include <unistd.h>

#include <algorithm>
#include <filesystem>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "test_util.h"

namespace qwen3::test {
namespace {

// A tiny model (with the Qwen3 tokenizer) of this process's own: CTest runs each test as its own process.
struct TinyModel {
  std::string dir = scratch_dir("cli_tiny_" + std::to_string(::getpid()));
  TinyModel() {
    auto r = run_command(qwen3_binary() + " synth --preset tiny --seed 7 --out " + dir + "/m");
    EXPECT_EQ(r.exit_code, 0) << r.err;
  }
  ~TinyModel() { std::filesystem::remove_all(dir); }
};

const std::string& tiny_model() {
  static const TinyModel model;
  static const std::string path = model.dir + "/m";
  return path;
}

// A model path that does not exist: an error about a flag given with it cannot come from reading a model.
const std::string kNoModel = "/nonexistent/qwen3-235b";

CommandResult qwen3(const std::string& args, const std::string& input = "") {
  return run_command(qwen3_binary() + " " + args, input);
}

// `qwen3 generate --json` on the tiny model with `args`; fails the test when it does not succeed.
nlohmann::json generate(const std::string& args, const std::string& env = "") {
  auto r = run_command(env + " " + qwen3_binary() + " generate -m " + tiny_model() +
                       " -p 'Hi there' --json " + args);
  EXPECT_EQ(r.exit_code, 0) << args << ": " << r.err;
  if (r.exit_code != 0) return nlohmann::json::object();
  return nlohmann::json::parse(r.out);
}

int generated(const nlohmann::json& j) {
  return j.contains("tokens") ? j["tokens"]["generated"].get<int>() : -1;
}

std::string text(const nlohmann::json& j) {
  return j.contains("text") ? j["text"].get<std::string>() : "(none)";
}

int lines(const std::string& s) {
  return static_cast<int>(std::count(s.begin(), s.end(), '\n'));
}

TEST(FlagsCli, MaxTokensAliases) {
  for (const char* flag : {"-n", "--max-tokens", "--n-predict", "--predict"})
    EXPECT_EQ(generated(generate(std::string(flag) + " 3 --seed 1")), 3) << flag;
  EXPECT_EQ(generated(generate("-n3 --seed 1")), 3) << "a number attached to a one-letter option";
}

TEST(FlagsCli, SeedAndSamplingAliasesMeanTheSame) {
  const nlohmann::json base = generate("--seed 5 -n 12");
  EXPECT_EQ(base["seed"], 5);
  const nlohmann::json short_seed = generate("-s 5 -n 12");
  EXPECT_EQ(short_seed["seed"], 5);
  EXPECT_EQ(text(short_seed), text(base));
  EXPECT_EQ(text(generate("-s 5 -n 12")), text(base)) << "the same seed twice, the same tokens";

  // Greedy through --temp 0 does not depend on the seed; --temperature 0 and --top-k 1 agree with it.
  const std::string greedy = text(generate("--temp 0 -s 1 -n 12"));
  EXPECT_EQ(text(generate("--temp 0 -s 2 -n 12")), greedy);
  EXPECT_EQ(text(generate("--temperature 0 -s 3 -n 12")), greedy);
  EXPECT_EQ(text(generate("--top-k 1 -s 4 -n 12")), greedy);

  EXPECT_EQ(text(generate("--seed 5 -n 12 --repeat-penalty 1.3 --top-p 0.9 --min-p 0.01")),
            text(generate("--seed 5 -n 12 --repetition-penalty 1.3 --top-p 0.9 --min-p 0.01")));
}

TEST(FlagsCli, ContextCacheThreadsAndModelAliases) {
  // A window of 32 positions: the prompt and the tokens generated fill it (-n -1 and -2: until it is full),
  // the last token generated needing none.
  for (const char* ctx : {"-c 32", "--ctx 32", "--ctx-size 32"}) {
    const nlohmann::json j = generate(std::string(ctx) + " -n -1 --seed 1");
    EXPECT_EQ(j["tokens"]["prompt"].get<int>() + generated(j), 33) << ctx;
    EXPECT_EQ(j["finish_reason"], "length") << ctx;
  }
  const nlohmann::json full = generate("-c 32 -n -2 --seed 1");
  EXPECT_EQ(full["tokens"]["prompt"].get<int>() + generated(full), 33);

  const std::string base = text(generate("--seed 8 -n 10 --kv-type bf16"));
  EXPECT_EQ(text(generate("--seed 8 -n 10 --cache-type-k bf16 --cache-type-v bf16")), base);
  EXPECT_EQ(text(generate("--seed 8 -n 10 -ctk bf16 -ctv bf16")), base);
  EXPECT_EQ(text(generate("--seed 8 -n 10 -ctk bf16")), base);
  EXPECT_EQ(text(generate("--seed 8 -n 10 -t 1")), text(generate("--seed 8 -n 10 --threads 2")));
  EXPECT_EQ(text(generate("--seed 8 -n 10 --mmap")), text(generate("--seed 8 -n 10 --no-mmap")));

  auto hf =
      run_command(qwen3_binary() + " generate -hf " + tiny_model() + " -p 'Hi there' --json --seed 8 -n 10");
  ASSERT_EQ(hf.exit_code, 0) << hf.err;
  EXPECT_EQ(text(nlohmann::json::parse(hf.out)), text(generate("--seed 8 -n 10")));
  // A repo id missing from the cache is downloaded unless HF_HUB_OFFLINE=1 (tests/hub covers the download).
  auto hf_missing = run_command("HF_HUB_OFFLINE=1 HF_HUB_CACHE=/nonexistent " + qwen3_binary() +
                                " generate -hf Qwen/Qwen3-0.6B-GGUF:Q8_0 -p hi");
  EXPECT_EQ(hf_missing.exit_code, 1);
  EXPECT_EQ(hf_missing.err.rfind("error: Qwen/Qwen3-0.6B-GGUF:Q8_0: not in the Hugging Face cache", 0), 0u)
      << hf_missing.err;

  // K and V share one cache type: -ctk and -ctv must agree.
  auto disagree = qwen3("generate -m " + kNoModel + " -p hi -ctk f16 -ctv q8_0");
  EXPECT_EQ(disagree.exit_code, 1);
  EXPECT_EQ(
      disagree.err,
      "error: --cache-type-v q8_0 disagrees with --cache-type-k f16: K and V share one cache type here\n");

  // bench reports its threads: -t and --threads mean the same there too.
  for (const char* t : {"-t 1", "--threads 1"}) {
    auto r = qwen3("bench -m " + tiny_model() + " -p 4 -n 0 -r 1 --no-limits --json " + t);
    ASSERT_EQ(r.exit_code, 0) << r.err;
    EXPECT_EQ(nlohmann::json::parse(r.out)[0]["n_threads"], 1) << t;
  }
}

// Accepted on each subcommand where llama.cpp has it: the error is then the missing model's, not the flag's.
TEST(FlagsCli, AliasesAcceptedOnEverySubcommand) {
  const std::vector<std::pair<std::string, std::string>> cases = {
      {"serve", "-np 2"},
      {"serve", "--parallel 2"},
      {"serve", "-c 512"},
      {"serve", "--ctx-size 512"},
      {"serve", "-ctk q8_0 -ctv q8_0"},
      {"serve", "--no-mmap -t 1"},
      {"chat", "-c 64 -n 5 -s 3"},
      {"chat", "--temp 0.5 --top-k 3 --top-p 0.5 --min-p 0.1 --repeat-penalty 1.1"},
      {"chat", "-ctk bf16 --mmap"},
      {"eval", "-t 1 --no-mmap"},
      {"bench", "-ctk f32 -ctv f32 -t 1"},
  };
  for (const auto& [cmd, args] : cases) {
    auto r = qwen3(cmd + " -m " + kNoModel + " " + args + (cmd == "eval" ? " --jsonl" : ""));
    EXPECT_EQ(r.exit_code, 1) << cmd << " " << args;
    EXPECT_EQ(r.err, "error: " + kNoModel + ": no such model directory\n") << cmd << " " << args;
  }
  // -hf is -m on every subcommand that takes a model.
  for (const std::string cmd : {"tokenize hello", "template --jsonl", "quantize -o /tmp/x --type q8_0",
                                "generate -p hi", "chat", "serve", "eval --jsonl", "bench"}) {
    auto r = qwen3(cmd + " -hf " + kNoModel);
    EXPECT_EQ(r.exit_code, 1) << cmd;
    EXPECT_NE(r.err.find(kNoModel + ": no such"), std::string::npos) << cmd << ": " << r.err;
  }
}

TEST(FlagsCli, GpuLayersWarnsAndRuns) {
  for (const char* ngl : {"-ngl 99", "--n-gpu-layers 99", "--gpu-layers 0"}) {
    auto r = run_command(qwen3_binary() + " generate -m " + tiny_model() + " -p hi -n 3 --seed 1 " + ngl);
    EXPECT_EQ(r.exit_code, 0) << ngl << ": " << r.err;
    EXPECT_EQ(r.err.rfind("warning: this engine runs on the CPU; -ngl is ignored\n", 0), 0u)
        << ngl << ": " << r.err;
  }
  EXPECT_EQ(text(generate("-ngl 99 -n 8 --seed 4")), text(generate("-n 8 --seed 4")));
  for (const std::string cmd : {"chat", "serve", "eval --jsonl", "bench"}) {
    auto r = qwen3(cmd + " -m " + kNoModel + " -ngl 99");
    EXPECT_EQ(r.exit_code, 1) << cmd;
    EXPECT_EQ(r.err, "warning: this engine runs on the CPU; -ngl is ignored\nerror: " + kNoModel +
                         ": no such model directory\n")
        << cmd;
  }
}

TEST(FlagsCli, RepeatedFlagTakesTheLastValue) {
  EXPECT_EQ(generated(generate("-n 5 -n 3 --seed 1")), 3);
  EXPECT_EQ(generated(generate("--max-tokens 5 -n 4 --seed 1")), 4) << "two spellings of one flag";
  const nlohmann::json last = generate("--seed 1 --seed 6 -n 8");
  EXPECT_EQ(last["seed"], 6);
  EXPECT_EQ(text(last), text(generate("--seed 6 -n 8")));
  EXPECT_EQ(text(generate("--temp 1.5 --temp 0 -n 8 --seed 2")), text(generate("--temp 0 -n 8 --seed 3")));
  EXPECT_EQ(text(generate("-ctk f32 -ctk bf16 --seed 2 -n 8")),
            text(generate("--kv-type bf16 --seed 2 -n 8")));
}

TEST(FlagsCli, SeedMinusOneIsRandom) {
  const nlohmann::json a = generate("--seed -1 --temp 1.5 -n 24");
  const nlohmann::json b = generate("-s -1 --temp 1.5 -n 24");
  ASSERT_TRUE(a.contains("seed") && b.contains("seed"));
  EXPECT_NE(a["seed"], b["seed"]);
  EXPECT_NE(a["seed"].get<uint64_t>(), UINT64_MAX);
  EXPECT_NE(text(a), text(b)) << "24 tokens at temperature 1.5 from two random seeds";
  // Any other negative number is refused.
  auto r = qwen3("generate -m " + kNoModel + " -p hi --seed -2");
  EXPECT_EQ(r.err, "error: --seed -2: choose 0..18446744073709551615, or -1 for a random seed\n");
}

TEST(FlagsCli, EnvironmentVariablesStandInForFlags) {
  // QWEN3_MODEL on every subcommand that takes -m; a flag given wins over its variable.
  auto tok = run_command("QWEN3_MODEL=" + tiny_model() + " " + qwen3_binary() + " tokenize Hello");
  EXPECT_EQ(tok.exit_code, 0) << tok.err;
  EXPECT_EQ(tok.out.rfind("9707\tHello", 0), 0u) << tok.out;
  auto tmpl = run_command("QWEN3_MODEL=" + tiny_model() + " " + qwen3_binary() + " template --jsonl",
                          R"({"messages": [{"role": "user", "content": "hi"}]})"
                          "\n");
  EXPECT_EQ(tmpl.exit_code, 0) << tmpl.err;
  EXPECT_EQ(generated(generate("--seed 1", "QWEN3_N_PREDICT=2")), 2);
  EXPECT_EQ(generated(generate("--seed 1 -n 4", "QWEN3_N_PREDICT=2")), 4);
  const nlohmann::json ctx = generate("--seed 1 -n -1", "QWEN3_CTX_SIZE=20");
  EXPECT_EQ(ctx["tokens"]["prompt"].get<int>() + generated(ctx), 21);  // the last token needs no position
  // A variable's value is checked as a flag's is.
  auto bad = run_command("QWEN3_THREADS=5000 " + qwen3_binary() + " generate -m " + kNoModel + " -p hi");
  EXPECT_EQ(bad.err, "error: --threads 5000: choose 0..1024 (0: physical cores)\n");
  // --help names them. serve has none for --port: Kubernetes sets QWEN3_PORT=tcp://... beside a Service named
  // qwen3, and that must not stop a server given no --port.
  auto k8s = run_command("QWEN3_PORT=tcp://10.0.0.1:80 " + qwen3_binary() + " serve -m " + kNoModel);
  EXPECT_EQ(k8s.err, "error: " + kNoModel + ": no such model directory\n");
  auto help = qwen3("generate --help");
  for (const char* var :
       {"QWEN3_MODEL", "QWEN3_THREADS", "QWEN3_CTX_SIZE", "QWEN3_N_PREDICT", "QWEN3_DTYPE", "QWEN3_MMAP"})
    EXPECT_NE(help.out.find(var), std::string::npos) << var;
  auto serve_help = qwen3("serve --help");
  for (const char* var : {"QWEN3_MODEL", "QWEN3_PARALLEL", "QWEN3_CTX_SIZE", "QWEN3_API_KEY"})
    EXPECT_NE(serve_help.out.find(var), std::string::npos) << var;
}

// Every bad value is refused by its flag, before the model is looked for (the path does not exist, so the
// error could not be the flag's otherwise), with one line and exit 1, in well under a second.
TEST(FlagsCli, BadValuesRefusedBeforeLoading) {
  const std::vector<std::pair<std::string, std::string>> cases = {
      {"generate -p hi --top-p 2", "--top-p 2: 'top_p' is 2 as a 32-bit float: it must be in (0, 1]"},
      {"chat --top-p 2", "--top-p 2: 'top_p' is 2 as a 32-bit float: it must be in (0, 1]"},
      {"chat --min-p -0.5", "--min-p -0.5: 'min_p' is -0.5 as a 32-bit float: it must be in [0, 1]"},
      {"generate -p hi --temp nan",
       "--temperature nan: 'temperature' is nan as a 32-bit float: it must be a finite number"},
      {"generate -p hi --temp hot", "--temperature hot: not a number"},
      {"chat --repeat-penalty 0",
       "--repeat-penalty 0: 'repetition_penalty' is 0 as a 32-bit float: it must be in [1e-6, 1e6]"},
      {"chat --presence-penalty 1e7",
       "--presence-penalty 1e7: 'presence_penalty' is 1e+07 as a 32-bit float: it must be in [-1e6, 1e6]"},
      {"chat --frequency-penalty -1e40",
       "--frequency-penalty -1e40: 'frequency_penalty' is -inf as a 32-bit float: it must be in [-1e6, 1e6]"},
      {"chat --logit-bias 5=1e9",
       "--logit-bias 5=1e9: logit_bias[5] is 1e+09 as a 32-bit float: it must be in [-1e6, 1e6]"},
      {"chat --logit-bias banana", "--logit-bias banana: expected ID=BIAS (a token id, a number)"},
      {"chat --top-k 2.5", "--top-k 2.5: not an integer"},
      {"chat -n -3", "--max-tokens -3: must be at least -2 (-1 or -2: until the context is full)"},
      {"chat --thinking-budget -2", "--thinking-budget -2: must be at least -1 (-1: no budget)"},
      {"chat -c -1", "--ctx -1: must be at least 0 (0: the default)"},
      {"chat -t 5000", "--threads 5000: choose 0..1024 (0: physical cores)"},
      {"chat --seed x", "--seed x: choose 0..18446744073709551615, or -1 for a random seed"},
      {"chat --dtype f8", "--dtype f8: choose f32, f16, bf16, q8_0, q4_0, q4_1, q5_0 or q5_1"},
      {"serve --embed-dtype q9", "--embed-dtype q9: choose f32, f16, bf16, q8_0, q4_0, q4_1, q5_0 or q5_1"},
      {"bench --embed-dtype e4m3",
       "--embed-dtype e4m3: choose f32, f16, bf16, q8_0, q4_0, q4_1, q5_0 or q5_1"},
      {"chat --kv-type q5", "KV cache type 'q5': choose f32, f16, bf16 or q8_0"},
      {"chat -ctk q4_0", "KV cache type 'q4_0': choose f32, f16, bf16 or q8_0"},
      {"eval --jsonl -t -1", "--threads -1: choose 0..1024 (0: physical cores)"},
      {"serve --port 70000", "--port 70000: choose 0..65535 (0: any free port)"},
      {"serve -np 0", "--parallel 0: choose 1..256"},
      {"serve --ctx 1", "--ctx 1: must be at least 2 (and at most the model's maximum)"},
      {"serve --queue -1", "--queue -1: must be at least 0"},
      {"serve --batch 0", "--batch 0: must be at least 1"},
      {"serve --max-body-kib 0", "--max-body-kib 0: must be at least 1"},
      {"serve --header-timeout 0", "--header-timeout 0: must be > 0"},
      {"serve --drain-timeout -1", "--drain-timeout -1: must be >= 0"},
      {"serve --parallel 8 --batch 4", "--batch 4: must be at least --parallel (8): a token per slot"},
      {"bench -r 0", "--repetitions 0: must be at least 1"},
      {"bench -p -3", "--n-prompt -3: must be at least 0"},
      {"bench --depth-fill nope", "--depth-fill nope: choose model or synthetic"},
  };
  for (const auto& [args, message] : cases) {
    const size_t sp = args.find(' ');
    const std::string cmd = args.substr(0, sp) + " -m " + kNoModel + args.substr(sp);
    // The model does not exist: the value's own message (not "no such model") shows it was judged first.
    auto r = qwen3(cmd, "hello\n");
    EXPECT_EQ(r.exit_code, 1) << cmd;
    EXPECT_EQ(r.err, "error: " + message + "\n") << cmd;
  }
  // With a model that exists, chat refuses --top-p 2 before loading it, not at the first message: stderr is
  // that one line (no loading line before it) and nothing reaches stdout.
  auto r = qwen3("chat -m " + tiny_model() + " --top-p 2", "hello\n");
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_EQ(r.err, "error: --top-p 2: 'top_p' is 2 as a 32-bit float: it must be in (0, 1]\n");
  EXPECT_EQ(r.out, "");
}

TEST(FlagsCli, UnknownOptionIsOneLineNamingIt) {
  const std::vector<std::pair<std::string, std::string>> cases = {
      {"generate -p hi --frobnicate",
       "unknown option --frobnicate for qwen3 generate (see qwen3 generate --help)"},
      {"generate -p hi --frobnicate=3",
       "unknown option --frobnicate for qwen3 generate (see qwen3 generate --help)"},
      {"generate -p hi -fa", "unknown option -fa for qwen3 generate (see qwen3 generate --help)"},
      {"generate -p hi -np 4", "unknown option -np for qwen3 generate (see qwen3 generate --help)"},
      {"chat -x", "unknown option -x for qwen3 chat (see qwen3 chat --help)"},
      {"chat -nx", "unknown option -nx for qwen3 chat (see qwen3 chat --help)"},
      {"serve --props", "unknown option --props for qwen3 serve (see qwen3 serve --help)"},
      {"tokenize -ngl 9", "unknown option -ngl for qwen3 tokenize (see qwen3 tokenize --help)"},
  };
  for (const auto& [args, message] : cases) {
    const size_t sp = args.find(' ');
    auto r = qwen3(args.substr(0, sp) + " -m " + kNoModel + args.substr(sp));
    EXPECT_EQ(r.exit_code, 1) << args;
    EXPECT_EQ(r.err, "error: " + message + "\n") << args;
    EXPECT_EQ(lines(r.err), 1) << args;
  }
  // What follows an option that takes a value is its value, whatever it looks like.
  auto dash = run_command(qwen3_binary() + " generate -m " + tiny_model() + " -p -ngl --raw -n 2 --json");
  EXPECT_EQ(dash.exit_code, 0) << dash.err;
  auto neg =
      run_command(qwen3_binary() + " generate -m " + tiny_model() + " -p hi --presence-penalty -0.5 -n 2");
  EXPECT_EQ(neg.exit_code, 0) << neg.err;
}

}  // namespace
}  // namespace qwen3::test
