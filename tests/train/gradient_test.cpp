// The training pass's loss and LoRA gradients against tools/reference/lora_train_ref.py (float64,
// hand-written backward pass checked by finite differences) on the `small` synthetic model (head_dim 48 !=
// 128 / 4, GQA, untied lm_head), f32 and bf16 weights (exact f32 arithmetic), every projection adapted, two
// chat conversations rendered with the chat template's assistant-only loss mask packed into one batch. Random
// non-zero B (PEFT starts it at zero, where A's gradient vanishes) so every gradient is exercised.
#include <gtest/gtest.h>

#include <cmath>
#include <fstream>
#include <random>

#include <nlohmann/json.hpp>

#include "chat/chat_template.h"
#include "core/thread_pool.h"
#include "model/model.h"
#include "test_util.h"
#include "tokenizer/tokenizer.h"
#include "train/lora_params.h"
#include "train/train_data.h"
#include "train/train_step.h"

namespace qwen3 {
namespace {

using ojson = nlohmann::ordered_json;

const char* kConversations[] = {
    R"({"messages":[{"role":"system","content":"You are terse."},{"role":"user","content":"Capital of France?"},)"
    R"({"role":"assistant","content":"Paris."},{"role":"user","content":"And of Italy?"},)"
    R"({"role":"assistant","content":"Rome.","reasoning_content":"Italy's capital is Rome."}]})",
    R"({"messages":[{"role":"user","content":"Say hi"},{"role":"assistant","content":"hi there"}]})",
};

// Sets *worst_out to the worst gradient error relative to its tensor's largest reference value. `rounding`:
// bf16 activations (the default load) instead of exact f32 arithmetic, held to `tol` instead of 1e-4 (loss
// and gradients); `exact_attention` as TrainStepOptions.
void check_gradients(const std::string& model_name, int threads, bool checkpointing, bool rounding = false,
                     bool exact_attention = false, double tol = 1e-4, double* worst_out = nullptr) {
  const std::string dir = test::testdata_dir() + "/model/models/" + model_name;
  LoadOptions lo;
  lo.bf16_dot =
      rounding;  // false: exact f32 arithmetic on the stored bf16 values, as the reference widens them
  auto model = load_model(dir, lo);
  Tokenizer tok = Tokenizer::load(dir);
  ChatTemplate tmpl = ChatTemplate::load(dir);
  TrainBatch batch;
  ojson seqs = ojson::array();
  for (const char* c : kConversations) {
    TrainExample ex = render_train_example(ojson::parse(c), tok, tmpl);
    batch.add_sequence(ex.ids, ex.mask);
    seqs.push_back({{"ids", ex.ids}, {"mask", ex.mask}});
  }
  LoraTrainConfig lc;
  lc.rank = 4;
  lc.alpha = 8;
  lc.targets.fill(true);
  LoraParams p = make_lora_params(model->config, lc, 11);
  std::mt19937 rng(3);
  std::normal_distribution<float> normal(0.0f, 0.05f);
  for (auto& l : p.layers)
    for (LoraModuleParams& m : l)
      for (float& v : m.b) v = normal(rng);
  ThreadPool pool(threads);
  TrainStepOptions o;
  o.pool = &pool;
  o.checkpointing = checkpointing;
  o.exact_attention = exact_attention;
  const int64_t n_labels = batch.n_labels();
  o.loss_scale = 1.0f / static_cast<float>(n_labels);
  const double loss = train_step(*model, p, batch, o) / static_cast<double>(n_labels);

  const std::string scratch = test::own_scratch_dir("train_gradients");
  write_peft_adapter(p, scratch + "/adapter", dir);
  test::write_file(scratch + "/batch.json", ojson{{"sequences", seqs}}.dump());
  test::CommandResult r =
      test::run_command("/usr/bin/python3 " + test::source_dir() + "/tools/reference/lora_train_ref.py " +
                        dir + " " + scratch + "/adapter " + scratch + "/batch.json");
  ASSERT_EQ(r.exit_code, 0) << r.err;
  ojson ref = ojson::parse(r.out);
  EXPECT_EQ(ref["n_labels"].get<int64_t>(), n_labels);
  EXPECT_NEAR(loss, ref["loss"].get<double>(), tol / 10 * std::fabs(ref["loss"].get<double>()));
  double worst = 0;
  int n_checked = 0;
  for (size_t il = 0; il < p.layers.size(); ++il)
    for (int t = 0; t < kLoraTargets; ++t)
      for (bool a : {true, false}) {
        const LoraModuleParams& m = p.layers[il][t];
        const std::vector<float>& g = a ? m.ga : m.gb;
        const std::string name = peft_tensor_name(static_cast<int>(il), t, a);
        const std::vector<double> want = ref["grads"][name].get<std::vector<double>>();
        ASSERT_EQ(want.size(), g.size()) << name;
        double max_ref = 0, max_err = 0;
        for (size_t i = 0; i < g.size(); ++i) {
          max_ref = std::max(max_ref, std::fabs(want[i]));
          max_err = std::max(max_err, std::fabs(g[i] - want[i]));
        }
        ASSERT_GT(max_ref, 0.0) << name << ": a zero gradient checks nothing";
        const double rel = max_err / max_ref;
        worst = std::max(worst, rel);
        EXPECT_LE(rel, tol) << name << ": max |error| " << max_err << " of max |gradient| " << max_ref;
        ++n_checked;
      }
  EXPECT_EQ(n_checked, 2 * kLoraTargets * model->config.num_hidden_layers);
  std::printf(
      "%s, %d threads%s%s: loss %.8f (reference %.8f), worst gradient error %.3g of the tensor's largest\n",
      model_name.c_str(), threads, rounding ? ", bf16 activations" : "",
      rounding ? (exact_attention ? ", f32 attention" : ", bf16 attention backward") : "", loss,
      ref["loss"].get<double>(), worst);
  if (worst_out) *worst_out = worst;
}

TEST(TrainGradients, SmallF32MatchTheReference) {
  check_gradients("small-f32", 2, true);
}

TEST(TrainGradients, SmallBf16MatchTheReference) {
  check_gradients("small-bf16", 1, false);
}

// Where the base rounds its activations to bf16 (the default load of a bf16 model), attention's backward
// rounds its operands too (TrainStepOptions::exact_attention = false): the gradients stay as near the
// float64 reference as with attention's backward in f32 (the base's own rounding dominates), and they are
// not the same bits (the bf16 path is really taken); checkpointing does not change them.
TEST(TrainGradients, SmallBf16RoundedAttentionStaysNearTheReference) {
  double f32_attention = -1, bf16_attention = -1;
  check_gradients("small-bf16", 2, true, true, true, 0.05, &f32_attention);
  check_gradients("small-bf16", 2, true, true, false, 0.05, &bf16_attention);
  ASSERT_GE(f32_attention, 0);
  ASSERT_GE(bf16_attention, 0);
  // Without checkpointing (every layer keeping its own probabilities) the same gradients, bit for bit.
  double kept = -1;
  check_gradients("small-bf16", 2, false, true, false, 0.05, &kept);
  EXPECT_EQ(kept, bf16_attention);
  EXPECT_NE(f32_attention, bf16_attention);
  EXPECT_LE(bf16_attention, 1.5 * f32_attention);
}

}  // namespace
}  // namespace qwen3
