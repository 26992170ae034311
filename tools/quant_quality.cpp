// Quantisation quality: KL divergence and top-1 agreement of the next-token distribution of the Q8_0 and
// Q4_0 models against the same model in f32, at every position of real text.
//
//   quant_quality MODEL_DIR N_CHUNKS TEXT_FILE...
//
// The text files are concatenated, tokenized with MODEL_DIR's tokenizer.json, and N_CHUNKS chunks of 512
// tokens are taken evenly spaced over it; each chunk is one prompt (positions 0..511, a fresh cache), and the
// logits of all its positions are compared. Quantised models are made at load (--dtype), which gives the same
// weights as `qwen3 quantize` (tests/kernels/model_test.cpp). Built with -DQWEN3_BENCH=ON
// (bench/CMakeLists.txt); results are recorded in docs/BENCHMARKS.md, "Quantisation quality".
#include <algorithm>
#include <cmath>
#include <cstdio>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include "core/error.h"
#include "core/thread_pool.h"
#include "model/forward.h"
#include "tokenizer/tokenizer.h"

using namespace qwen3;

namespace {

constexpr int kChunk = 512;

std::vector<float> chunk_logits(const Model& m, const std::vector<int32_t>& ids, ThreadPool* pool) {
  KvCache cache(m.config, 1, kChunk);
  Batch b;
  for (int i = 0; i < static_cast<int>(ids.size()); ++i) b.add(ids[i], i, 0, true);
  std::vector<float> logits(ids.size() * static_cast<size_t>(m.config.vocab_size));
  ForwardOptions fo;
  fo.pool = pool;
  forward(m, cache, b, logits.data(), fo);
  return logits;
}

// log-softmax over the real token ids, in double
void log_softmax(const float* x, int n, std::vector<double>& out) {
  out.resize(n);
  double mx = x[0];
  for (int i = 1; i < n; ++i) mx = std::max(mx, static_cast<double>(x[i]));
  double sum = 0;
  for (int i = 0; i < n; ++i) sum += std::exp(x[i] - mx);
  const double lse = mx + std::log(sum);
  for (int i = 0; i < n; ++i) out[i] = x[i] - lse;
}

struct Stats {
  double kl_sum = 0, kl_max = 0;
  std::vector<double> kls;
  int64_t top1_same = 0, n = 0;
};

}  // namespace

int main(int argc, char** argv) {
  if (argc < 4) {
    std::fprintf(stderr, "usage: quant_quality MODEL_DIR N_CHUNKS TEXT_FILE...\n");
    return 1;
  }
  try {
    const std::string dir = argv[1];
    const int n_chunks = std::atoi(argv[2]);
    std::string text;
    for (int i = 3; i < argc; ++i) {
      std::ifstream in(argv[i], std::ios::binary);
      QWEN3_CHECK(in.good(), "%s: cannot read", argv[i]);
      std::stringstream ss;
      ss << in.rdbuf();
      text += ss.str() + "\n";
    }
    Tokenizer tok = Tokenizer::load(dir);
    std::vector<int32_t> ids = tok.encode(text);
    std::fprintf(stderr, "%zu tokens of text\n", ids.size());
    QWEN3_CHECK(static_cast<int64_t>(ids.size()) >= int64_t{n_chunks} * kChunk,
                "not enough text for %d chunks", n_chunks);
    ThreadPool pool(physical_core_count());
    LoadOptions o32, o8, o4;
    o32.dtype = DType::kF32;
    o8.dtype = DType::kQ8_0;
    o4.dtype = DType::kQ4_0;
    auto m32 = load_model(dir, o32), m8 = load_model(dir, o8), m4 = load_model(dir, o4);
    const int V = m32->config.vocab_size, n_real = m32->n_vocab_tokens;
    Stats s8, s4;
    std::vector<double> lp, lq;
    for (int c = 0; c < n_chunks; ++c) {
      // chunks evenly spaced over the text, so that every file contributes
      const size_t start = ids.size() / n_chunks * c;
      std::vector<int32_t> chunk(ids.begin() + start, ids.begin() + start + kChunk);
      auto l32 = chunk_logits(*m32, chunk, &pool);
      for (auto [m, s] : {std::pair{m8.get(), &s8}, std::pair{m4.get(), &s4}}) {
        auto lx = chunk_logits(*m, chunk, &pool);
        for (int t = 0; t < kChunk; ++t) {
          const float* a = l32.data() + static_cast<size_t>(t) * V;
          const float* b = lx.data() + static_cast<size_t>(t) * V;
          log_softmax(a, n_real, lp);
          log_softmax(b, n_real, lq);
          double kl = 0;
          for (int i = 0; i < n_real; ++i) kl += std::exp(lp[i]) * (lp[i] - lq[i]);
          s->kl_sum += kl;
          s->kl_max = std::max(s->kl_max, kl);
          s->kls.push_back(kl);
          int ia = 0, ib = 0;
          for (int i = 1; i < n_real; ++i) {
            if (a[i] > a[ia]) ia = i;
            if (b[i] > b[ib]) ib = i;
          }
          s->top1_same += ia == ib;
          ++s->n;
        }
      }
      std::fprintf(stderr, "chunk %d/%d done\n", c + 1, n_chunks);
    }
    for (auto [name, s] : {std::pair{"q8_0", &s8}, std::pair{"q4_0", &s4}}) {
      std::sort(s->kls.begin(), s->kls.end());
      std::printf(
          "%s: positions %lld, mean KL %.6f nats, median %.6f, p99 %.6f, max %.6f, top-1 agreement %.2f %%\n",
          name, static_cast<long long>(s->n), s->kl_sum / s->n, s->kls[s->kls.size() / 2],
          s->kls[s->kls.size() * 99 / 100], s->kl_max, 100.0 * s->top1_same / s->n);
    }
  } catch (const Error& e) {
    std::fprintf(stderr, "error: %s\n", e.what());
    return 1;
  }
  return 0;
}
