// qwen3 bench: prefill and decode speed like llama-bench (pp = -p tokens as one batch, tg = -n tokens one at
// a time, after a cache filled to -d positions), with this machine's limits measured in the same run so that
// each figure stands beside its ceiling: decode as GB/s read (weights + KV cache per token) against the read
// bandwidth, prefill as GFLOP/s against the arithmetic peak of the weight dtype's kernels. --json prints an
// array of objects with llama-bench's field names. Library code: src/bench/.
#include <climits>
#include <cstdio>
#include <nlohmann/json.hpp>

#include "bench/bench.h"
#include "bench/limits.h"
#include "cli/commands.h"
#include "cli/flags.h"
#include "cli/model_args.h"
#include "core/error.h"
#include "kernels/kernels.h"

namespace qwen3::cli {

namespace {

struct BenchArgs {
  std::string model, dtype, embed_dtype, kv_type = "f16";
  int n_prompt = 512, n_gen = 128, n_depth = 0, reps = 5, threads = 0;
  std::string depth_fill = "model";
  bool json = false, limits_only = false, no_limits = false, mmap = false, exact_bf16 = false;
  std::vector<std::string> lora;  // --lora DIR[:SCALE]
  std::string lora_dtype = "auto";
};

// The arithmetic peak prefill is measured against: the dot product the weight dtype's kernels use.
double peak_for(const bench::Limits& l, DType t, bool bf16_dot, const char** name) {
  if ((t == DType::kQ8_0 || t == DType::kQ4_0) && l.int8_gops > 0) {
    *name = "int8 dot";
    return l.int8_gops;
  }
  if (t == DType::kBF16 && bf16_dot && l.bf16_gflops > 0) {
    *name = "bf16 dot";
    return l.bf16_gflops;
  }
  *name = "f32 FMA";
  return l.f32_gflops;
}

void print_limits(const bench::Limits& l) {
  std::printf("limits (%d threads): read %.1f GB/s (1 thread %.1f) | f32 FMA (%s) %.0f GFLOP/s", l.n_threads,
              l.read_gbs, l.read_gbs_1t, l.f32_isa.c_str(), l.f32_gflops);
  if (l.bf16_gflops > 0) std::printf(" | bf16 dot %.0f GFLOP/s", l.bf16_gflops);
  if (l.int8_gops > 0) std::printf(" | int8 dot %.0f Gop/s", l.int8_gops);
  std::printf("\n");
}

void run(const BenchArgs& a) {
  ThreadPool pool(a.threads > 0 ? a.threads : physical_core_count());
  if (a.limits_only && a.model.empty()) {
    bench::Limits l = bench::measure_limits(pool.size());
    if (a.json) {
      nlohmann::json j = {{"n_threads", l.n_threads}, {"read_gbs_1t", l.read_gbs_1t},
                          {"read_gbs", l.read_gbs},   {"f32_gflops", l.f32_gflops},
                          {"f32_isa", l.f32_isa},     {"bf16_gflops", l.bf16_gflops},
                          {"int8_gops", l.int8_gops}};
      std::printf("%s\n", j.dump(2).c_str());
    } else {
      print_limits(l);
    }
    return;
  }
  QWEN3_CHECK(!a.model.empty(), "-m MODEL is required (or --limits alone to measure the machine)");
  QWEN3_CHECK(a.n_prompt > 0 || a.n_gen > 0, "nothing to measure: -p and -n are both 0");
  bench::BenchParams p;
  p.n_prompt = a.n_prompt;
  p.n_gen = a.n_gen;
  p.n_depth = a.n_depth;
  p.reps = a.reps;
  p.synthetic_depth = a.depth_fill == "synthetic";
  p.adjacent_read_probe = !a.no_limits;
  ModelArgs ma;
  ma.model = a.model;
  ma.dtype = a.dtype;
  ma.embed_dtype = a.embed_dtype;
  ma.mmap = a.mmap;
  ma.exact_bf16 = a.exact_bf16;
  ma.lora = a.lora;
  ma.lora_dtype = a.lora_dtype;
  ModelConfig config = load_model_config(resolve_model_dir(a.model));
  p.kv_type = kv_type_for(a.kv_type, config);  // a clear error before any work
  // The limits first: the bandwidth probe's buffer is freed before the model is loaded, so it never adds to
  // the peak RSS of the benchmark.
  bench::Limits l;
  if (!a.no_limits) l = bench::measure_limits(pool.size());
  auto model = load_model_from_args(ma);
  auto results =
      bench::run_bench(*model, &pool, p, [](const char* s) { std::fprintf(stderr, "bench: %s\n", s); });

  const DType wt = model->matrix_dtype();
  const char* peak_name = "";
  const double peak = a.no_limits ? 0 : peak_for(l, wt, !a.exact_bf16, &peak_name);
  const char* isa = kernels::isa_name(kernels::active_isa());
  if (a.json) {
    nlohmann::json arr = nlohmann::json::array();
    for (const auto& r : results) {
      nlohmann::json j;
      j["model_filename"] = a.model;
      j["model_size"] = model->weight_bytes();
      j["type"] = dtype_name(wt);
      j["type_k"] = j["type_v"] = dtype_name(p.kv_type);
      j["n_threads"] = pool.size();
      j["n_prompt"] = r.n_prompt;
      j["n_gen"] = r.n_gen;
      j["n_depth"] = r.n_depth;
      j["n_batch"] = j["n_ubatch"] = p.max_chunk;
      j["isa"] = isa;
      j["depth_fill"] = a.depth_fill;
      j["samples_ns"] = r.samples_ns;
      j["samples_ts"] = r.samples_ts;
      j["avg_ts"] = r.avg_ts;
      j["stddev_ts"] = r.stddev_ts;
      double avg_ns = 0;
      for (double ns : r.samples_ns) avg_ns += ns / static_cast<double>(r.samples_ns.size());
      j["avg_ns"] = avg_ns;
      j["flops_per_token"] = r.flops_per_token;
      j["gflops"] = r.gflops();
      if (r.n_gen > 0) {
        j["bytes_per_token"] = r.bytes_per_token;
        j["gbs"] = r.gbs();
      }
      if (!a.no_limits) {
        j["limit_read_gbs"] = l.read_gbs;
        j["limit_peak_gflops"] = peak;
        j["limit_peak_kind"] = peak_name;
        j["limit_share"] = r.n_gen > 0 ? r.gbs() / l.read_gbs : r.gflops() / peak;
        if (!r.adjacent_share.empty()) {
          j["adjacent_read_gbs"] = r.adjacent_read_gbs;
          j["adjacent_share"] = r.adjacent_share;
          j["adjacent_share_median"] = bench::median(r.adjacent_share);
        }
      }
      arr.push_back(j);
    }
    std::printf("%s\n", arr.dump(2).c_str());
    return;
  }
  std::printf("model %s | weights %s%s %.2f GB | kv cache %s | %d threads | isa %s%s\n", a.model.c_str(),
              dtype_name(wt), wt == DType::kBF16 && a.exact_bf16 ? " (f32 activations)" : "",
              model->weight_bytes() / 1e9, dtype_name(p.kv_type), pool.size(), isa,
              p.synthetic_depth && p.n_depth > 0 ? " | depth filled synthetically" : "");
  if (!a.no_limits) print_limits(l);
  std::printf("| %-8s | %6s | %14s | %-30s | %-22s |\n", "test", "depth", "tok/s", "effective",
              "share of limit");
  std::printf("| %-8s | %6s | %14s | %-30s | %-22s |\n", "--------", "-----:", "-------------:", "---",
              "---");
  for (const auto& r : results) {
    char test[32], tps[64], eff[96], share[96] = "";
    std::snprintf(test, sizeof test, "%s%d", r.n_gen > 0 ? "tg" : "pp", r.n_gen > 0 ? r.n_gen : r.n_prompt);
    std::snprintf(tps, sizeof tps, "%.2f ± %.2f", r.avg_ts, r.stddev_ts);
    if (r.n_gen > 0) {
      std::snprintf(eff, sizeof eff, "%.1f GB/s (%.0f MB/token)", r.gbs(), r.bytes_per_token / 1e6);
      if (!a.no_limits)
        std::snprintf(share, sizeof share, "%.0f %% of read bw (%.0f %% adj.)", 100 * r.gbs() / l.read_gbs,
                      100 * bench::median(r.adjacent_share));
    } else {
      std::snprintf(eff, sizeof eff, "%.1f GFLOP/s", r.gflops());
      if (!a.no_limits)
        std::snprintf(share, sizeof share, "%.1f %% of %s peak", 100 * r.gflops() / peak, peak_name);
    }
    std::printf("| %-8s | %6d | %14s | %-30s | %-22s |\n", test, r.n_depth, tps, eff, share);
  }
  for (const auto& r : results)
    if (!r.adjacent_read_gbs.empty())
      std::printf(
          "adj.: median share of each tg repetition against the read bandwidth of the weights themselves, "
          "probed right before and after it (median %.1f GB/s)\n",
          bench::median(r.adjacent_read_gbs));
}

}  // namespace

void add_bench_command(CLI::App& app) {
  auto a = std::make_shared<BenchArgs>();
  CLI::App* cmd = app.add_subcommand("bench", "measure prefill and decode speed (like llama-bench)");
  add_model_path_option(cmd, a->model, "model directory, .gguf file or Hugging Face repo id");
  check_int(
      cmd->add_option("-p,--n-prompt", a->n_prompt, "prompt tokens processed as one batch (pp; 0 = skip)"), 0,
      INT32_MAX);
  check_int(cmd->add_option("-n,--n-gen", a->n_gen, "tokens decoded one at a time (tg; 0 = skip)"), 0,
            INT32_MAX);
  check_int(cmd->add_option("-d,--n-depth", a->n_depth, "positions already in the cache before each test"), 0,
            INT32_MAX);
  check_int(cmd->add_option("-r,--repetitions", a->reps, "repetitions of each test (default 5)"), 1,
            INT32_MAX);
  add_threads_option(cmd, a->threads);
  add_dtype_option(cmd, a->dtype);
  add_embed_dtype_option(cmd, a->embed_dtype);
  add_lora_option(cmd, a->lora, a->lora_dtype);
  add_kv_type_option(cmd, a->kv_type);
  check_choice(
      cmd->add_option("--depth-fill", a->depth_fill,
                      "how -d positions are filled: model (run the model, as llama-bench; default) or "
                      "synthetic (random keys/values written directly: same timed work, no long prefill)"),
      {"model", "synthetic"});
  cmd->add_flag("--json", a->json, "print a JSON array with llama-bench's field names");
  cmd->add_flag("--limits", a->limits_only, "measure the machine's read bandwidth and arithmetic peaks");
  cmd->add_flag("--no-limits", a->no_limits, "skip measuring the limits");
  add_mmap_option(cmd, a->mmap);
  add_exact_bf16_option(cmd, a->exact_bf16);
  add_gpu_layers_option(cmd);
  cmd->callback([a] { run(*a); });
}

}  // namespace qwen3::cli
