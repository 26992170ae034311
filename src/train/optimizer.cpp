#include "train/optimizer.h"

#include <cmath>
#include <vector>

#include "core/error.h"

namespace qwen3 {

LrSchedule parse_lr_schedule(const std::string& name) {
  if (name == "cosine") return LrSchedule::kCosine;
  if (name == "linear") return LrSchedule::kLinear;
  if (name == "constant") return LrSchedule::kConstant;
  throw_error("--schedule: unknown schedule '%s' (cosine, linear or constant)", name.c_str());
}

double scheduled_lr(LrSchedule schedule, double lr, int64_t step, int64_t warmup, int64_t total) {
  if (step < warmup)
    return lr * static_cast<double>(step) / static_cast<double>(std::max<int64_t>(1, warmup));
  switch (schedule) {
    case LrSchedule::kConstant:
      return lr;
    case LrSchedule::kLinear:
      return lr * std::max(0.0, static_cast<double>(total - step) /
                                    static_cast<double>(std::max<int64_t>(1, total - warmup)));
    case LrSchedule::kCosine:
      break;
  }
  const double progress =
      static_cast<double>(step - warmup) / static_cast<double>(std::max<int64_t>(1, total - warmup));
  return lr * std::max(0.0, 0.5 * (1.0 + std::cos(M_PI * progress)));
}

double grad_norm(const LoraParams& p) {
  double s = 0;
  for (const auto& l : p.layers)
    for (const LoraModuleParams& m : l) {
      for (float g : m.ga) s += static_cast<double>(g) * g;
      for (float g : m.gb) s += static_cast<double>(g) * g;
    }
  return std::sqrt(s);
}

void scale_grads(LoraParams& p, float factor) {
  for (auto& l : p.layers)
    for (LoraModuleParams& m : l) {
      for (float& g : m.ga) g *= factor;
      for (float& g : m.gb) g *= factor;
    }
}

namespace {

// torch.optim.AdamW (foreach=False semantics): p *= 1 - lr wd; m = b1 m + (1 - b1) g; v = b2 v + (1 - b2)
// g^2; p -= lr / (1 - b1^t) * m / (sqrt(v) / sqrt(1 - b2^t) + eps).
void update(std::vector<float>& w, const std::vector<float>& g, std::vector<float>& m, std::vector<float>& v,
            const AdamW& o, double lr, int64_t step) {
  const double bc1 = 1.0 - std::pow(o.beta1, static_cast<double>(step));
  const double bc2 = 1.0 - std::pow(o.beta2, static_cast<double>(step));
  const double step_size = lr / bc1, bc2_sqrt = std::sqrt(bc2);
  for (size_t i = 0; i < w.size(); ++i) {
    double p = w[i] * (1.0 - lr * o.weight_decay);
    const double mi = o.beta1 * m[i] + (1.0 - o.beta1) * g[i];
    const double vi = o.beta2 * v[i] + (1.0 - o.beta2) * static_cast<double>(g[i]) * g[i];
    m[i] = static_cast<float>(mi);
    v[i] = static_cast<float>(vi);
    p -= step_size * mi / (std::sqrt(vi) / bc2_sqrt + o.eps);
    w[i] = static_cast<float>(p);
  }
}

}  // namespace

void adamw_update(LoraParams& p, const AdamW& opt, double lr, int64_t step, ThreadPool* pool) {
  QWEN3_CHECK(step >= 1, "adamw_update: steps count from 1");
  std::vector<LoraModuleParams*> active;
  for (auto& l : p.layers)
    for (LoraModuleParams& m : l)
      if (m.active()) active.push_back(&m);
  // each matrix's update is elementwise: the same values whichever thread runs it
  parallel_for(pool, static_cast<int64_t>(active.size()), [&](int64_t i0, int64_t i1) {
    for (int64_t i = i0; i < i1; ++i) {
      LoraModuleParams& m = *active[i];
      update(m.a, m.ga, m.ma, m.va, opt, lr, step);
      update(m.b, m.gb, m.mb, m.vb, opt, lr, step);
    }
  });
}

}  // namespace qwen3
