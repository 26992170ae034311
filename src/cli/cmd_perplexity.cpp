// qwen3 perplexity -m MODEL -f TEXT [-c 512] [--chunks N] [--kl-divergence-base FILE [--kl-divergence]]
// [--json]: llama-perplexity's measurement (model/perplexity.h has the chunking, the scored positions and the
// base file format). Without --kl-divergence, --kl-divergence-base FILE writes this run's log-probabilities
// to FILE; with it, FILE is read (its tokens are evaluated, -f is not needed) and the KL divergence from it
// is reported. Text on stdout; --json prints one line last: {"ppl", "kld_mean", "top1_agree", "positions",
// ...} (kld_mean and top1_agree null without a base; top1_agree a fraction).
#include <cstdio>
#include <fstream>
#include <memory>
#include <sstream>

#include <nlohmann/json.hpp>

#include "cli/commands.h"
#include "cli/flags.h"
#include "cli/model_args.h"
#include "core/error.h"
#include "core/timer.h"
#include "model/perplexity.h"
#include "tokenizer/tokenizer.h"

namespace qwen3::cli {

namespace {

struct PerplexityArgs {
  ModelArgs model;
  std::string file, kl_base;
  int n_ctx = 0;  // 0: 512, or the base file's when reading one
  int chunks = -1;
  bool kl = false, json = false;
};

void run(const PerplexityArgs& a) {
  QWEN3_CHECK(!a.kl || !a.kl_base.empty(),
              "--kl-divergence needs --kl-divergence-base FILE (another run's logits)");
  QWEN3_CHECK(a.kl || !a.file.empty(), "give the text with -f FILE");
  KlBase base;
  if (a.kl) {
    base = open_kl_base(a.kl_base);
    QWEN3_CHECK(a.n_ctx == 0 || a.n_ctx == base.n_ctx, "-c %d: the base file %s was made with -c %d", a.n_ctx,
                a.kl_base.c_str(), base.n_ctx);
  }
  auto model = load_model_from_args(a.model);
  auto pool = make_pool(a.model);
  std::vector<int32_t> tokens;
  if (!a.kl) {
    std::ifstream in(a.file, std::ios::binary);
    QWEN3_CHECK(in, "%s: cannot open", a.file.c_str());
    std::stringstream ss;
    ss << in.rdbuf();
    // No BOS: Qwen's tokenizer adds none (llama-perplexity adds one only where the vocabulary asks for it).
    tokens = Tokenizer::load(model->dir).encode(ss.str());
  }
  PerplexityOptions o;
  o.n_ctx = a.n_ctx > 0 ? a.n_ctx : 512;
  o.n_chunks = a.chunks;
  o.forward.pool = pool.get();
  o.forward.kv_type = kv_type_for(a.model.kv_type, model->config);
  double t0 = now_seconds();
  PerplexityResult r = compute_perplexity(
      *model, tokens, o, a.kl ? "" : a.kl_base, a.kl ? &base : nullptr, [&](int c, double ppl) {
        if (c == 0)
          std::fprintf(stderr, "perplexity: %zu tokens, context %d\n",
                       a.kl ? base.tokens.size() : tokens.size(), a.kl ? base.n_ctx : o.n_ctx);
        std::fprintf(stderr, "[%d]%.4f,", c + 1, ppl);
        std::fflush(stderr);
      });
  std::fprintf(stderr, "\nperplexity: %d chunks of %d in %.1f s\n", r.n_chunks, r.n_ctx, now_seconds() - t0);
  std::printf("Final estimate: PPL = %.4f +/- %.5f (%lld positions, %d chunks of %d)\n", r.ppl,
              r.nll_stderr * r.ppl, static_cast<long long>(r.positions), r.n_chunks, r.n_ctx);
  if (!a.kl && !a.kl_base.empty()) std::printf("log-probabilities written to %s\n", a.kl_base.c_str());
  if (r.has_kld) {
    std::printf("PPL(base)  = %.4f\n", r.ppl_base);
    std::printf("Mean KLD   = %.6f +/- %.6f\n", r.kld_mean, r.kld_stderr);
    std::printf("Maximum    = %.6f\n", r.kld_sorted.back());
    for (double p : {99.9, 99.0, 95.0, 90.0, 50.0, 10.0, 5.0, 1.0, 0.1})
      std::printf("%5.1f%% KLD = %.6f\n", p, r.kld_percentile(p));
    std::printf("Minimum    = %.6f\n", r.kld_sorted.front());
    std::printf("Same top   = %.3f %%\n", 100.0 * r.top1_agree);
  }
  if (a.json) {
    nlohmann::ordered_json j;
    j["ppl"] = r.ppl;
    j["kld_mean"] = r.has_kld ? nlohmann::ordered_json(r.kld_mean) : nlohmann::ordered_json(nullptr);
    j["top1_agree"] = r.has_kld ? nlohmann::ordered_json(r.top1_agree) : nlohmann::ordered_json(nullptr);
    j["positions"] = r.positions;
    j["ppl_stderr"] = r.nll_stderr * r.ppl;
    j["n_ctx"] = r.n_ctx;
    j["chunks"] = r.n_chunks;
    if (r.has_kld) {
      j["ppl_base"] = r.ppl_base;
      j["kld_p50"] = r.kld_percentile(50);
      j["kld_p99"] = r.kld_percentile(99);
      j["kld_max"] = r.kld_sorted.back();
    }
    std::printf("%s\n", j.dump().c_str());
  }
}

}  // namespace

void add_perplexity_command(CLI::App& app) {
  auto a = std::make_shared<PerplexityArgs>();
  CLI::App* cmd = app.add_subcommand(
      "perplexity",
      "perplexity of a text and KL divergence from another run's logits (like llama-perplexity)");
  add_model_options(cmd, a->model);
  add_kv_type_option(cmd, a->model.kv_type);
  cmd->add_option("-f,--file", a->file, "the text to score (UTF-8)");
  check_int(cmd->add_option("-c,--ctx-size", a->n_ctx,
                            "tokens per chunk (default 512; the base file's with "
                            "--kl-divergence)"),
            0, 1 << 20, "");
  check_int(cmd->add_option("--chunks", a->chunks, "at most this many chunks (default: all)"), -1, 1 << 20,
            "");
  cmd->add_option("--kl-divergence-base", a->kl_base,
                  "llama.cpp's format: write this run's log-probabilities to FILE, or read them with "
                  "--kl-divergence");
  cmd->add_flag("--kl-divergence", a->kl, "report the KL divergence from the --kl-divergence-base FILE");
  cmd->add_flag("--json", a->json, "print one JSON line last: ppl, kld_mean, top1_agree, positions, ...");
  cmd->callback([a] { run(*a); });
}

}  // namespace qwen3::cli
