// qwen3 finetune -m MODEL --data TRAIN.jsonl --out DIR [...]: LoRA fine-tuning on the CPU (src/train) writing
// a PEFT adapter (adapter_config.json + adapter_model.safetensors) that PEFT, transformers, vLLM and --lora
// load. The base weights stay frozen in their stored (or --dtype) dtype: q8_0/q4_0 bases are QLoRA. Progress
// on stderr; --json prints one line last: {"steps", "loss_first", "loss_last", "val_loss", "tokens_per_s"}.
#include <unistd.h>

#include <cmath>
#include <cstdio>
#include <memory>

#include <nlohmann/json.hpp>

#include "chat/chat_template.h"
#include "cli/commands.h"
#include "cli/flags.h"
#include "cli/model_args.h"
#include "core/error.h"
#include "tokenizer/tokenizer.h"
#include "train/trainer.h"

namespace qwen3::cli {

namespace {

struct FinetuneArgs {
  ModelArgs model;
  std::string data, val, out, target = "all-linear", schedule = "cosine", seed = "0", resume;
  int rank = 16, epochs = 1, grad_accum = 1, max_len = 2048;
  int64_t steps = 0, batch_tokens = 2048, warmup = 0, save_every = 0;
  double alpha = 32, lr = 2e-4, weight_decay = 0, clip = 1.0;
  bool rslora = false, json = false, no_checkpointing = false;
};

nlohmann::ordered_json number_or_null(double v) {
  return std::isfinite(v) ? nlohmann::ordered_json(v) : nlohmann::ordered_json(nullptr);
}

void run(const FinetuneArgs& a) {
  QWEN3_CHECK(!a.data.empty(), "give the training data with --data TRAIN.jsonl");
  QWEN3_CHECK(!a.out.empty(), "give the adapter directory with --out DIR");
  FinetuneOptions o;
  o.lora.rank = a.rank;
  o.lora.alpha = static_cast<float>(a.alpha);
  o.lora.rslora = a.rslora;
  o.lora.targets = parse_train_targets(a.target);
  o.schedule = parse_lr_schedule(a.schedule);
  std::optional<uint64_t> seed = parse_seed("--seed", a.seed);
  QWEN3_CHECK(seed.has_value(), "--seed: give a fixed seed (training is reproducible for a seed)");
  o.seed = *seed;
  o.epochs = a.epochs;
  o.steps = a.steps;
  o.lr = a.lr;
  o.batch_tokens = a.batch_tokens;
  o.grad_accum = a.grad_accum;
  o.warmup = a.warmup;
  o.adamw.weight_decay = a.weight_decay;
  o.clip = a.clip;
  o.checkpointing = !a.no_checkpointing;
  o.save_every = a.save_every;
  o.out = a.out;
  o.resume = a.resume;
  const std::string dir = resolve_model_dir(a.model.model);
  // The data first: bad lines are reported before the model is loaded.
  Tokenizer tok = Tokenizer::load(dir);
  ChatTemplate tmpl = ChatTemplate::load(dir);
  TrainDataOptions dopt;
  dopt.max_len = a.max_len;
  int cut = 0;
  std::vector<TrainExample> train = load_train_jsonl(a.data, tok, tmpl, dopt, &cut);
  std::vector<TrainExample> val;
  if (!a.val.empty()) val = load_train_jsonl(a.val, tok, tmpl, dopt);
  int64_t n_tok = 0, n_target = 0;
  for (const TrainExample& e : train) {
    n_tok += static_cast<int64_t>(e.ids.size());
    n_target += e.n_targets();
  }
  std::fprintf(stderr, "finetune: %zu examples, %lld tokens (%lld in the loss)%s\n", train.size(),
               static_cast<long long>(n_tok), static_cast<long long>(n_target),
               cut ? (", " + std::to_string(cut) + " cut to --max-len").c_str() : "");
  ModelArgs margs = a.model;
  margs.model = dir;
  auto model = load_model_from_args(margs);
  auto pool = make_pool(a.model);
  o.pool = pool.get();
  o.base_model = a.model.model;
  const bool tty = isatty(STDERR_FILENO);
  FinetuneResult r = finetune(*model, train, val, o, [&](const StepReport& s) {
    std::fprintf(stderr, "%sstep %lld/%lld  loss %.4f  lr %.2e  grad %.3f  %.0f tok/s  ETA %.0f s%s",
                 tty ? "\r" : "", static_cast<long long>(s.step), static_cast<long long>(s.total_steps),
                 s.loss, s.lr, s.grad_norm, s.tokens_per_s, s.eta_s, tty ? "   " : "\n");
    std::fflush(stderr);
  });
  if (tty) std::fprintf(stderr, "\n");
  std::fprintf(stderr, "finetune: %lld steps, loss %.4f -> %.4f, %.1f tokens/s; adapter in %s\n",
               static_cast<long long>(r.steps), r.loss_first, r.loss_last, r.tokens_per_s, a.out.c_str());
  if (!val.empty()) std::fprintf(stderr, "finetune: validation loss %.4f\n", r.val_loss);
  if (a.json) {
    nlohmann::ordered_json j;
    j["steps"] = r.steps;
    j["loss_first"] = number_or_null(r.loss_first);
    j["loss_last"] = number_or_null(r.loss_last);
    j["val_loss"] = number_or_null(r.val_loss);
    j["tokens_per_s"] = r.tokens_per_s;
    std::printf("%s\n", j.dump().c_str());
  }
}

}  // namespace

void add_finetune_command(CLI::App& app) {
  auto a = std::make_shared<FinetuneArgs>();
  CLI::App* cmd = app.add_subcommand("finetune", "LoRA fine-tuning on the CPU, writing a PEFT adapter");
  add_model_options(cmd, a->model);
  cmd->add_option("--data", a->data,
                  "training JSONL: {\"messages\": [...]} (loss on assistant turns), {\"text\": ...} or "
                  "{\"prompt\", \"completion\"}");
  cmd->add_option("--val", a->val, "validation JSONL (same formats): its loss is reported at the end");
  cmd->add_option("--out", a->out, "the adapter directory (adapter_config.json, adapter_model.safetensors)");
  check_int(cmd->add_option("--rank", a->rank, "LoRA rank r (default 16)"), 1, 4096);
  check_number_above(cmd->add_option("--alpha", a->alpha, "lora_alpha (default 32): scaling alpha / r"), 0,
                     false);
  cmd->add_option(
      "--target", a->target,
      "all-linear (default) or a list of q_proj,k_proj,v_proj,o_proj,gate_proj,up_proj,down_proj");
  cmd->add_flag("--rslora", a->rslora, "rank-stabilised scaling alpha / sqrt(r)");
  check_int(cmd->add_option("--epochs", a->epochs, "passes over the data (default 1)"), 1, 1000000);
  check_int(cmd->add_option("--steps", a->steps, "optimiser steps instead of --epochs"), 0, int64_t{1} << 40);
  check_number_above(cmd->add_option("--lr", a->lr, "peak learning rate (default 2e-4)"), 0, false);
  check_int(
      cmd->add_option("--batch-tokens", a->batch_tokens, "tokens per packed micro-batch (default 2048)"), 1,
      int64_t{1} << 24);
  check_int(cmd->add_option("--grad-accum", a->grad_accum, "micro-batches per optimiser step (default 1)"), 1,
            1 << 20);
  check_int(cmd->add_option("--max-len", a->max_len, "examples are cut to this many tokens (default 2048)"),
            2, 1 << 24);
  check_int(cmd->add_option("--warmup", a->warmup, "linear warmup steps (default 0)"), 0, int64_t{1} << 40);
  check_choice(cmd->add_option("--schedule", a->schedule, "cosine (default), linear or constant"),
               {"cosine", "linear", "constant"});
  check_number_above(cmd->add_option("--weight-decay", a->weight_decay, "AdamW weight decay (default 0)"), 0,
                     true);
  check_number_above(cmd->add_option("--clip", a->clip, "max gradient norm (default 1.0; 0 = none)"), 0,
                     true);
  cmd->add_option("--seed", a->seed, "seed of A's initialisation and the data order (default 0)");
  check_int(cmd->add_option("--save-every", a->save_every, "a checkpoint every N steps in OUT/checkpoint-N"),
            0, int64_t{1} << 40);
  cmd->add_flag("--no-checkpointing", a->no_checkpointing,
                "keep every layer's activations (faster, memory grows with layers x tokens) instead of "
                "recomputing them layer by layer in the backward pass");
  cmd->add_option("--resume", a->resume, "continue from a checkpoint directory (same data and options)");
  cmd->add_flag("--json", a->json,
                "print one JSON line last: steps, loss_first, loss_last, val_loss, tokens_per_s");
  cmd->callback([a] { run(*a); });
}

}  // namespace qwen3::cli
