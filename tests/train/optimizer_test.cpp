// AdamW, clipping and the learning-rate schedules against values worked out from torch.optim.AdamW's and
// transformers.get_scheduler's definitions; PEFT's initialisation (A Kaiming-uniform bound 1/sqrt(in), B 0).
#include <gtest/gtest.h>

#include <cmath>

#include "core/error.h"
#include "core/thread_pool.h"
#include "train/lora_params.h"
#include "train/optimizer.h"

namespace qwen3 {
namespace {

TEST(Optimizer, Schedules) {
  // warmup 2 of 10 steps: 0, lr/2, then cosine from lr to 0 over 8 steps
  EXPECT_DOUBLE_EQ(scheduled_lr(LrSchedule::kCosine, 1.0, 0, 2, 10), 0.0);
  EXPECT_DOUBLE_EQ(scheduled_lr(LrSchedule::kCosine, 1.0, 1, 2, 10), 0.5);
  EXPECT_DOUBLE_EQ(scheduled_lr(LrSchedule::kCosine, 1.0, 2, 2, 10), 1.0);
  EXPECT_NEAR(scheduled_lr(LrSchedule::kCosine, 1.0, 6, 2, 10), 0.5, 1e-12);
  EXPECT_NEAR(scheduled_lr(LrSchedule::kCosine, 2.0, 4, 2, 10), 2.0 * 0.5 * (1 + std::cos(M_PI * 2 / 8)),
              1e-12);
  EXPECT_DOUBLE_EQ(scheduled_lr(LrSchedule::kLinear, 1.0, 6, 2, 10), 0.5);
  EXPECT_DOUBLE_EQ(scheduled_lr(LrSchedule::kLinear, 1.0, 9, 2, 10), 0.125);
  EXPECT_DOUBLE_EQ(scheduled_lr(LrSchedule::kConstant, 3.0, 9, 2, 10), 3.0);
  EXPECT_DOUBLE_EQ(scheduled_lr(LrSchedule::kConstant, 3.0, 0, 0, 10), 3.0);
  EXPECT_THROW(parse_lr_schedule("step"), Error);
}

// The shapes make_lora_params reads.
ModelConfig shape(int hidden, int intermediate, int layers, int heads, int kv_heads, int head_dim) {
  ModelConfig c;
  c.hidden_size = hidden;
  c.intermediate_size = intermediate;
  c.num_hidden_layers = layers;
  c.num_attention_heads = heads;
  c.num_key_value_heads = kv_heads;
  c.head_dim = head_dim;
  return c;
}

TEST(Optimizer, AdamWStepsAndClipping) {
  const ModelConfig c = shape(4, 8, 1, 2, 1, 2);
  LoraTrainConfig lc;
  lc.rank = 2;
  lc.targets = parse_train_targets("q_proj");
  LoraParams p = make_lora_params(c, lc, 5);
  LoraModuleParams* m = p.find(0, kLoraQ);
  ASSERT_NE(m, nullptr);
  EXPECT_EQ(p.find(0, kLoraV), nullptr);
  for (float v : m->a) EXPECT_LE(std::fabs(v), 0.5f);  // U(-1/sqrt(4), 1/sqrt(4))
  for (float v : m->b) EXPECT_EQ(v, 0.0f);
  const std::vector<float> a0 = m->a;
  for (size_t i = 0; i < m->ga.size(); ++i) m->ga[i] = (i % 2 ? 3.0f : -4.0f);
  // global norm: sqrt(4 * 9 + 4 * 16) over A's 8 entries = 10
  EXPECT_NEAR(grad_norm(p), std::sqrt(4 * 9.0 + 4 * 16.0), 1e-9);
  AdamW opt;
  opt.weight_decay = 0.1;
  adamw_update(p, opt, 0.01, 1);
  for (size_t i = 0; i < m->a.size(); ++i) {
    // step 1: m_hat = g, v_hat = g^2, so p = p0 (1 - lr wd) - lr g / (|g| + eps)
    const double g = m->ga[i];
    const double want = a0[i] * (1 - 0.01 * 0.1) - 0.01 * g / (std::fabs(g) + 1e-8);
    EXPECT_NEAR(m->a[i], want, 1e-7);
  }
  // the untouched B (zero gradient) stays zero; moments as torch keeps them
  for (float v : m->b) EXPECT_EQ(v, 0.0f);
  EXPECT_NEAR(m->ma[0], 0.1 * -4.0, 1e-7);
  EXPECT_NEAR(m->va[0], 0.001 * 16.0, 1e-9);
  scale_grads(p, 0.5f);
  EXPECT_NEAR(grad_norm(p), 5.0, 1e-6);
  EXPECT_THROW(parse_train_targets("q_proj,lm_head"), Error);
}

// The update split over a pool (matrices to threads) gives the serial update's bits, over several steps.
TEST(Optimizer, AdamWOnAPoolIsTheSerialBits) {
  const ModelConfig c = shape(64, 96, 3, 4, 2, 16);
  LoraTrainConfig lc;
  lc.rank = 4;
  lc.targets = parse_train_targets("all-linear");
  LoraParams serial = make_lora_params(c, lc, 7), pooled = make_lora_params(c, lc, 7);
  ThreadPool two(2);
  AdamW opt;
  opt.weight_decay = 0.01;
  for (int step = 1; step <= 3; ++step) {
    for (LoraParams* p : {&serial, &pooled})
      for (auto& l : p->layers)
        for (LoraModuleParams& m : l) {
          for (size_t i = 0; i < m.ga.size(); ++i) m.ga[i] = std::sin(0.37f * i + step);
          for (size_t i = 0; i < m.gb.size(); ++i) m.gb[i] = std::cos(0.11f * i - step);
        }
    adamw_update(serial, opt, 1e-3, step);
    adamw_update(pooled, opt, 1e-3, step, &two);
  }
  int matrices = 0;
  for (size_t il = 0; il < serial.layers.size(); ++il)
    for (size_t t = 0; t < serial.layers[il].size(); ++t) {
      const LoraModuleParams &a = serial.layers[il][t], &b = pooled.layers[il][t];
      if (!a.active()) continue;
      ++matrices;
      EXPECT_EQ(a.a, b.a);
      EXPECT_EQ(a.b, b.b);
      EXPECT_EQ(a.ma, b.ma);
      EXPECT_EQ(a.vb, b.vb);
      EXPECT_NE(a.b, std::vector<float>(a.b.size(), 0.0f));  // B moved off zero
    }
  EXPECT_EQ(matrices, 3 * 7);
}

}  // namespace
}  // namespace qwen3
