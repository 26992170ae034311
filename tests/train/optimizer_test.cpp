// AdamW, clipping and the learning-rate schedules against values worked out from torch.optim.AdamW's and
// transformers.get_scheduler's definitions; PEFT's initialisation (A Kaiming-uniform bound 1/sqrt(in), B 0).
#include <gtest/gtest.h>

#include <cmath>

#include "core/error.h"
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

TEST(Optimizer, AdamWStepsAndClipping) {
  ModelConfig c;
  c.hidden_size = 4;
  c.intermediate_size = 8;
  c.num_hidden_layers = 1;
  c.num_attention_heads = 2;
  c.num_key_value_heads = 1;
  c.head_dim = 2;
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

}  // namespace
}  // namespace qwen3
