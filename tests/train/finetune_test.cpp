// qwen3 finetune end to end on the tiny synthetic model: a few dozen conversations with fixed answers are
// memorised (greedy decoding with the written adapter gives exactly the trained answer tokens; the base model
// gives none of them), the PEFT adapter's files are exactly PEFT's format, and --json's summary line.
#include <gtest/gtest.h>

#include <cmath>
#include <filesystem>
#include <fstream>
#include <random>

#include <nlohmann/json.hpp>

#include "chat/chat_template.h"
#include "core/thread_pool.h"
#include "formats/safetensors.h"
#include "model/forward.h"
#include "model/model.h"
#include "test_util.h"
#include "tokenizer/tokenizer.h"
#include "train/lora_params.h"
#include "train/train_data.h"
#include "train/train_step.h"

namespace qwen3 {
namespace {

using ojson = nlohmann::ordered_json;

const char* kWords[] = {"amber",  "basil",  "cobalt",  "delta",  "ember", "fjord",  "garnet", "harbor",
                        "indigo", "jasper", "kelp",    "lumen",  "maple", "nectar", "onyx",   "pepper",
                        "quartz", "raven",  "saffron", "tundra", "umber", "velvet", "willow", "zephyr"};

std::string conversations() {
  std::string out;
  int i = 0;
  for (const char* w : kWords) {
    ojson j = {{"messages",
                {{{"role", "user"}, {"content", "Code word " + std::to_string(i++) + "?"}},
                 {{"role", "assistant"}, {"content", w}}}}};
    out += j.dump() + "\n";
  }
  return out;
}

// Greedy continuation of `prompt` for n tokens with the training pass's forward (no cache: short prompts).
std::vector<int32_t> greedy(const Model& m, LoraParams& p, std::vector<int32_t> ids, size_t n,
                            ThreadPool* pool) {
  std::vector<int32_t> out;
  std::vector<float> logits;
  TrainStepOptions o;
  o.pool = pool;
  o.backward = false;
  o.last_logits = &logits;
  while (out.size() < n) {
    TrainBatch b;
    b.add_sequence(ids, std::vector<uint8_t>(ids.size(), 0));
    train_step(m, p, b, o);
    const int32_t next = argmax_token(m, logits.data());
    out.push_back(next);
    ids.push_back(next);
  }
  return out;
}

// The logits after the last of `ids` from `qwen3 eval -m model_dir EXTRA` (one JSON line).
std::vector<float> eval_logits(const std::string& model_dir, const std::string& extra,
                               const std::vector<int32_t>& ids) {
  const std::string cmd = test::qwen3_binary() + " eval -m " + model_dir + " -t 2 --jsonl" + extra;
  test::CommandResult r = test::run_command(cmd, ojson{{"ids", ids}, {"logits", true}}.dump() + "\n");
  EXPECT_EQ(r.exit_code, 0) << cmd << "\n" << r.err;
  if (r.exit_code != 0) return {};
  return ojson::parse(r.out)["logits"].get<std::vector<float>>();
}

double max_abs_diff(const std::vector<float>& a, const std::vector<float>& b) {
  EXPECT_EQ(a.size(), b.size());
  double e = 0;
  for (size_t i = 0; i < std::min(a.size(), b.size()); ++i)
    e = std::max(e, std::fabs(static_cast<double>(a[i]) - b[i]));
  return e;
}

// The logits that the training pass computes (a whole train_step: forward, checkpointed recompute and
// backward) after the last of `ids` with the adapter in `adapter`, on the base loaded with `lo`.
std::vector<float> train_logits(const std::string& model_dir, const LoadOptions& lo,
                                const std::string& adapter, const LoraTrainConfig& lc,
                                const std::vector<int32_t>& ids) {
  auto model = load_model(model_dir, lo);
  LoraParams p = make_lora_params(model->config, lc, 0);
  read_peft_adapter(p, adapter);
  ThreadPool pool(2);
  std::vector<float> logits;
  TrainStepOptions o;
  o.pool = &pool;
  o.checkpointing = true;
  o.last_logits = &logits;
  TrainBatch b;
  b.add_sequence(ids, std::vector<uint8_t>(ids.size(), 1));
  train_step(*model, p, b, o);
  return logits;
}

// PEFT compatibility with inference: the written adapter loaded by the engine's --lora (qwen3 eval: the PEFT
// reader of src/model/lora.cpp and the run-time y = W x + s B (A x) of inference) gives, for the same
// tokens, the logits that the training pass computes with it, on the same base dtype. Both are f32
// arithmetic over the same stored weights in different orders: agreement to 1e-4 of the largest logit.
void expect_eval_logits_match(const std::string& model_dir, const std::string& dtype,
                              const std::string& adapter, const LoraTrainConfig& lc,
                              const std::vector<int32_t>& ids) {
  LoadOptions lo;
  if (dtype == "q8_0") lo.dtype = DType::kQ8_0;
  const std::vector<float> train = train_logits(model_dir, lo, adapter, lc, ids);
  const std::string dt = dtype.empty() ? "" : " --dtype " + dtype;
  // --lora-dtype file: the adapter's f32 matrices as written (by default a non-f32 base keeps them as bf16).
  const std::vector<float> eval = eval_logits(model_dir, " --lora-dtype file --lora " + adapter + dt, ids);
  ASSERT_EQ(eval.size(), train.size());
  const double max_abs = max_abs_diff(train, std::vector<float>(train.size(), 0.0f));
  const double max_err = max_abs_diff(eval, train);
  std::printf(
      "eval --lora %s vs the training pass (%s base): max |logit difference| %.3g of max |logit| %.3g\n",
      adapter.c_str(), dtype.empty() ? "stored" : dtype.c_str(), max_err, max_abs);
  EXPECT_GT(max_abs, 1.0);
  EXPECT_LE(max_err, 1e-4 * max_abs);
  // The adapter matters: the base model alone is far from these logits.
  const double base_err = max_abs_diff(eval_logits(model_dir, dt, ids), train);
  EXPECT_GT(base_err, 100 * max_err + 1e-3);
}

TEST(Finetune, MemorisesFixedAnswersAndWritesAPeftAdapter) {
  const std::string model_dir = test::testdata_dir() + "/model/models/tiny-f32";
  const std::string dir = test::own_scratch_dir("finetune");
  test::write_file(dir + "/train.jsonl", conversations());
  test::CommandResult r =
      test::run_command(test::qwen3_binary() + " finetune -m " + model_dir + " --data " + dir +
                        "/train.jsonl --val " + dir + "/train.jsonl --out " + dir +
                        "/adapter --rank 16 --alpha 32 --lr 5e-3 --steps 200 --batch-tokens 128 "
                        "--warmup 10 --seed 3 -t 2 --json");
  ASSERT_EQ(r.exit_code, 0) << r.err;
  // --json: one summary line, last
  const std::string last = r.out.substr(r.out.rfind('\n', r.out.size() - 2) + 1);
  ojson s = ojson::parse(last);
  EXPECT_EQ(s["steps"].get<int>(), 200);
  EXPECT_GT(s["loss_first"].get<double>(), 5.0);
  EXPECT_LT(s["loss_last"].get<double>(), 0.5);
  EXPECT_LT(s["val_loss"].get<double>(), 0.5);
  EXPECT_GT(s["tokens_per_s"].get<double>(), 0.0);

  // PEFT's format (peft/utils/save_and_load.py, LoraConfig): the config's fields and the tensor names/shapes.
  std::ifstream cf(dir + "/adapter/adapter_config.json");
  ojson cfg = ojson::parse(cf);
  EXPECT_EQ(cfg["peft_type"], "LORA");
  EXPECT_EQ(cfg["task_type"], "CAUSAL_LM");
  EXPECT_EQ(cfg["r"], 16);
  EXPECT_EQ(cfg["lora_alpha"], 32);
  EXPECT_EQ(cfg["lora_dropout"], 0.0);
  EXPECT_EQ(cfg["bias"], "none");
  EXPECT_EQ(cfg["use_rslora"], false);
  EXPECT_EQ(cfg["use_dora"], false);
  EXPECT_EQ(cfg["fan_in_fan_out"], false);
  EXPECT_EQ(cfg["target_modules"],
            ojson::parse(R"(["down_proj","gate_proj","k_proj","o_proj","q_proj","up_proj","v_proj"])"));
  SafetensorsSet st;
  parse_safetensors(FileBuffer::open(dir + "/adapter/adapter_model.safetensors"), st);
  EXPECT_EQ(st.tensors.size(), 2u * 7 * 2);
  const std::map<std::string, std::pair<int64_t, int64_t>> shapes = {
      {"self_attn.q_proj", {64, 64}}, {"self_attn.k_proj", {32, 64}}, {"self_attn.v_proj", {32, 64}},
      {"self_attn.o_proj", {64, 64}}, {"mlp.gate_proj", {192, 64}},   {"mlp.up_proj", {192, 64}},
      {"mlp.down_proj", {64, 192}}};
  for (int il = 0; il < 2; ++il)
    for (const auto& [module, oi] : shapes) {
      const std::string base = "base_model.model.model.layers." + std::to_string(il) + "." + module;
      ASSERT_TRUE(st.tensors.count(base + ".lora_A.weight")) << base;
      EXPECT_EQ(st.tensors[base + ".lora_A.weight"].shape, (std::vector<int64_t>{16, oi.second}));
      EXPECT_EQ(st.tensors[base + ".lora_B.weight"].shape, (std::vector<int64_t>{oi.first, 16}));
      EXPECT_EQ(st.tensors[base + ".lora_A.weight"].dtype_name, "F32");
    }

  // Memorised: greedy answers are the trained tokens with the adapter, and never with the base model.
  auto model = load_model(model_dir);
  Tokenizer tok = Tokenizer::load(model_dir);
  ChatTemplate tmpl = ChatTemplate::load(model_dir);
  LoraTrainConfig lc;
  lc.rank = 16;
  lc.alpha = 32;
  lc.targets.fill(true);
  LoraParams trained = make_lora_params(model->config, lc, 0), base = trained;
  read_peft_adapter(trained, dir + "/adapter");
  ThreadPool pool(2);
  int n_right = 0, n_base_right = 0, i = 0;
  std::istringstream lines(conversations());
  for (std::string line; std::getline(lines, line); ++i) {
    TrainExample ex = render_train_example(ojson::parse(line), tok, tmpl);
    size_t first = 1;
    while (!ex.mask[first]) ++first;
    const std::vector<int32_t> prompt(ex.ids.begin(), ex.ids.begin() + static_cast<int64_t>(first));
    size_t end = first;
    while (end < ex.ids.size() && ex.mask[end]) ++end;  // the answer: "<think>\n\n</think>\n\nWORD<|im_end|>"
    const std::vector<int32_t> want(ex.ids.begin() + static_cast<int64_t>(first),
                                    ex.ids.begin() + static_cast<int64_t>(end));
    n_right += greedy(*model, trained, prompt, want.size(), &pool) == want;
    n_base_right += greedy(*model, base, prompt, want.size(), &pool) == want;
  }
  std::printf("greedy answers right: %d of 24 with the adapter, %d without\n", n_right, n_base_right);
  EXPECT_EQ(n_right, 24);
  EXPECT_EQ(n_base_right, 0);

  // The same logits under --lora as in training, on the first conversation.
  std::istringstream first_line(conversations());
  std::string line0;
  std::getline(first_line, line0);
  expect_eval_logits_match(model_dir, "", dir + "/adapter", lc,
                           render_train_example(ojson::parse(line0), tok, tmpl).ids);
}

}  // namespace
}  // namespace qwen3

namespace qwen3 {
namespace {

std::string read_bytes(const std::string& path) {
  std::ifstream f(path, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(f), {});
}

// A run resumed from its step-3 checkpoint ends with the same adapter, bit for bit, as the run that went
// straight through (same micro-batches, same AdamW moments); a q8_0 base (QLoRA) trains too.
TEST(Finetune, ResumeIsBitIdenticalAndQuantisedBasesTrain) {
  const std::string model_dir = test::testdata_dir() + "/model/models/tiny-f32";
  const std::string dir = test::own_scratch_dir("finetune_resume");
  test::write_file(dir + "/train.jsonl", conversations());
  const std::string base = test::qwen3_binary() + " finetune -m " + model_dir + " --data " + dir +
                           "/train.jsonl --batch-tokens 128 --lr 5e-3 --seed 3 -t 2 --json --out " + dir;
  test::CommandResult full = test::run_command(base + "/full --steps 6 --save-every 3");
  ASSERT_EQ(full.exit_code, 0) << full.err;
  for (const char* f :
       {"/full/checkpoint-3/adapter_model.safetensors", "/full/checkpoint-3/optimizer.safetensors",
        "/full/checkpoint-3/trainer_state.json", "/full/checkpoint-6/adapter_config.json"})
    EXPECT_TRUE(std::filesystem::exists(dir + f)) << f;
  test::CommandResult resumed =
      test::run_command(base + "/resumed --steps 6 --resume " + dir + "/full/checkpoint-3");
  ASSERT_EQ(resumed.exit_code, 0) << resumed.err;
  EXPECT_EQ(ojson::parse(resumed.out)["steps"], 3);
  EXPECT_EQ(read_bytes(dir + "/full/adapter_model.safetensors"),
            read_bytes(dir + "/resumed/adapter_model.safetensors"));
  EXPECT_NE(read_bytes(dir + "/full/adapter_model.safetensors"),
            read_bytes(dir + "/full/checkpoint-3/adapter_model.safetensors"));

  test::CommandResult q8 = test::run_command(base + "/q8 --dtype q8_0 --steps 20");
  ASSERT_EQ(q8.exit_code, 0) << q8.err;
  ojson s = ojson::parse(q8.out);
  EXPECT_LT(s["loss_last"].get<double>(), s["loss_first"].get<double>() - 1.0);
  // QLoRA's adapter gives the training pass's logits on the q8_0 base under --lora --dtype q8_0 too.
  LoraTrainConfig lc;
  lc.targets.fill(true);
  std::vector<int32_t> ids;
  for (int i = 0; i < 40; ++i) ids.push_back((i * 37 + 11) % 400);
  expect_eval_logits_match(model_dir, "q8_0", dir + "/q8", lc, ids);

  // bad flags: one clear line, exit 1
  for (const char* bad : {" --target lm_head", " --schedule step", " --rank 0"}) {
    test::CommandResult r = test::run_command(base + "/bad --steps 2" + bad);
    EXPECT_EQ(r.exit_code, 1) << bad;
    EXPECT_FALSE(std::filesystem::exists(dir + "/bad/adapter_model.safetensors")) << bad;
  }
}

// A bf16 base: with --exact-bf16's f32 activations (LoadOptions::bf16_dot = false) training and eval are the
// same f32 arithmetic in different orders, held to 1e-4 of the largest logit as above. With the default
// bf16-rounded activations both round every matmul input to bf16 (nearest even), and an input whose f32
// value differs in its last bits between the two orders may round to the neighbouring bf16 value (a step of
// 2^-8 relative), which later layers carry on and can make flip more: a chaotic difference, not a bias. On
// this 2-layer model there is none (the logits are the same bits); on the 28-layer 0.6B synthetic model
// (2026-12-07) training vs eval differ by 0.041 of max |logit| 8.5, where eval itself on AVX2 vs AVX-512
// (attention's f32 sums in another order, 2.0e-5 apart with f32 activations) differs by 0.050, and bf16 vs
// f32 activations by 0.065: the same size as inference's own spread. Bounded here by a quarter of what
// rounding the activations does at all (eval bf16 vs eval --exact-bf16).
TEST(Finetune, Bf16BaseGivesTheEvalLogitsUpToActivationRounding) {
  const std::string model_dir = test::testdata_dir() + "/model/models/tiny-bf16";
  const std::string adapter = test::own_scratch_dir("finetune_bf16") + "/adapter";
  LoraTrainConfig lc;
  lc.targets.fill(true);
  {
    auto model = load_model(model_dir, LoadOptions{});
    LoraParams p = make_lora_params(model->config, lc, 5);
    std::mt19937 rng(4);
    std::normal_distribution<float> normal(0.0f, 0.05f);
    for (auto& l : p.layers)
      for (LoraModuleParams& m : l)
        for (float& v : m.b) v = normal(rng);
    write_peft_adapter(p, adapter, model_dir);
  }
  std::vector<int32_t> ids;
  for (int i = 0; i < 40; ++i) ids.push_back((i * 37 + 11) % 400);
  LoadOptions exact;
  exact.bf16_dot = false;
  const std::vector<float> train_exact = train_logits(model_dir, exact, adapter, lc, ids);
  // --lora-dtype file: the trained f32 matrices as the training pass holds them (not rounded to bf16).
  const std::vector<float> eval_exact =
      eval_logits(model_dir, " --exact-bf16 --lora-dtype file --lora " + adapter, ids);
  const std::vector<float> train_bf16 = train_logits(model_dir, LoadOptions{}, adapter, lc, ids);
  const std::vector<float> eval_bf16 = eval_logits(model_dir, " --lora-dtype file --lora " + adapter, ids);
  const std::vector<float> base = eval_logits(model_dir, "", ids);
  const double max_abs = max_abs_diff(train_bf16, std::vector<float>(train_bf16.size(), 0.0f));
  const double e_exact = max_abs_diff(train_exact, eval_exact), e_bf16 = max_abs_diff(train_bf16, eval_bf16);
  const double e_round = max_abs_diff(eval_bf16, eval_exact), e_base = max_abs_diff(base, eval_bf16);
  std::printf(
      "bf16 base, max |logit| %.3g: training vs eval %.3g with f32 activations, %.3g with bf16 ones; bf16 vs "
      "f32 activations (eval) %.3g; without the adapter %.3g\n",
      max_abs, e_exact, e_bf16, e_round, e_base);
  EXPECT_GT(max_abs, 1.0);
  EXPECT_LE(e_exact, 1e-4 * max_abs);
  EXPECT_GT(e_round, 1e-3 * max_abs);  // the rounding is really there
  EXPECT_LE(e_bf16, 0.25 * e_round);
  EXPECT_GT(e_base, 10 * e_bf16);
}

}  // namespace
}  // namespace qwen3
