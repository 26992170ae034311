// Every broken input fails with one clear qwen3::Error naming the file and the problem, never a crash.
// Each case starts from a copy of the tiny synthetic model and breaks one thing.
#include <gtest/gtest.h>

#include <cstring>
#include <filesystem>
#include <fstream>

#include "core/error.h"
#include "model/forward.h"
#include "model/model.h"
#include "reference_data.h"

namespace qwen3 {
namespace {

namespace fs = std::filesystem;
using json = nlohmann::ordered_json;

std::string slurp(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(in), {});
}

// A fresh copy of tiny-f32 under a scratch directory.
std::string copy_tiny(const std::string& name) {
  std::string dir = test::scratch_dir("broken_" + name);
  for (auto& e : fs::directory_iterator(test::synth_model("tiny-f32")))
    if (e.path().filename() != "tokenizer.json")
      fs::copy_file(e.path(), dir + "/" + e.path().filename().string());
  return dir;
}

// Rewrites dir/model.safetensors after `edit` changes its header JSON and/or data bytes.
void rewrite(const std::string& dir, const std::function<void(json&, std::string&)>& edit) {
  std::string path = dir + "/model.safetensors";
  std::string file = slurp(path);
  uint64_t n;
  std::memcpy(&n, file.data(), 8);
  json header = json::parse(file.substr(8, n));
  std::string data = file.substr(8 + n);
  edit(header, data);
  std::string text = header.dump();
  uint64_t len = text.size();
  std::string out(reinterpret_cast<const char*>(&len), 8);
  test::write_file(path, out + text + data);
}

// Loads `dir` and returns the error message ("" if it loaded).
std::string load_error(const std::string& dir) {
  try {
    load_model(dir);
  } catch (const Error& e) {
    std::string msg = e.what();
    EXPECT_EQ(msg.find('\n'), std::string::npos) << "the message must be one line: " << msg;
    return msg;
  }
  return "";
}

void expect_error(const std::string& dir, const std::vector<std::string>& parts) {
  std::string msg = load_error(dir);
  ASSERT_FALSE(msg.empty()) << "expected an error for " << dir;
  for (const auto& p : parts) EXPECT_NE(msg.find(p), std::string::npos) << "'" << p << "' not in: " << msg;
}

TEST(LoadErrors, IntactCopyLoads) {
  EXPECT_EQ(load_error(copy_tiny("intact")), "");
}

TEST(LoadErrors, FileShorterThanHeaderLength) {
  std::string dir = copy_tiny("short");
  test::write_file(dir + "/model.safetensors", "abc");
  expect_error(dir, {"model.safetensors", "truncated"});
}

TEST(LoadErrors, TruncatedData) {
  std::string dir = copy_tiny("truncated");
  std::string path = dir + "/model.safetensors";
  fs::resize_file(path, fs::file_size(path) / 2);
  expect_error(dir, {"model.safetensors", "outside the data section"});
}

TEST(LoadErrors, HeaderLengthBeyondFile) {
  std::string dir = copy_tiny("header_len");
  std::string file = slurp(dir + "/model.safetensors");
  uint64_t huge = 1ull << 40;
  std::memcpy(file.data(), &huge, 8);
  test::write_file(dir + "/model.safetensors", file);
  expect_error(dir, {"model.safetensors", "header length", "beyond the end of the file"});
}

TEST(LoadErrors, MalformedHeaderJson) {
  std::string dir = copy_tiny("bad_json");
  std::string file = slurp(dir + "/model.safetensors");
  file[8] = '[';  // the header object now starts as an unterminated array
  file[9] = '{';
  test::write_file(dir + "/model.safetensors", file);
  expect_error(dir, {"model.safetensors", "malformed header JSON"});
}

TEST(LoadErrors, DataOffsetsOutsideFile) {
  std::string dir = copy_tiny("offsets");
  rewrite(dir, [](json& h, std::string& data) {
    h["model.norm.weight"]["data_offsets"] = {data.size() - 4, data.size() + 252};
  });
  expect_error(dir, {"model.safetensors", "model.norm.weight", "outside the data section"});
}

TEST(LoadErrors, OverlappingTensors) {
  std::string dir = copy_tiny("overlap");
  rewrite(dir, [](json& h, std::string&) {
    h["model.layers.0.self_attn.k_norm.weight"]["data_offsets"] =
        h["model.layers.0.self_attn.q_norm.weight"]["data_offsets"];
  });
  expect_error(dir, {"model.safetensors", "overlap"});
}

TEST(LoadErrors, MissingTensor) {
  std::string dir = copy_tiny("missing");
  rewrite(dir, [](json& h, std::string&) { h.erase("model.layers.1.mlp.up_proj.weight"); });
  expect_error(dir, {"missing tensor 'model.layers.1.mlp.up_proj.weight'"});
}

TEST(LoadErrors, UnexpectedTensor) {
  std::string dir = copy_tiny("unexpected");
  rewrite(dir, [](json& h, std::string& data) {
    size_t at = data.size();
    data.append(16, '\0');
    h["model.layers.7.self_attn.q_proj.bias"] = {
        {"dtype", "F32"}, {"shape", {4}}, {"data_offsets", {at, at + 16}}};
  });
  expect_error(dir, {"model.safetensors", "unexpected tensor 'model.layers.7.self_attn.q_proj.bias'"});
}

TEST(LoadErrors, WrongShape) {
  std::string dir = copy_tiny("shape");
  rewrite(dir, [](json& h, std::string&) {
    h["model.layers.0.self_attn.o_proj.weight"]["shape"] = {32, 128};  // same bytes, transposed-looking shape
  });
  expect_error(dir, {"model.layers.0.self_attn.o_proj.weight", "[32, 128]", "[64, 64]"});
}

TEST(LoadErrors, ShapeDisagreesWithBytes) {
  std::string dir = copy_tiny("shape_bytes");
  rewrite(dir, [](json& h, std::string&) { h["model.norm.weight"]["shape"] = {65}; });
  expect_error(dir, {"model.norm.weight", "bytes of data"});
}

TEST(LoadErrors, WrongDtype) {
  std::string dir = copy_tiny("dtype");
  rewrite(dir, [](json& h, std::string&) { h["model.norm.weight"]["dtype"] = "I32"; });
  expect_error(dir, {"model.norm.weight", "dtype I32", "expected BF16, F16 or F32"});
}

TEST(LoadErrors, UnknownDtype) {
  std::string dir = copy_tiny("dtype_unknown");
  rewrite(dir, [](json& h, std::string&) { h["model.norm.weight"]["dtype"] = "Q9"; });
  expect_error(dir, {"model.norm.weight", "unknown dtype 'Q9'"});
}

// Stores the f32 tensor `name` as BF16 (its values truncated to bf16), its new bytes appended to the data
// section: one matrix whose dtype differs from the rest of the model's.
void retype_bf16(const std::string& dir, const std::string& name) {
  rewrite(dir, [&](json& h, std::string& data) {
    ASSERT_EQ(h[name]["dtype"], "F32");
    const size_t begin = h[name]["data_offsets"][0], end = h[name]["data_offsets"][1];
    std::string bf16;
    for (size_t i = begin; i < end; i += 4) bf16 += data.substr(i + 2, 2);  // the high half of each f32
    const size_t at = data.size();
    data += bf16;
    h[name]["dtype"] = "BF16";
    h[name]["data_offsets"] = {at, at + (end - begin) / 2};
  });
}

// gate_proj and up_proj are multiplied in one pass over the same input (kernels::matmul_gate_up_silu), which
// needs one dtype: a model that mixes them is refused at load, naming file, tensor and both dtypes, not at
// the first forward pass with a message about shapes.
TEST(LoadErrors, GateUpDtypesDiffer) {
  std::string dir = copy_tiny("gate_up_dtype");
  retype_bf16(dir, "model.layers.1.mlp.up_proj.weight");
  expect_error(dir, {dir + "/model.safetensors: tensor 'model.layers.1.mlp.up_proj.weight' is bf16",
                     "expected f32, the dtype of model.layers.1.mlp.gate_proj.weight", "--dtype"});
  // Converting every matrix at load gives them one dtype: then it loads and runs.
  LoadOptions o;
  o.dtype = DType::kBF16;
  auto m = load_model(dir, o);
  EXPECT_EQ(generate_greedy(*m, {1, 2, 3}, 2, {}, false).tokens.size(), 2u);
}

// q_proj, k_proj and v_proj share an input too, but the forward pass runs a mixed set one matrix at a time
// (kernels::matmul_shared_input): such a model loads and runs.
TEST(LoadErrors, MixedAttentionDtypesRun) {
  std::string dir = copy_tiny("qkv_dtype");
  retype_bf16(dir, "model.layers.0.self_attn.k_proj.weight");
  EXPECT_EQ(load_error(dir), "");
  auto m = load_model(dir);
  EXPECT_EQ(m->weights.layers[0].k_proj.dtype, DType::kBF16);
  EXPECT_EQ(generate_greedy(*m, {1, 2, 3}, 2, {}, false).tokens.size(), 2u);
}

TEST(LoadErrors, MissingShard) {
  std::string dir = test::scratch_dir("broken_shard");
  for (auto& e : fs::directory_iterator(test::synth_model("tiny-f32-sharded")))
    fs::copy_file(e.path(), dir + "/" + e.path().filename().string());
  fs::remove(dir + "/model-00002-of-00003.safetensors");
  expect_error(dir, {"missing shard model-00002-of-00003.safetensors"});
}

TEST(LoadErrors, NoWeights) {
  std::string dir = copy_tiny("no_weights");
  fs::remove(dir + "/model.safetensors");
  expect_error(dir, {"no model.safetensors"});
}

void edit_config(const std::string& dir, const std::function<void(json&)>& edit) {
  json c = json::parse(slurp(dir + "/config.json"));
  edit(c);
  test::write_file(dir + "/config.json", c.dump(2));
}

TEST(LoadErrors, ConfigProblems) {
  struct Case {
    const char* name;
    std::function<void(json&)> edit;
    std::string expected;
  };
  std::vector<Case> cases = {
      {"model_type", [](json& c) { c["model_type"] = "llama"; }, "unsupported model_type \"llama\""},
      {"rope_scaling",
       [](json& c) {
         c["rope_scaling"] = {{"rope_type", "linear"}, {"factor", 4.0}};
       },
       "unsupported rope_scaling rope_type \"linear\""},
      {"yarn_factor",
       [](json& c) {
         c["rope_scaling"] = {{"rope_type", "yarn"}, {"factor", 0.5}};
       },
       "YaRN rope_scaling needs \"factor\" >= 1"},
      {"head_dim", [](json& c) { c.erase("head_dim"); }, "missing field \"head_dim\""},
      {"heads", [](json& c) { c["num_key_value_heads"] = 3; }, "not a multiple of num_key_value_heads"},
      {"negative", [](json& c) { c["hidden_size"] = -64; }, "\"hidden_size\" must be a positive integer"},
      {"bias", [](json& c) { c["attention_bias"] = true; }, "unsupported attention_bias"},
      {"head_dim_shape", [](json& c) { c["head_dim"] = 32; }, "config.json implies"},
  };
  for (auto& c : cases) {
    std::string dir = copy_tiny(std::string("config_") + c.name);
    edit_config(dir, c.edit);
    expect_error(dir, {c.expected});
  }
  std::string dir = copy_tiny("config_json");
  test::write_file(dir + "/config.json", "{\"model_type\": \"qwen3\",");
  expect_error(dir, {"config.json", "malformed JSON"});
  dir = copy_tiny("config_missing");
  fs::remove(dir + "/config.json");
  expect_error(dir, {"config.json", "not found"});
}

// The CLI turns a load error into one line on stderr and exit status 1.
TEST(LoadErrors, CliReportsOneLineAndExitsOne) {
  std::string dir = copy_tiny("cli");
  rewrite(dir, [](json& h, std::string&) { h.erase("model.norm.weight"); });
  auto r = test::run_command(test::qwen3_binary() + " generate -m " + dir + " --ids 1,2,3 -n 2");
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_EQ(r.out, "");
  EXPECT_EQ(r.err, "error: " + dir + ": missing tensor 'model.norm.weight'\n");
}

}  // namespace
}  // namespace qwen3

namespace qwen3 {
namespace {

// The tokenizer's size is read from model.vocab and added_tokens[].id only (a streaming parse, no JSON tree):
// ids elsewhere, however nested, do not count; malformed JSON is an error naming the file.
TEST(LoadErrors, TokenizerSizeFromVocabAndAddedTokens) {
  std::string dir = test::scratch_dir("tokenizer_size");
  test::write_file(dir + "/tokenizer.json", R"({
    "id": 9000, "version": "1.0",
    "added_tokens": [{"id": 400, "content": "<a>", "extra": {"id": 8000}}, {"content": "<b>", "id": 2}],
    "model": {"type": "BPE", "vocab": {"a": 5, "b": 300, "c": 1.5e9}, "merges": [["a", "b"], [7000]],
              "added_tokens": [{"id": 7500}]},
    "post_processor": {"vocab": {"z": 9999}, "model": {"vocab": {"y": 9998}}}
  })");
  EXPECT_EQ(tokenizer_size_from_json(dir), 401);
  test::write_file(dir + "/tokenizer.json", R"({"model": {"vocab": {"a": 5}}, "added_tokens": [{"id": 3}]})");
  EXPECT_EQ(tokenizer_size_from_json(dir), 6);
  test::write_file(dir + "/tokenizer.json", R"({"model": {"vocab": {"a": 5,}}})");
  try {
    tokenizer_size_from_json(dir);
    ADD_FAILURE() << "malformed tokenizer.json accepted";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("tokenizer.json: malformed JSON"), std::string::npos) << e.what();
  }
  EXPECT_EQ(tokenizer_size_from_json(test::scratch_dir("tokenizer_size_none")), 0);
}

}  // namespace
}  // namespace qwen3
