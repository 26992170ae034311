#include "model/perplexity.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <memory>

#include "core/error.h"

namespace qwen3 {

namespace {

constexpr char kMagic[8] = {'_', 'l', 'o', 'g', 'i', 't', 's', '_'};

int row_words(int n_vocab) {
  return 2 * ((n_vocab + 1) / 2) + 4;  // uint16 words per position: two floats, then n_vocab (even)
}

using File = std::unique_ptr<FILE, int (*)(FILE*)>;

// The quantised log-probabilities of one row (llama.cpp's log_softmax with its uint16 output); returns
// -log p(target).
double quantise_row(const float* logits, int n_vocab, int target, uint16_t* out) {
  float max_logit = logits[0], min_logit = logits[0];
  for (int i = 1; i < n_vocab; ++i) {
    max_logit = std::max(max_logit, logits[i]);
    min_logit = std::min(min_logit, logits[i]);
  }
  min_logit = std::max(min_logit, max_logit - 16);
  double sum_exp = 0;
  for (int i = 0; i < n_vocab; ++i) sum_exp += std::exp(static_cast<double>(logits[i]) - max_logit);
  const float log_sum_exp = static_cast<float>(std::log(sum_exp));
  const float min_log_prob = min_logit - max_logit - log_sum_exp;
  const float scale = (max_logit - min_logit) / 65535.f;
  std::memcpy(out, &scale, 4);
  std::memcpy(out + 2, &min_log_prob, 4);
  uint16_t* q = out + 4;
  if (scale > 0) {
    const float inv = 1 / scale;
    for (int i = 0; i < n_vocab; ++i)
      q[i] = logits[i] > min_logit ? static_cast<uint16_t>(std::lround(inv * (logits[i] - min_logit))) : 0;
  } else {
    std::memset(q, 0, sizeof(uint16_t) * n_vocab);
  }
  return max_logit + static_cast<double>(log_sum_exp) - logits[target];
}

struct KlSums {
  double nll_base = 0, kld = 0, kld2 = 0;
  int64_t same_top = 0;
};

// KL(base || this) of one position; adds to sums; returns the position's KL.
double kl_row(const float* logits, int n_vocab, const uint16_t* base, int target, KlSums& s) {
  float scale, min_log_prob;
  std::memcpy(&scale, base, 4);
  std::memcpy(&min_log_prob, base + 2, 4);
  const uint16_t* q = base + 4;
  int imax = 0;
  for (int i = 1; i < n_vocab; ++i)
    if (logits[i] > logits[imax]) imax = i;
  double sum_exp = 0;
  for (int i = 0; i < n_vocab; ++i) sum_exp += std::exp(static_cast<double>(logits[i]) - logits[imax]);
  const double log_norm = logits[imax] + std::log(sum_exp);  // log p_i = logits[i] - log_norm
  s.nll_base += -(scale * q[target] + min_log_prob);
  double kl = 0;
  int imax_base = 0;
  float best = 0;
  for (int i = 0; i < n_vocab; ++i) {
    const float lp_base = scale * q[i] + min_log_prob;
    if (i == 0 || lp_base > best) {
      best = lp_base;
      imax_base = i;
    }
    if (lp_base > -16.f) kl += std::exp(static_cast<double>(lp_base)) * (lp_base - (logits[i] - log_norm));
  }
  s.kld += kl;
  s.kld2 += kl * kl;
  if (imax == imax_base) ++s.same_top;
  return kl;
}

}  // namespace

double log_softmax_at(const float* logits, int n_vocab, int target) {
  float max_logit = logits[0];
  for (int i = 1; i < n_vocab; ++i) max_logit = std::max(max_logit, logits[i]);
  double sum_exp = 0;
  for (int i = 0; i < n_vocab; ++i) sum_exp += std::exp(static_cast<double>(logits[i]) - max_logit);
  return logits[target] - max_logit - std::log(sum_exp);
}

double PerplexityResult::kld_percentile(double pct) const {
  if (kld_sorted.empty()) return 0;
  double rank = pct / 100.0 * static_cast<double>(kld_sorted.size() - 1);
  return kld_sorted[static_cast<size_t>(std::lround(rank))];
}

KlBase open_kl_base(const std::string& path) {
  File f(std::fopen(path.c_str(), "rb"), &std::fclose);
  QWEN3_CHECK(f, "%s: cannot open the KL divergence base file", path.c_str());
  KlBase b;
  b.path = path;
  char magic[8];
  int32_t head[3];
  QWEN3_CHECK(std::fread(magic, 1, 8, f.get()) == 8 && std::memcmp(magic, kMagic, 8) == 0 &&
                  std::fread(head, 4, 3, f.get()) == 3,
              "%s: not a KL divergence base file (llama.cpp's --kl-divergence-base format)", path.c_str());
  b.n_ctx = head[0];
  b.n_vocab = head[1];
  b.n_chunk = head[2];
  QWEN3_CHECK(b.n_ctx >= 4 && b.n_ctx <= (1 << 20) && b.n_vocab > 0 && b.n_vocab <= (1 << 24) &&
                  b.n_chunk > 0 && b.n_chunk <= (1 << 20),
              "%s: implausible header (n_ctx %d, n_vocab %d, n_chunk %d)", path.c_str(), b.n_ctx, b.n_vocab,
              b.n_chunk);
  b.tokens.resize(static_cast<size_t>(b.n_ctx) * b.n_chunk);
  QWEN3_CHECK(std::fread(b.tokens.data(), 4, b.tokens.size(), f.get()) == b.tokens.size(),
              "%s: truncated (tokens)", path.c_str());
  b.data_offset = 20 + 4 * static_cast<int64_t>(b.tokens.size());
  std::fseek(f.get(), 0, SEEK_END);
  int64_t want = b.data_offset +
                 static_cast<int64_t>(b.n_chunk) * (b.n_ctx - 1 - b.n_ctx / 2) * row_words(b.n_vocab) * 2;
  QWEN3_CHECK(std::ftell(f.get()) == want, "%s: %ld bytes, expected %ld for %d chunks of %d", path.c_str(),
              static_cast<long>(std::ftell(f.get())), static_cast<long>(want), b.n_chunk, b.n_ctx);
  return b;
}

PerplexityResult compute_perplexity(const Model& model, const std::vector<int32_t>& tokens_in,
                                    const PerplexityOptions& o, const std::string& write_base,
                                    const KlBase* base, const std::function<void(int, double)>& on_chunk) {
  const int n_vocab = model.config.vocab_size;
  const std::vector<int32_t>& tokens = base ? base->tokens : tokens_in;
  const int n_ctx = base ? base->n_ctx : o.n_ctx;
  QWEN3_CHECK(n_ctx >= 4 && n_ctx <= model.config.max_context(), "context %d: out of range [4, %d]", n_ctx,
              model.config.max_context());
  if (base) {
    QWEN3_CHECK(base->n_vocab == n_vocab, "%s: its logits have %d entries, the model %d: another vocabulary",
                base->path.c_str(), base->n_vocab, n_vocab);
  } else {
    QWEN3_CHECK(tokens.size() >= 2 * static_cast<size_t>(n_ctx),
                "the text is %zu tokens: at least %d are needed with a context of %d (as llama-perplexity)",
                tokens.size(), 2 * n_ctx, n_ctx);
  }
  for (int32_t t : tokens)
    QWEN3_CHECK(t >= 0 && t < n_vocab, "token id %d out of the vocabulary [0, %d)", t, n_vocab);
  int n_chunk = static_cast<int>(tokens.size() / n_ctx);
  if (o.n_chunks > 0) n_chunk = std::min(n_chunk, o.n_chunks);
  const int first = n_ctx / 2;
  const int n_score = n_ctx - 1 - first;  // scored positions per chunk
  const int n_out = n_ctx - first;        // logits kept per chunk (positions first .. n_ctx-1)
  const int nv = row_words(n_vocab);

  File out(nullptr, &std::fclose), in(nullptr, &std::fclose);
  if (!write_base.empty()) {
    out.reset(std::fopen(write_base.c_str(), "wb"));
    QWEN3_CHECK(out, "%s: cannot open for writing", write_base.c_str());
    int32_t head[3] = {n_ctx, n_vocab, n_chunk};
    std::fwrite(kMagic, 1, 8, out.get());
    std::fwrite(head, 4, 3, out.get());
    std::fwrite(tokens.data(), 4, static_cast<size_t>(n_chunk) * n_ctx, out.get());
  }
  if (base) {
    in.reset(std::fopen(base->path.c_str(), "rb"));
    QWEN3_CHECK(in && std::fseek(in.get(), base->data_offset, SEEK_SET) == 0, "%s: cannot read",
                base->path.c_str());
  }

  PerplexityResult r;
  r.n_ctx = n_ctx;
  r.n_chunks = n_chunk;
  double nll = 0, nll2 = 0;
  KlSums kl;
  std::vector<float> logits(static_cast<size_t>(n_out) * n_vocab);
  std::vector<uint16_t> rows(static_cast<size_t>(n_score) * nv);
  KvCache cache(model.config, 1, n_ctx, o.forward.kv_type);
  for (int c = 0; c < n_chunk; ++c) {
    const int32_t* chunk = tokens.data() + static_cast<size_t>(c) * n_ctx;
    // A fresh cache for each chunk: positions 0 .. n_ctx-1 overwrite every entry a chunk reads.
    Batch batch;
    for (int j = 0; j < n_ctx; ++j) batch.add(chunk[j], j, 0, j >= first);
    forward(model, cache, batch, logits.data(), o.forward);
    if (base) {
      QWEN3_CHECK(std::fread(rows.data(), 2, rows.size(), in.get()) == rows.size(), "%s: truncated",
                  base->path.c_str());
    }
    for (int j = 0; j < n_score; ++j) {
      const float* row = logits.data() + static_cast<size_t>(j) * n_vocab;
      const int target = chunk[first + j + 1];
      double v = out ? quantise_row(row, n_vocab, target, rows.data() + static_cast<size_t>(j) * nv)
                     : -log_softmax_at(row, n_vocab, target);
      nll += v;
      nll2 += v * v;
      if (base)
        r.kld_sorted.push_back(
            static_cast<float>(kl_row(row, n_vocab, rows.data() + static_cast<size_t>(j) * nv, target, kl)));
    }
    if (out) std::fwrite(rows.data(), 2, rows.size(), out.get());
    r.positions += n_score;
    if (on_chunk) on_chunk(c, std::exp(nll / static_cast<double>(r.positions)));
  }
  if (out)
    QWEN3_CHECK(std::fflush(out.get()) == 0 && !std::ferror(out.get()), "%s: write error",
                write_base.c_str());
  const double n = static_cast<double>(r.positions);
  r.nll_mean = n > 0 ? nll / n : 0;
  double var = n > 1 ? (nll2 / n - r.nll_mean * r.nll_mean) : 0;
  r.nll_stderr = var > 0 ? std::sqrt(var / (n - 1)) : 0;
  r.ppl = std::exp(r.nll_mean);
  if (base) {
    r.has_kld = true;
    r.ppl_base = std::exp(kl.nll_base / n);
    r.kld_mean = kl.kld / n;
    double kvar = n > 1 ? kl.kld2 / n - r.kld_mean * r.kld_mean : 0;
    r.kld_stderr = kvar > 0 ? std::sqrt(kvar / (n - 1)) : 0;
    r.top1_agree = static_cast<double>(kl.same_top) / n;
    std::sort(r.kld_sorted.begin(), r.kld_sorted.end());
  }
  return r;
}

}  // namespace qwen3
