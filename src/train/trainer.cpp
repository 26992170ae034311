#include "train/trainer.h"

#include <algorithm>
#include <filesystem>
#include <fstream>

#include <nlohmann/json.hpp>

#include "core/error.h"
#include "core/timer.h"
#include "train/train_step.h"

namespace qwen3 {

namespace {

using MicroBatch = std::vector<int32_t>;  // example indices

// splitmix64 for the epoch shuffles: the same order on every platform.
uint64_t mix(uint64_t& s) {
  uint64_t z = (s += 0x9e3779b97f4a7c15ull);
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
  return z ^ (z >> 31);
}

// One epoch's micro-batches: a seeded Fisher-Yates shuffle, then consecutive examples packed while they fit
// in batch_tokens (an example longer than that is a micro-batch of its own).
std::vector<MicroBatch> epoch_batches(const std::vector<TrainExample>& ex, int64_t batch_tokens,
                                      uint64_t seed, int epoch) {
  std::vector<int32_t> order(ex.size());
  for (size_t i = 0; i < order.size(); ++i) order[i] = static_cast<int32_t>(i);
  uint64_t s = seed * 0x100000001b3ull + static_cast<uint64_t>(epoch) + 1;
  for (size_t i = order.size(); i > 1; --i) std::swap(order[i - 1], order[mix(s) % i]);
  std::vector<MicroBatch> out;
  int64_t used = 0;
  for (int32_t i : order) {
    const int64_t len = static_cast<int64_t>(ex[i].ids.size());
    if (out.empty() || used + len > batch_tokens) {
      out.emplace_back();
      used = 0;
    }
    out.back().push_back(i);
    used += len;
  }
  return out;
}

TrainBatch make_batch(const std::vector<TrainExample>& ex, const MicroBatch& mb) {
  TrainBatch b;
  for (int32_t i : mb) b.add_sequence(ex[i].ids, ex[i].mask);
  return b;
}

// Checkpoints: the adapter, the AdamW moments (optimizer.safetensors, "<lora tensor name>.exp_avg" and
// ".exp_avg_sq") and trainer_state.json (global_step).
void save_checkpoint(LoraParams& p, const std::string& dir, const std::string& base_model, int64_t step) {
  write_peft_adapter(p, dir, base_model);
  write_stored_matrices(dir + "/optimizer.safetensors", stored_matrices(p, true), {});
  std::ofstream f(dir + "/trainer_state.json");
  f << nlohmann::ordered_json{{"global_step", step}, {"rank", p.config.rank}}.dump() << "\n";
  QWEN3_CHECK(f.good(), "%s/trainer_state.json: cannot write", dir.c_str());
}

int64_t load_checkpoint(LoraParams& p, const std::string& dir) {
  std::ifstream f(dir + "/trainer_state.json");
  QWEN3_CHECK(f, "--resume %s: no trainer_state.json (not a checkpoint directory)", dir.c_str());
  nlohmann::json st;
  try {
    st = nlohmann::json::parse(f);
  } catch (const nlohmann::json::exception& e) {
    throw_error("%s/trainer_state.json: %s", dir.c_str(), e.what());
  }
  QWEN3_CHECK(st.value("rank", -1) == p.config.rank, "--resume %s: the checkpoint has rank %d, not --rank %d",
              dir.c_str(), st.value("rank", -1), p.config.rank);
  read_peft_adapter(p, dir);
  read_stored_matrices(dir + "/optimizer.safetensors", stored_matrices(p, true));
  return st.value("global_step", int64_t{0});
}

}  // namespace

double evaluate_loss(const Model& model, LoraParams& p, const std::vector<TrainExample>& examples,
                     int64_t batch_tokens, ThreadPool* pool, TrainWorkspace* ws) {
  double sum = 0;
  int64_t n = 0;
  TrainWorkspace local;
  TrainStepOptions o;
  o.pool = pool;
  o.workspace = ws ? ws : &local;
  o.backward = false;
  for (const MicroBatch& mb : epoch_batches(examples, batch_tokens, 0, -1)) {
    TrainBatch b = make_batch(examples, mb);
    sum += train_step(model, p, b, o);
    n += b.n_labels();
  }
  return n > 0 ? sum / static_cast<double>(n) : NAN;
}

FinetuneResult finetune(const Model& model, const std::vector<TrainExample>& train,
                        const std::vector<TrainExample>& val, const FinetuneOptions& o,
                        const std::function<void(const StepReport&)>& on_step) {
  QWEN3_CHECK(!train.empty(), "no training examples");
  QWEN3_CHECK(o.grad_accum >= 1 && o.batch_tokens >= 1, "--grad-accum and --batch-tokens must be positive");
  LoraParams p = make_lora_params(model.config, o.lora, o.seed);
  // The schedule of micro-batches is fixed by the seed: steps_per_epoch from the first epoch's packing.
  const int64_t micro_per_epoch =
      static_cast<int64_t>(epoch_batches(train, o.batch_tokens, o.seed, 0).size());
  const int64_t steps_per_epoch = (micro_per_epoch + o.grad_accum - 1) / o.grad_accum;
  const int64_t total = o.steps > 0 ? o.steps : steps_per_epoch * std::max(1, o.epochs);
  int64_t step = 0;
  if (!o.resume.empty()) {
    step = load_checkpoint(p, o.resume);
    QWEN3_CHECK(step <= total, "--resume: the checkpoint is at step %lld, past the %lld steps of this run",
                static_cast<long long>(step), static_cast<long long>(total));
  }
  FinetuneResult res;
  int epoch = 0;
  std::vector<MicroBatch> batches = epoch_batches(train, o.batch_tokens, o.seed, epoch);
  size_t next = 0;
  auto next_micro = [&]() -> const MicroBatch& {
    if (next == batches.size()) {
      batches = epoch_batches(train, o.batch_tokens, o.seed, ++epoch);
      next = 0;
    }
    return batches[next++];
  };
  // Skip what a resumed run already did (the same micro-batches in the same order).
  for (int64_t s = 0; s < step; ++s)
    for (int k = 0; k < o.grad_accum; ++k) next_micro();
  TrainWorkspace ws;
  const double t_start = now_seconds();
  int64_t tokens = 0;
  for (; step < total; ++step) {
    std::vector<TrainBatch> micro;
    int64_t n_labels = 0;
    for (int k = 0; k < o.grad_accum; ++k) {
      micro.push_back(make_batch(train, next_micro()));
      n_labels += micro.back().n_labels();
    }
    zero_grads(p);
    TrainStepOptions so;
    so.pool = o.pool;
    so.workspace = &ws;
    so.loss_scale = 1.0f / static_cast<float>(std::max<int64_t>(1, n_labels));
    so.checkpointing = o.checkpointing;
    double loss_sum = 0;
    for (const TrainBatch& b : micro) {
      loss_sum += train_step(model, p, b, so);
      tokens += static_cast<int64_t>(b.size());
    }
    const double loss = loss_sum / static_cast<double>(std::max<int64_t>(1, n_labels));
    const double norm = grad_norm(p);
    if (o.clip > 0 && norm > o.clip) scale_grads(p, static_cast<float>(o.clip / (norm + 1e-6)));
    const double lr = scheduled_lr(o.schedule, o.lr, step, o.warmup, total);
    adamw_update(p, o.adamw, lr, step + 1, o.pool);
    if (std::isnan(res.loss_first)) res.loss_first = loss;
    res.loss_last = loss;
    ++res.steps;
    const double elapsed = now_seconds() - t_start;
    if (on_step) {
      StepReport r;
      r.step = step + 1;
      r.total_steps = total;
      r.loss = loss;
      r.lr = lr;
      r.grad_norm = norm;
      r.tokens_per_s = static_cast<double>(tokens) / std::max(elapsed, 1e-9);
      r.eta_s = elapsed / static_cast<double>(res.steps) * static_cast<double>(total - step - 1);
      on_step(r);
    }
    if (o.save_every > 0 && (step + 1) % o.save_every == 0 && step + 1 < total)
      save_checkpoint(p, o.out + "/checkpoint-" + std::to_string(step + 1), o.base_model, step + 1);
  }
  const double elapsed = now_seconds() - t_start;
  res.tokens = tokens;
  res.tokens_per_s = elapsed > 0 ? static_cast<double>(tokens) / elapsed : 0;
  write_peft_adapter(p, o.out, o.base_model);
  if (o.save_every > 0)
    save_checkpoint(p, o.out + "/checkpoint-" + std::to_string(total), o.base_model, total);
  if (!val.empty()) res.val_loss = evaluate_loss(model, p, val, o.batch_tokens, o.pool, &ws);
  return res;
}

}  // namespace qwen3
