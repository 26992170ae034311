#include "bench/bench.h"

#include <algorithm>
#include <cmath>
#include <cstdio>

#include "bench/limits.h"
#include "core/error.h"
#include "core/timer.h"
#include "model/forward.h"

namespace qwen3::bench {

namespace {

// Deterministic token ids spread over the real vocabulary.
int32_t token_at(const Model& m, int i) {
  return static_cast<int32_t>((static_cast<int64_t>(i) * 7919 + 13) % m.n_vocab_tokens);
}

// Fills positions [0, n) of slot 0 (logits only for the last token, which nobody reads).
void fill(const Model& m, KvCache& cache, ThreadPool* pool, int n, int max_chunk,
          std::vector<float>& logits) {
  if (n == 0) return;
  ForwardOptions fo;
  fo.pool = pool;
  fo.max_chunk = max_chunk;
  for (int b0 = 0; b0 < n; b0 += max_chunk) {
    Batch b;
    int b1 = std::min(n, b0 + max_chunk);
    for (int i = b0; i < b1; ++i) b.add(token_at(m, i), i, 0, i + 1 == b1);
    forward(m, cache, b, logits.data(), fo);
  }
}

// Pseudo-random keys and values (N(0,1)-like, as after q/k-norm) for positions [0, n) of slot 0.
void fill_synthetic(const ModelConfig& c, KvCache& cache, int n) {
  const int d = c.head_dim, n_rows = 61;  // a prime number of distinct rows, cycled
  std::vector<float> rows(static_cast<size_t>(n_rows) * d);
  uint64_t x = 0x9e3779b97f4a7c15ull;
  for (float& v : rows) {
    float sum = 0;  // sum of 4 uniforms: roughly normal
    for (int k = 0; k < 4; ++k) {
      x = x * 6364136223846793005ull + 1442695040888963407ull;
      sum += static_cast<float>(x >> 40) / static_cast<float>(1 << 24) - 0.5f;
    }
    v = sum * 1.7f;
  }
  for (int il = 0; il < c.num_hidden_layers; ++il)
    for (int h = 0; h < c.num_key_value_heads; ++h)
      for (int pos = 0; pos < n; ++pos) {
        const float* k = rows.data() + static_cast<size_t>((pos + il + h) % n_rows) * d;
        const float* v = rows.data() + static_cast<size_t>((pos * 7 + il) % n_rows) * d;
        cache.store(il, 0, h, pos, k, v);
      }
}

void finish(BenchResult& r, int n_tokens) {
  double sum = 0;
  for (double ns : r.samples_ns) {
    r.samples_ts.push_back(n_tokens / (ns * 1e-9));
    sum += r.samples_ts.back();
  }
  const double n = static_cast<double>(r.samples_ts.size());
  r.avg_ts = sum / n;
  double var = 0;
  for (double t : r.samples_ts) var += (t - r.avg_ts) * (t - r.avg_ts);
  r.stddev_ts = n > 1 ? std::sqrt(var / (n - 1)) : 0.0;
}

// Matrix multiply-adds per token (every matrix but the embedding; the head once).
double matrix_params(const Model& m) {
  double p = 0;
  for (const auto& l : m.weights.layers)
    for (const Tensor* t :
         {&l.q_proj, &l.k_proj, &l.v_proj, &l.o_proj, &l.gate_proj, &l.up_proj, &l.down_proj})
      p += static_cast<double>(t->rows) * t->cols;
  return p;
}

// What a decode step reads of the weights: every layer matrix and the head (weight_bytes_per_token's bytes,
// less the one embedding row).
std::vector<ByteRange> decode_weight_ranges(const Model& m) {
  std::vector<ByteRange> r;
  for (const auto& l : m.weights.layers)
    for (const Tensor* t :
         {&l.q_proj, &l.k_proj, &l.v_proj, &l.o_proj, &l.gate_proj, &l.up_proj, &l.down_proj})
      r.push_back({t->data, t->bytes()});
  r.push_back({m.weights.lm_head.data, m.weights.lm_head.bytes()});
  return r;
}

}  // namespace

double median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  const size_t n = v.size();
  return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

double weight_bytes_per_token(const Model& m) {
  double bytes = static_cast<double>(m.weight_bytes());
  if (m.weights.lm_head.data != m.weights.embed_tokens.data)  // untied: only one embedding row is read
    bytes -= static_cast<double>(m.weights.embed_tokens.bytes()) -
             static_cast<double>(m.weights.embed_tokens.bytes()) / m.weights.embed_tokens.rows;
  return bytes;
}

std::vector<BenchResult> run_bench(const Model& m, ThreadPool* pool, const BenchParams& p,
                                   void (*log)(const char*)) {
  QWEN3_CHECK(p.n_prompt >= 0 && p.n_gen >= 0 && p.n_depth >= 0, "token counts must not be negative");
  QWEN3_CHECK(p.reps >= 1, "-r must be at least 1");
  const ModelConfig& c = m.config;
  const int n_ctx = p.n_depth + std::max(p.n_prompt, p.n_gen);
  QWEN3_CHECK(n_ctx <= c.max_context(), "depth %d + %d tokens exceed the model's context of %d", p.n_depth,
              std::max(p.n_prompt, p.n_gen), c.max_context());
  std::vector<BenchResult> out;
  std::vector<float> logits(c.vocab_size);
  const double head_flops = 2.0 * c.vocab_size * c.hidden_size;
  // Attention flops of a token at position pos: q.k and p.v, 2 flops each, over pos+1 positions, every head.
  auto attn_flops = [&](double pos) {
    return 4.0 * c.num_attention_heads * c.head_dim * (pos + 1) * c.num_hidden_layers;
  };
  char line[256];
  for (int test = 0; test < 2; ++test) {
    const int n = test == 0 ? p.n_prompt : p.n_gen;
    if (n == 0) continue;
    KvCache cache(c, 1, n_ctx, p.kv_type);
    double t0 = now_seconds();
    if (p.synthetic_depth) {
      fill_synthetic(c, cache, p.n_depth);
      cache.rope().extend(m.rope, p.n_depth);
    } else {
      fill(m, cache, pool, p.n_depth, p.max_chunk, logits);
    }
    if (log && p.n_depth > 0) {
      std::snprintf(line, sizeof line, "filled depth %d (%s) in %.1f s", p.n_depth,
                    p.synthetic_depth ? "synthetic keys/values" : "model", now_seconds() - t0);
      log(line);
    }
    BenchResult r;
    r.n_depth = p.n_depth;
    ForwardOptions fo;
    fo.pool = pool;
    fo.max_chunk = p.max_chunk;
    const double mean_pos = p.n_depth + (n - 1) / 2.0;
    if (test == 0) {
      r.n_prompt = n;
      r.flops_per_token = 2.0 * matrix_params(m) + head_flops / n + attn_flops(mean_pos);
      Batch b;
      for (int i = 0; i < n; ++i) b.add(token_at(m, p.n_depth + i), p.n_depth + i, 0, i + 1 == n);
      for (int rep = 0; rep < p.reps; ++rep) {
        double s = now_seconds();
        forward(m, cache, b, logits.data(), fo);
        r.samples_ns.push_back((now_seconds() - s) * 1e9);
      }
    } else {
      r.n_gen = n;
      r.bytes_per_token =
          weight_bytes_per_token(m) + (mean_pos + 1) * static_cast<double>(cache.bytes_per_position());
      r.flops_per_token = 2.0 * matrix_params(m) + head_flops + attn_flops(mean_pos);
      const std::vector<ByteRange> ranges = decode_weight_ranges(m);
      const int n_threads = pool ? pool->size() : 1;
      double probe_before = p.adjacent_read_probe ? read_ranges_gbs(n_threads, ranges, 2) : 0;
      for (int rep = 0; rep < p.reps; ++rep) {
        double s = now_seconds();
        for (int i = 0; i < n; ++i) {
          Batch b;
          b.add(token_at(m, p.n_depth + i), p.n_depth + i, 0, true);
          forward(m, cache, b, logits.data(), fo);
        }
        const double dt = now_seconds() - s;
        r.samples_ns.push_back(dt * 1e9);
        if (p.adjacent_read_probe) {
          const double probe_after = read_ranges_gbs(n_threads, ranges, 2);
          const double around = (probe_before + probe_after) / 2;
          r.adjacent_read_gbs.push_back(around);
          r.adjacent_share.push_back(r.bytes_per_token * n / dt / 1e9 / around);
          probe_before = probe_after;
        }
      }
    }
    finish(r, n);
    if (log) {
      std::snprintf(line, sizeof line, "%s%d @ d%d: %.2f tok/s", test == 0 ? "pp" : "tg", n, p.n_depth,
                    r.avg_ts);
      log(line);
    }
    out.push_back(r);
  }
  return out;
}

}  // namespace qwen3::bench
