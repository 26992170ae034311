// Perplexity and KL divergence as llama-perplexity measures them (tools/perplexity/perplexity.cpp of
// llama.cpp), so that figures compare across the two engines:
//   - the token stream is cut into chunks of n_ctx tokens (n_chunk = tokens / n_ctx, at most --chunks);
//   - each chunk is evaluated from an empty KV cache, no BOS added (Qwen adds none);
//   - only its second half is scored: the logits at positions j = n_ctx/2 .. n_ctx-2 predict token j+1
//     (n_ctx/2 - 1 positions a chunk); ppl = exp(mean negative log-likelihood), log-softmax over all
//     vocab_size logits with a double sum.
// KL base file, llama.cpp's --kl-divergence-base format (little-endian):
//   "_logits_" | int32 n_ctx | int32 n_vocab | int32 n_chunk | int32 tokens[n_chunk * n_ctx]
//   then, per chunk, per scored position, nv = 2*((n_vocab+1)/2) + 4 uint16s: float32 scale, float32
//   min_log_prob (the first four), then n_vocab quantised log-probabilities q: log p = scale*q + min_log_prob
//   where max_logit - 16 <= logit (q = 0 below that), scale = (max_logit - min_logit) / 65535.
// KL(base || this) per position sums p_base*(log p_base - log p) over the tokens with log p_base > -16 (as
// llama.cpp); top-1 agreement compares the argmax of this run's logits with the base's. Covered by
// model_tests (PerplexityTest: against tools/reference/qwen3_ref.py --perplexity, and the file round trip).
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "model/forward.h"

namespace qwen3 {

struct PerplexityOptions {
  int n_ctx = 512;
  int n_chunks = -1;  // -1: every whole chunk of the tokens
  ForwardOptions forward;
};

struct PerplexityResult {
  int n_ctx = 0, n_chunks = 0;
  int64_t positions = 0;  // scored positions
  double nll_mean = 0, nll_stderr = 0, ppl = 0;
  // With a base file:
  bool has_kld = false;
  double ppl_base = 0;  // from the base file's quantised log-probabilities
  double kld_mean = 0, kld_stderr = 0;
  double top1_agree = 0;                    // fraction of positions whose argmax agrees with the base's
  std::vector<float> kld_sorted;            // per position, ascending (for percentiles)
  double kld_percentile(double pct) const;  // pct in [0, 100], nearest rank as llama.cpp picks it
};

// The base file of another run (see above): read whole at open.
struct KlBase {
  int n_ctx = 0, n_vocab = 0, n_chunk = 0;
  std::vector<int32_t> tokens;  // [n_chunk * n_ctx]
  std::string path;
  int64_t data_offset = 0;  // where the log-probabilities begin
};
KlBase open_kl_base(const std::string& path);

// Computes perplexity over `tokens`. When write_base is not empty the log-probabilities are saved there
// (llama.cpp's format); when `base` is given the KL divergence against it is computed too (its tokens are
// the ones evaluated; `tokens` is ignored). on_chunk(i, ppl so far) after each chunk. Throws qwen3::Error on
// too few tokens (fewer than 2 * n_ctx, as llama.cpp) or a base file that does not fit the model.
PerplexityResult compute_perplexity(const Model& model, const std::vector<int32_t>& tokens,
                                    const PerplexityOptions& options, const std::string& write_base,
                                    const KlBase* base, const std::function<void(int, double)>& on_chunk);

// log p(target) of one row of logits: logit[target] - max - log(sum exp(logit - max)), the sum in double.
double log_softmax_at(const float* logits, int n_vocab, int target);

}  // namespace qwen3
