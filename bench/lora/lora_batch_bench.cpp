// A decode step of a 16-sequence batch with LoRA adapters (docs/BENCHMARKS.md, "LoRA adapters"): every
// sequence on one adapter, the sequences spread over 4 adapters (4 each: four gathered groups), and no
// adapter, timed side by side in one process, interleaved, medians of the repetitions; then a single
// sequence's decode step without and with ADAPTER1 (and with SOLO_ADAPTER), interleaved the same way.
// ADAPTER1-4 are kept as the model's --lora-dtype default keeps them (auto: f32 matrices as bf16 on a
// non-f32 base), SOLO_ADAPTER as its file stores them (--lora-dtype file: give ADAPTER1 again to see its
// f32 cost). Usage:
// lora_batch_bench MODEL DTYPE THREADS ADAPTER1 ADAPTER2 ADAPTER3 ADAPTER4 [REPS [SOLO_ADAPTER]]
#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <vector>

#include "core/timer.h"
#include "model/forward.h"

using namespace qwen3;

namespace {

constexpr int kSeqs = 16, kDepth = 64, kSteps = 8;

double median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  return v[v.size() / 2];
}

// Seconds per decode step of stacks.size() sequences (each at depth kDepth) whose stacks are `stacks`.
double step_seconds(const Model& m, KvCache& cache, const std::vector<const LoraStack*>& stacks,
                    ThreadPool* pool) {
  ForwardOptions fo;
  fo.pool = pool;
  const int n = static_cast<int>(stacks.size());
  std::vector<float> logits(static_cast<size_t>(n) * m.config.vocab_size);
  double t0 = now_seconds();
  for (int k = 0; k < kSteps; ++k) {
    Batch b;
    for (int s = 0; s < n; ++s) {
      b.add((s * 7919 + k * 31 + 13) % m.n_vocab_tokens, kDepth + k, s, true);
      b.lora.push_back(stacks[s]);
    }
    forward(m, cache, b, logits.data(), fo);
  }
  return (now_seconds() - t0) / kSteps;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 8) {
    std::fprintf(stderr,
                 "usage: %s MODEL DTYPE THREADS ADAPTER1 ADAPTER2 ADAPTER3 ADAPTER4 [REPS [SOLO_ADAPTER]]\n",
                 argv[0]);
    return 1;
  }
  LoadOptions lo;
  const std::string dt = argv[2];
  lo.dtype = dt == "q8_0"   ? DType::kQ8_0
             : dt == "q4_0" ? DType::kQ4_0
             : dt == "bf16" ? DType::kBF16
                            : DType::kF32;
  auto model = load_model(argv[1], lo);
  ThreadPool pool(std::atoi(argv[3]));
  std::vector<LoraStack> stacks(4);
  for (int i = 0; i < 4; ++i)
    stacks[i].add(load_lora_adapter(argv[4 + i], model->config, model->lora_bf16()), 1.0f);
  const int reps = argc > 8 ? std::atoi(argv[8]) : 5;
  LoraStack solo_other;
  if (argc > 9) solo_other.add(load_lora_adapter(argv[9], model->config, false), 1.0f);
  KvCache cache(model->config, kSeqs, kDepth + kSteps + 1, DType::kF16);
  {  // fill each slot's first kDepth positions
    ForwardOptions fo;
    fo.pool = &pool;
    std::vector<float> logits(model->config.vocab_size);
    for (int s = 0; s < kSeqs; ++s) {
      Batch b;
      for (int p = 0; p < kDepth; ++p) b.add((p * 104729 + s) % model->n_vocab_tokens, p, s, p + 1 == kDepth);
      forward(*model, cache, b, logits.data(), fo);
    }
  }
  std::vector<const LoraStack*> none(kSeqs, nullptr), one(kSeqs, &stacks[0]), mixed(kSeqs);
  for (int s = 0; s < kSeqs; ++s) mixed[s] = &stacks[s % 4];
  std::vector<double> t_none, t_one, t_mixed;
  step_seconds(*model, cache, mixed, &pool);  // warm-up
  for (int r = 0; r < reps; ++r) {
    t_none.push_back(step_seconds(*model, cache, none, &pool));
    t_one.push_back(step_seconds(*model, cache, one, &pool));
    t_mixed.push_back(step_seconds(*model, cache, mixed, &pool));
  }
  const double a = median(t_none), b = median(t_one), c = median(t_mixed);
  std::printf(
      "16-sequence decode step (depth %d, %s, %s threads, medians of %d): no adapter %.2f ms, one adapter "
      "%.2f ms (%.3fx), 4 adapters mixed %.2f ms (%.3fx of one adapter)\n",
      kDepth, dt.c_str(), argv[3], reps, a * 1e3, b * 1e3, b / a, c * 1e3, c / b);

  // One sequence (slot 0): decode reads every weight once per token, the adapters' bytes on top.
  std::vector<double> s_none, s_one, s_other;
  const std::vector<const LoraStack*> solo_none = {nullptr}, solo_one = {&stacks[0]}, solo_b = {&solo_other};
  for (int r = 0; r < 3 * reps; ++r) {
    s_none.push_back(step_seconds(*model, cache, solo_none, &pool));
    s_one.push_back(step_seconds(*model, cache, solo_one, &pool));
    if (!solo_other.empty()) s_other.push_back(step_seconds(*model, cache, solo_b, &pool));
  }
  const double sa = median(s_none), sb = median(s_one);
  std::printf("1-sequence decode step (medians of %d): no adapter %.2f ms, ADAPTER1 %.2f ms (%.3fx)",
              3 * reps, sa * 1e3, sb * 1e3, sb / sa);
  if (!s_other.empty())
    std::printf(", SOLO_ADAPTER %.2f ms (%.3fx)", median(s_other) * 1e3, median(s_other) / sa);
  std::printf("\n");
  return 0;
}
