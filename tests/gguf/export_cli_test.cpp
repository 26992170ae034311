// `qwen3 quantize -o X.gguf`: every bad argument or input is exit status 1 with one clear `error:` line, and
// a failed write leaves no file behind. (What a good file holds is checked by export.test.js with an
// independent parser.)
#include <gtest/gtest.h>

#include <filesystem>

#include "test_util.h"

namespace qwen3 {
namespace {

namespace fs = std::filesystem;
using test::run_command;

std::string synth(const std::string& dir, const std::string& extra = "") {
  auto r = run_command(test::qwen3_binary() + " synth --preset tiny --dtype bf16 --out " + dir + " " + extra);
  EXPECT_EQ(r.exit_code, 0) << r.err;
  return dir;
}

// Runs quantize with `args`; expects exit 1 and one error line containing every part.
void expect_error(const std::string& args, const std::vector<std::string>& parts) {
  auto r = run_command(test::qwen3_binary() + " quantize " + args);
  EXPECT_EQ(r.exit_code, 1) << args << "\n" << r.err;
  EXPECT_TRUE(r.err.starts_with("error: ")) << r.err;
  EXPECT_EQ(r.err.find('\n'), r.err.size() - 1) << "one line: " << r.err;
  for (const auto& p : parts)
    EXPECT_NE(r.err.find(p), std::string::npos) << "'" << p << "' not in: " << r.err;
}

TEST(GgufExportCli, BadArguments) {
  const std::string s = test::own_scratch_dir("gguf_cli");
  const std::string model = synth(s + "/tiny");
  expect_error("-m " + model + " -o " + s + "/x.gguf --type iq2_xxs",
               {"--type iq2_xxs", "q2_k", "q3_k_m", "q4_k_m", "q6_k", "q8_0, q4_0", "q5_1"});
  expect_error("-m " + model + " -o " + s + "/dir --type bf16", {"--type bf16", ".gguf"});
  expect_error("-m " + s + "/nothing-here -o " + s + "/x.gguf --type q8_0", {"nothing-here"});
  fs::create_directories(s + "/d.gguf");
  expect_error("-m " + model + " -o " + s + "/d.gguf --type q8_0", {"d.gguf", "is a directory"});
  expect_error("-m " + model + " -o " + s + "/no/such/dir/x.gguf --type q8_0", {"x.gguf", "cannot create"});
  expect_error("-m " + model + " --type q8_0", {"--out"});  // CLI11: a required option missing
  EXPECT_FALSE(fs::exists(s + "/x.gguf"));
  EXPECT_FALSE(fs::exists(s + "/x.gguf.part"));
  // A GGUF file is no input for quantize.
  auto r = run_command(test::qwen3_binary() + " quantize -m " + model + " -o " + s + "/m.gguf --type q8_0");
  ASSERT_EQ(r.exit_code, 0) << r.err;
  expect_error("-m " + s + "/m.gguf -o " + s + "/y.gguf --type q8_0", {"m.gguf", "not a GGUF file"});
}

TEST(GgufExportCli, BadInputs) {
  const std::string s = test::own_scratch_dir("gguf_inputs");
  // No tokenizer: a GGUF file carries one.
  const std::string bare = synth(s + "/bare", "--no-tokenizer");
  expect_error("-m " + bare + " -o " + s + "/x.gguf --type q8_0", {"no tokenizer.json"});
  // A tensor missing from the safetensors: named, and no partial output left behind.
  const std::string model = synth(s + "/broken");
  auto r = run_command(
      "python3 -c \"import json,struct,sys; p=sys.argv[1]; b=open(p,'rb').read(); "
      "n=struct.unpack('<Q',b[:8])[0]; h=json.loads(b[8:8+n]); "
      "del h['model.layers.1.mlp.up_proj.weight']; t=json.dumps(h).encode(); "
      "open(p,'wb').write(struct.pack('<Q',len(t))+t+b[8+n:])\" " +
      model + "/model.safetensors");
  ASSERT_EQ(r.exit_code, 0) << r.err;
  expect_error("-m " + model + " -o " + s + "/x.gguf --type q8_0",
               {"missing tensor", "model.layers.1.mlp.up_proj.weight"});
  EXPECT_FALSE(fs::exists(s + "/x.gguf"));
  EXPECT_FALSE(fs::exists(s + "/x.gguf.part"));
  // A tokenizer with more tokens than the embedding has rows.
  const std::string small_vocab = synth(s + "/small_vocab");
  r = run_command("sed -i 's/\"vocab_size\": 151936/\"vocab_size\": 1000/' " + small_vocab + "/config.json");
  ASSERT_EQ(r.exit_code, 0);
  expect_error("-m " + small_vocab + " -o " + s + "/y.gguf --type q8_0", {"tokenizer.json", "vocab_size"});
}

TEST(GgufExportCli, WritesAFile) {
  const std::string s = test::own_scratch_dir("gguf_ok");
  const std::string model = synth(s + "/tiny");
  auto r = run_command(test::qwen3_binary() + " quantize -m " + model + " -o " + s + "/m.gguf --type q4_0");
  EXPECT_EQ(r.exit_code, 0) << r.err;
  EXPECT_TRUE(fs::exists(s + "/m.gguf"));
  EXPECT_FALSE(fs::exists(s + "/m.gguf.part"));
  EXPECT_EQ(r.out, "");  // stdout is for generated text only
}

}  // namespace
}  // namespace qwen3
