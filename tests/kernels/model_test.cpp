// Whole-model checks of the kernels: logits agree bit for bit across ISAs for every weight dtype (through
// `qwen3 eval` with QWEN3_ISA), `qwen3 quantize` round trips (the file loads to the same weights as
// quantising at load; logits stay close to the unquantised model), and malformed quantised files fail with
// clear errors; a converting load streamed from a mapping gives the same weights as converting the whole
// file.
#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <filesystem>
#include <functional>
#include <optional>

#include <nlohmann/json.hpp>

#include "core/error.h"
#include "formats/safetensors_writer.h"
#include "kernels/kernels.h"
#include "model/forward.h"
#include "model/weights.h"
#include "test_util.h"

namespace qwen3 {
namespace {

namespace fs = std::filesystem;
using test::run_command;

// A tiny synthetic bf16 model, made once per test process.
const std::string& tiny_model() {
  static const std::string dir = [] {
    std::string d = test::own_scratch_dir("kernels_tiny") + "/model";
    auto r =
        run_command(test::qwen3_binary() + " synth --preset tiny --dtype bf16 --no-tokenizer --out " + d);
    EXPECT_EQ(r.exit_code, 0) << r.err;
    return d;
  }();
  return dir;
}

std::string quantized(const std::string& type) {
  std::string out = test::own_scratch_dir("kernels_tiny_" + type) + "/model";
  auto r =
      run_command(test::qwen3_binary() + " quantize -m " + tiny_model() + " -o " + out + " --type " + type);
  EXPECT_EQ(r.exit_code, 0) << r.err;
  return out;
}

std::vector<float> prompt_logits(const Model& m) {
  std::vector<int32_t> ids;
  for (int i = 0; i < 23; ++i) ids.push_back((i * 7919 + 13) % 151643);
  ThreadPool pool(2);
  ForwardOptions fo;
  fo.pool = &pool;
  return generate_greedy(m, ids, 1, fo, true).prompt_logits;
}

// The matmuls are bitwise equal across ISAs (matmul_test.cpp); attention's dot products are not required to
// be, so the whole model is held to 1e-5 x max |logit| and identical greedy tokens.
TEST(ModelKernels, LogitsAgreeAcrossIsasForEveryDtype) {
  const std::string req = R"({"ids": [1, 2, 3, 500, 9000, 151000, 17], "n_predict": 6, "logits": true})";
  for (const char* dtype : {"f32", "f16", "bf16", "q8_0", "q4_0"}) {
    nlohmann::json first;
    for (kernels::Isa isa : {kernels::Isa::kScalar, kernels::Isa::kAvx2, kernels::Isa::kAvx512}) {
      if (!kernels::isa_supported(isa)) continue;
      auto r = run_command(std::string("QWEN3_ISA=") + kernels::isa_name(isa) + " " + test::qwen3_binary() +
                               " eval -m " + tiny_model() + " --dtype " + dtype + " --threads 2 --jsonl",
                           req + "\n");
      ASSERT_EQ(r.exit_code, 0) << r.err;
      auto out = nlohmann::json::parse(r.out);
      if (first.is_null()) {
        first = out;
        continue;
      }
      auto a = first["logits"].get<std::vector<float>>(), b = out["logits"].get<std::vector<float>>();
      ASSERT_EQ(a.size(), b.size());
      double max_ref = 0, max_diff = 0;
      for (size_t i = 0; i < a.size(); ++i) {
        max_ref = std::max(max_ref, static_cast<double>(std::fabs(a[i])));
        max_diff = std::max(max_diff, static_cast<double>(std::fabs(a[i] - b[i])));
      }
      EXPECT_LE(max_diff, 1e-5 * max_ref) << dtype << ": " << kernels::isa_name(isa) << " vs scalar";
      EXPECT_EQ(out["greedy"], first["greedy"]) << dtype << ": " << kernels::isa_name(isa) << " vs scalar";
    }
  }
}

TEST(ModelKernels, QuantizedFileLoadsLikeQuantizingAtLoad) {
  auto base = load_model(tiny_model());
  auto ref = prompt_logits(*base);
  double max_ref = 0;
  for (float v : ref) max_ref = std::max(max_ref, static_cast<double>(std::fabs(v)));
  for (auto [type, dtype, bound] :
       {std::tuple{"q8_0", DType::kQ8_0, 0.05}, std::tuple{"q4_0", DType::kQ4_0, 0.5}}) {
    std::string dir = quantized(type);
    EXPECT_TRUE(fs::exists(dir + "/config.json"));
    auto from_file = load_model(dir);
    EXPECT_EQ(from_file->matrix_dtype(), dtype);
    LoadOptions at_load;
    at_load.dtype = dtype;
    auto converted = load_model(tiny_model(), at_load);
    auto a = prompt_logits(*from_file), b = prompt_logits(*converted);
    EXPECT_EQ(a, b) << type << ": the quantised file and quantising at load differ";
    double max_diff = 0;
    for (size_t i = 0; i < ref.size(); ++i)
      max_diff = std::max(max_diff, static_cast<double>(std::fabs(a[i] - ref[i])));
    EXPECT_LE(max_diff, bound * max_ref)
        << type << ": max |logit diff| " << max_diff << " vs max |logit| " << max_ref;
    std::printf("%s: max |logit - bf16 logit| = %.4g (max |logit| %.4g)\n", type, max_diff, max_ref);
    // Loading it again as another dtype dequantises.
    LoadOptions as_f32;
    as_f32.dtype = DType::kF32;
    EXPECT_EQ(load_model(dir, as_f32)->matrix_dtype(), DType::kF32);
  }
  auto r = run_command(test::qwen3_binary() + " quantize -m " + quantized("q8_0") + " -o " +
                       test::own_scratch_dir("kernels_requant") + "/m --type q4_0");
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_NE(r.err.find("already quantised"), std::string::npos) << r.err;
  r = run_command(test::qwen3_binary() + " quantize -m " + tiny_model() + " -o /tmp/x --type iq2_xxs");
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_NE(r.err.find("choose q8_0, q4_0 or fp8"), std::string::npos) << r.err;
  // A GGUF-only type (q5_0) asked for a directory: told to write a .gguf file.
  r = run_command(test::qwen3_binary() + " quantize -m " + tiny_model() + " -o /tmp/x --type q5_0");
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_NE(r.err.find("written as q8_0, q4_0 or fp8 only (give an output ending in .gguf"),
            std::string::npos)
      << r.err;
}

// Every matrix and norm of two loaded models, byte for byte.
void expect_same_weights(const Model& a, const Model& b, const std::string& what) {
  auto same = [&](const Tensor& x, const Tensor& y, const std::string& name) {
    ASSERT_EQ(x.dtype, y.dtype) << what << ": " << name;
    ASSERT_EQ(x.bytes(), y.bytes()) << what << ": " << name;
    EXPECT_EQ(0, std::memcmp(x.data, y.data, x.bytes())) << what << ": " << name;
  };
  same(a.weights.embed_tokens, b.weights.embed_tokens, "embed_tokens");
  same(a.weights.lm_head, b.weights.lm_head, "lm_head");
  EXPECT_EQ(a.weights.norm, b.weights.norm) << what;
  ASSERT_EQ(a.weights.layers.size(), b.weights.layers.size());
  for (size_t il = 0; il < a.weights.layers.size(); ++il) {
    const LayerWeights &x = a.weights.layers[il], &y = b.weights.layers[il];
    const std::string l = "layer " + std::to_string(il) + " ";
    same(x.q_proj, y.q_proj, l + "q_proj");
    same(x.k_proj, y.k_proj, l + "k_proj");
    same(x.v_proj, y.v_proj, l + "v_proj");
    same(x.o_proj, y.o_proj, l + "o_proj");
    same(x.gate_proj, y.gate_proj, l + "gate_proj");
    same(x.up_proj, y.up_proj, l + "up_proj");
    same(x.down_proj, y.down_proj, l + "down_proj");
    EXPECT_TRUE(x.q_norm == y.q_norm && x.k_norm == y.k_norm && x.input_layernorm == y.input_layernorm &&
                x.post_attention_layernorm == y.post_attention_layernorm)
        << what << ": " << l << "norms";
  }
}

// The weights as the loader made them before conversions streamed from a mapping: the whole file read into
// memory, every matrix converted out of it.
std::unique_ptr<Model> load_whole_file(const std::string& dir, std::optional<DType> dtype) {
  auto m = std::make_unique<Model>();
  m->dir = dir;
  m->config = load_model_config(dir);
  m->files = load_safetensors_dir(dir, MapMode::kRead);
  LoadOptions o;
  o.dtype = dtype;
  ThreadPool pool(2);
  bind_weights(*m, o, &pool);
  return m;
}

// A load with --dtype maps the file and converts it slab by slab, dropping the pages behind it (--mmap does
// the same without a conversion); the weights are the same bytes as converting the whole file read into
// memory, for every target dtype, from a bf16 model and from a quantised one.
TEST(ModelKernels, StreamedConversionGivesTheSameWeights) {
  for (const std::string& dir : {tiny_model(), quantized("q8_0")}) {
    for (DType t : {DType::kF32, DType::kF16, DType::kBF16, DType::kQ8_0, DType::kQ4_0}) {
      LoadOptions o;
      o.dtype = t;
      auto streamed = load_model(dir, o);
      EXPECT_FALSE(streamed->weights_in_files);
      EXPECT_TRUE(streamed->files.files.empty()) << "the mapping is released after the load";
      expect_same_weights(*streamed, *load_whole_file(dir, t), dir + " --dtype " + dtype_name(t));
    }
    LoadOptions mapped;
    mapped.map_mode = MapMode::kMmap;
    expect_same_weights(*load_model(dir, mapped), *load_whole_file(dir, std::nullopt), dir + " --mmap");
    expect_same_weights(*load_model(dir), *load_whole_file(dir, std::nullopt), dir + " as stored");
  }
}

// Rewrites the quantised tiny model's safetensors with one tensor or the metadata changed, and expects
// load_model to fail naming the problem.
void expect_load_error(const std::string& name,
                       const std::function<void(std::vector<StWriteTensor>&,
                                                std::vector<std::pair<std::string, std::string>>&)>& edit,
                       const std::string& message) {
  std::string src = quantized("q8_0");
  std::string dir = test::own_scratch_dir("kernels_bad_" + name) + "/model";
  fs::create_directories(dir);
  for (auto& e : fs::directory_iterator(src))
    if (e.path().filename() != "model.safetensors")
      fs::copy_file(e.path(), dir + "/" + e.path().filename().string());
  SafetensorsSet set = load_safetensors_dir(src, MapMode::kRead);
  std::vector<StWriteTensor> tensors;
  std::vector<const StTensor*> data;
  for (auto& [n, st] : set.tensors) {
    tensors.push_back({n, st.dtype_name, st.shape, st.n_bytes});
    data.push_back(&st);
  }
  std::vector<std::pair<std::string, std::string>> meta(set.metadata.begin(), set.metadata.end());
  edit(tensors, meta);
  write_safetensors(dir + "/model.safetensors", tensors, meta, [&](size_t i, uint8_t* out) {
    std::memset(out, 0, tensors[i].n_bytes);
    std::memcpy(out, data[i]->data, std::min(tensors[i].n_bytes, data[i]->n_bytes));
  });
  try {
    load_model(dir);
    ADD_FAILURE() << name << ": loaded without error";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find(message), std::string::npos) << name << ": " << e.what();
  }
}

TEST(ModelKernels, BadQuantizedFilesGiveClearErrors) {
  expect_load_error(
      "no_metadata", [](auto&, auto& meta) { meta.clear(); }, "no qwen3.quantization entry");
  expect_load_error(
      "unknown_type",
      [](auto&, auto& meta) {
        meta = {{"qwen3.quantization", "iq2_xxs"}};
      },
      "unknown qwen3.quantization 'iq2_xxs'");
  expect_load_error(
      "wrong_shape",
      [](auto& tensors, auto&) {
        for (auto& t : tensors)
          if (t.name == "model.layers.0.mlp.up_proj.weight") {
            t.shape[1] = 64;  // f32-like column count instead of 2 blocks x 34 bytes
            t.n_bytes = static_cast<size_t>(t.shape[0] * 64);
          }
      },
      "is stored as U8 [192, 68]");
  expect_load_error(
      "u8_norm",
      [](auto& tensors, auto&) {
        for (auto& t : tensors)
          if (t.name == "model.norm.weight") {
            t.dtype = "U8";
            t.n_bytes = static_cast<size_t>(t.shape[0]);
          }
      },
      "has dtype U8; expected BF16, F16 or F32");
}

}  // namespace
}  // namespace qwen3
