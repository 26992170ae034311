// The measurements behind `qwen3 bench`, like llama-bench's: prefill (pp: n_prompt tokens as one batch) and
// decode (tg: n_gen tokens one at a time), each after a cache filled to n_depth positions, repeated.
#pragma once

#include <string>
#include <vector>

#include "core/thread_pool.h"
#include "model/model.h"

namespace qwen3::bench {

struct BenchParams {
  int n_prompt = 512;  // 0: no pp test
  int n_gen = 128;     // 0: no tg test
  int n_depth = 0;
  int reps = 5;
  DType kv_type = DType::kF16;
  int max_chunk = 512;  // forward chunk size (pp of more tokens runs in chunks of this many)
  // Fill the depth with pseudo-random keys/values written straight into the cache instead of running the
  // model over n_depth tokens: the timed tests cost the same (attention does the same work whatever the
  // values), and a deep fill no longer takes minutes when prefill is slow. Off by default (llama-bench runs
  // the model).
  bool synthetic_depth = false;
  // Probe the read bandwidth of the model's own weights right before and after each decode repetition
  // (bench/limits.h, read_ranges_gbs) and keep each repetition's share of it.
  bool adjacent_read_probe = false;
};

struct BenchResult {
  int n_prompt = 0, n_gen = 0, n_depth = 0;  // one of n_prompt, n_gen is 0 (llama-bench's convention)
  std::vector<double> samples_ts;            // tokens per second of each repetition
  double avg_ts = 0, stddev_ts = 0;          // mean and sample standard deviation of samples_ts
  std::vector<double> samples_ns;            // nanoseconds of each repetition
  // Work per token: bytes read (weights + KV cache; decode) and floating-point operations (prefill).
  double bytes_per_token = 0, flops_per_token = 0;
  double gbs() const { return bytes_per_token * avg_ts / 1e9; }
  // Decode with adjacent_read_probe: per repetition, the probe around it (mean of the one before and the one
  // after, GB/s) and the repetition's GB/s as a share of it.
  std::vector<double> adjacent_read_gbs, adjacent_share;
  double gflops() const { return flops_per_token * avg_ts / 1e9; }
};

// Runs the pp test then the tg test (each skipped when its count is 0). The depth is filled once per test by
// running the model over n_depth deterministic tokens, or synthetically (not timed); every repetition then
// re-runs positions n_depth.. in the same cache. `log` (optional) hears progress lines.
std::vector<BenchResult> run_bench(const Model& model, ThreadPool* pool, const BenchParams& params,
                                   void (*log)(const char*) = nullptr);

// Bytes of weights one decode step reads: every matrix, the head once; of the embedding only one row.
double weight_bytes_per_token(const Model& model);

double median(std::vector<double> v);  // of a non-empty list

}  // namespace qwen3::bench
