// qwen3 finetune end to end on the tiny synthetic model: a few dozen conversations with fixed answers are
// memorised (greedy decoding with the written adapter gives exactly the trained answer tokens; the base model
// gives none of them), the PEFT adapter's files are exactly PEFT's format, and --json's summary line.
#include <gtest/gtest.h>

#include <cmath>
#include <filesystem>
#include <fstream>

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

// PEFT compatibility with inference: the written adapter loaded by the engine's --lora (qwen3 eval: the PEFT
// reader of src/model/lora.cpp and the run-time y = W x + s B (A x) of inference) gives, for the same
// tokens, the logits that the training pass computes with it (a whole train_step: forward, checkpointed
// recompute and backward), on the same base dtype. Both are f32 arithmetic over the same stored weights in
// different orders: agreement to 1e-4 of the largest logit.
void expect_eval_logits_match(const std::string& model_dir, const std::string& dtype,
                              const std::string& adapter, const LoraTrainConfig& lc,
                              const std::vector<int32_t>& ids) {
  LoadOptions lo;
  if (dtype == "q8_0") lo.dtype = DType::kQ8_0;
  auto model = load_model(model_dir, lo);
  LoraParams p = make_lora_params(model->config, lc, 0);
  read_peft_adapter(p, adapter);
  ThreadPool pool(2);
  std::vector<float> train_logits;
  TrainStepOptions o;
  o.pool = &pool;
  o.checkpointing = true;
  o.last_logits = &train_logits;
  TrainBatch b;
  b.add_sequence(ids, std::vector<uint8_t>(ids.size(), 1));
  train_step(*model, p, b, o);

  const std::string cmd = test::qwen3_binary() + " eval -m " + model_dir + " -t 2 --jsonl --lora " + adapter +
                          (dtype.empty() ? "" : " --dtype " + dtype);
  test::CommandResult r = test::run_command(cmd, ojson{{"ids", ids}, {"logits", true}}.dump() + "\n");
  ASSERT_EQ(r.exit_code, 0) << r.err;
  const std::vector<float> eval_logits = ojson::parse(r.out)["logits"].get<std::vector<float>>();
  ASSERT_EQ(eval_logits.size(), train_logits.size());
  double max_abs = 0, max_err = 0;
  for (size_t i = 0; i < eval_logits.size(); ++i) {
    max_abs = std::max(max_abs, std::fabs(static_cast<double>(train_logits[i])));
    max_err = std::max(max_err, std::fabs(static_cast<double>(eval_logits[i]) - train_logits[i]));
  }
  std::printf(
      "eval --lora %s vs the training pass (%s base): max |logit difference| %.3g of max |logit| %.3g\n",
      adapter.c_str(), dtype.empty() ? "stored" : dtype.c_str(), max_err, max_abs);
  EXPECT_GT(max_abs, 1.0);
  EXPECT_LE(max_err, 1e-4 * max_abs);
  // The adapter matters: the base model alone is far from these logits.
  test::CommandResult base =
      test::run_command(test::qwen3_binary() + " eval -m " + model_dir + " -t 2 --jsonl" +
                            (dtype.empty() ? "" : " --dtype " + dtype),
                        ojson{{"ids", ids}, {"logits", true}}.dump() + "\n");
  ASSERT_EQ(base.exit_code, 0) << base.err;
  const std::vector<float> base_logits = ojson::parse(base.out)["logits"].get<std::vector<float>>();
  double base_err = 0;
  for (size_t i = 0; i < base_logits.size(); ++i)
    base_err = std::max(base_err, std::fabs(static_cast<double>(base_logits[i]) - train_logits[i]));
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

}  // namespace
}  // namespace qwen3
