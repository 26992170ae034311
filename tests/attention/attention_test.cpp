// Attention kernels (kernels/attention.h) on every ISA this CPU has, over head dims (with odd tails), history
// lengths (around the tile size), GQA ratios, blocks of tokens, cache dtypes and misaligned buffers:
//  - the scalar kernel against a float64 softmax over the same (widened) cache rows;
//  - each SIMD kernel against the scalar one;
//  - each dtype's cache against float64 attention over the unrounded f32 keys and values;
//  - batch invariance: a token's output in a block of tokens is bit-identical to the token alone.
// q8_0 caches take the integer path (kernels/attention.h): there the float64 references see the query rounded
// to q8_0 as the kernel does, and the bounds add p's rounding to int16 (half a step of 1/32767 of the tile's
// largest value scale per term).
// Tolerances come from f32 rounding (eps * (d + len) scaled by the score magnitudes) and the cache dtype's
// unit roundoff.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <random>
#include <vector>

#include "core/error.h"
#include "core/half.h"
#include "kernels/attention.h"
#include "kernels/kernels.h"

namespace qwen3::kernels {
namespace {

constexpr float kEps = 1.1920929e-7f;

std::vector<Isa> isas() {
  std::vector<Isa> out;
  for (Isa i : {Isa::kScalar, Isa::kAvx2, Isa::kAvx512})
    if (isa_supported(i)) out.push_back(i);
  return out;
}

// Unit roundoff of one cache element relative to its row's (or q8_0 block's) max magnitude.
double dtype_unit(DType t) {
  switch (t) {
    case DType::kF32:
      return 0;
    case DType::kF16:
      return std::ldexp(1.0, -11);
    case DType::kBF16:
      return std::ldexp(1.0, -8);
    case DType::kQ8_0:
      return 0.5 / 127 + std::ldexp(1.0, -11);  // half a step, plus the f16 scale's rounding
    default:
      return 1;
  }
}

struct Problem {
  int d, len, group, n_tok;
  DType t;
  std::vector<float> k, v;      // [len, d] f32 as computed
  std::vector<uint8_t> kc, vc;  // key and value histories in the cache format and layout, whole tiles (+
                                // misalignment padding)
  size_t misalign = 0;          // bytes the histories start after kc.data(), vc.data()
  std::vector<float> q;         // [n_tok, group * d] from qoff (1 float when misaligned)
  size_t qoff = 0;
  std::vector<int32_t> pos;  // [n_tok]
};

Problem make_problem(int d, int len, int group, int n_tok, DType t, uint32_t seed, bool misaligned) {
  Problem p{d, len, group, n_tok, t, {}, {}, {}, {}, 0, {}, 0, {}};
  p.qoff = misaligned ? 1 : 0;
  std::mt19937 rng(seed);
  std::normal_distribution<float> nd(0.0f, 1.0f);
  p.k.resize(static_cast<size_t>(len) * d);
  p.v.resize(static_cast<size_t>(len) * d);
  for (auto& x : p.k) x = nd(rng);
  for (auto& x : p.v) x = nd(rng);
  // A few strong keys so that the softmax is peaked somewhere, as real attention often is.
  for (int j = 0; j < len; j += 7)
    for (int i = 0; i < d; ++i) p.k[static_cast<size_t>(j) * d + i] *= 3.0f;
  size_t rb = kv_row_bytes(t, d);
  // Off the vector alignment, but on the element's (the cache guarantees that much): 4 bytes for f32, 2 else.
  p.misalign = misaligned ? (t == DType::kF32 ? 4 : 2) : 0;
  const size_t rows = static_cast<size_t>(kv_history_rows(len));
  // Positions past len hold NaN bytes: no kernel may let them reach a result (a lane, a pair half or a row
  // beyond a query's positions).
  p.kc.assign(rb * rows + p.misalign + 64, 0xff);
  p.vc.assign(rb * rows + p.misalign + 64, 0xff);
  for (int j = 0; j < len; ++j) {
    kv_store_key(t, p.k.data() + static_cast<size_t>(j) * d, d, p.kc.data() + p.misalign, j);
    kv_store_value(t, p.v.data() + static_cast<size_t>(j) * d, d, p.vc.data() + p.misalign, j);
  }
  p.q.resize(static_cast<size_t>(n_tok) * group * d + 1);
  for (auto& x : p.q) x = nd(rng);
  // Tokens at the last positions (as a prompt block), the first one sometimes far earlier.
  for (int i = 0; i < n_tok; ++i) p.pos.push_back(len - n_tok + i);
  if (n_tok > 1) p.pos[0] = len / 3;
  return p;
}

// Attention's output as a matmul's int8 input (AttentionArgs::oq) for weights of dtype `weight`.
struct Int8Out {
  DType weight;
  std::vector<int8_t> q;
  std::vector<float> d;
  std::vector<int32_t> c;
};

// With qb, the queries given already rounded to bf16 (AttentionArgs::qb) as well as in f32; with int8, the
// output written there instead.
std::vector<float> run(const Problem& p, Isa isa, bool misaligned, int tok_begin = 0, int tok_count = -1,
                       const std::vector<uint16_t>* qb = nullptr, Int8Out* int8 = nullptr) {
  if (tok_count < 0) tok_count = p.n_tok;
  const int64_t ld = static_cast<int64_t>(p.group) * p.d;
  const size_t off = misaligned ? 1 : 0;
  std::vector<float> out(static_cast<size_t>(p.n_tok) * ld + 1, std::nanf(""));
  std::vector<float> scratch(attention_scratch_floats(tok_count, p.group, p.d) + 1);
  AttentionArgs a;
  a.kv_type = p.t;
  a.head_dim = p.d;
  a.scale = 1.0f / std::sqrt(static_cast<float>(p.d));
  a.keys = p.kc.data() + p.misalign;
  a.values = p.vc.data() + p.misalign;
  a.n_tok = tok_count;
  a.group = p.group;
  a.q = p.q.data() + p.qoff + tok_begin * ld;
  a.ldq = ld;
  a.pos = p.pos.data() + tok_begin;
  a.out = out.data() + off + tok_begin * ld;
  a.ldo = ld;
  a.scratch = scratch.data() + off;
  if (qb) {
    a.qb = qb->data() + tok_begin * ld;
    a.ldqb = ld;
  }
  if (int8) {
    const size_t n = static_cast<size_t>(p.n_tok * ld);
    int8->q.assign(n, 0x55);
    int8->d.assign(n / kQuantBlock, std::nanf(""));
    int8->c.assign(n / kQuantBlock, 0x5555);
    a.oq = int8->q.data() + tok_begin * ld;
    a.od = int8->d.data() + tok_begin * ld / kQuantBlock;
    a.oc = int8->c.data() + tok_begin * ld / kQuantBlock;
    a.oq_weight = int8->weight;
  }
  attention_table_for(isa).attend(a);
  return std::vector<float>(out.begin() + static_cast<int64_t>(off), out.end() - (misaligned ? 0 : 1));
}

// float64 attention of every query over rows k, v ([len, d], already in f32); with round_q, each query
// first rounded as the q8_0 or bf16 path does (to the cache's dtype).
std::vector<double> reference(const Problem& p, const std::vector<float>& k, const std::vector<float>& v,
                              bool round_q = false) {
  const int d = p.d;
  const int64_t ld = static_cast<int64_t>(p.group) * d;
  std::vector<double> out(static_cast<size_t>(p.n_tok) * ld);
  const double scale = 1.0 / std::sqrt(static_cast<double>(d));
  for (int t = 0; t < p.n_tok; ++t)
    for (int g = 0; g < p.group; ++g) {
      const float* q = p.q.data() + p.qoff + t * ld + g * d;
      std::vector<float> qr(d);
      if (round_q && p.t == DType::kBF16) {
        std::vector<uint16_t> qb(d);
        scalar::round_bf16(q, d, qb.data());
        for (int i = 0; i < d; ++i) qr[i] = bf16_to_f32(qb[i]);
        q = qr.data();
      } else if (round_q) {
        std::vector<uint8_t> row(kv_row_bytes(DType::kQ8_0, d));
        kv_store_row(DType::kQ8_0, q, d, row.data());
        kv_load_row(DType::kQ8_0, row.data(), d, qr.data());
        q = qr.data();
      }
      std::vector<double> s(p.pos[t] + 1);
      double mx = -1e300, sum = 0;
      for (int j = 0; j <= p.pos[t]; ++j) {
        double acc = 0;
        for (int i = 0; i < d; ++i) acc += static_cast<double>(q[i]) * k[static_cast<size_t>(j) * d + i];
        s[j] = acc * scale;
        mx = std::max(mx, s[j]);
      }
      for (auto& x : s) sum += (x = std::exp(x - mx));
      for (int i = 0; i < d; ++i) {
        double acc = 0;
        for (int j = 0; j <= p.pos[t]; ++j) acc += s[j] * v[static_cast<size_t>(j) * d + i];
        out[t * ld + g * d + i] = acc / sum;
      }
    }
  return out;
}

// The history's rows back in f32 [len, d] (keys: from their tiles).
std::vector<float> widened(const std::vector<uint8_t>& c, const Problem& p, bool keys) {
  std::vector<float> out(static_cast<size_t>(p.len) * p.d);
  for (int j = 0; j < p.len; ++j) {
    float* row = out.data() + static_cast<size_t>(j) * p.d;
    if (keys)
      kv_load_key(p.t, c.data() + p.misalign, p.d, j, row);
    else
      kv_load_value(p.t, c.data() + p.misalign, p.d, j, row);
  }
  return out;
}

// Max |score| contribution: scale * max_j sum_i |q_i k_ji| over all queries, and max |v|.
void magnitudes(const Problem& p, double* score_mag, double* vmax) {
  *score_mag = 0;
  *vmax = 0;
  const double scale = 1.0 / std::sqrt(static_cast<double>(p.d));
  for (size_t qi = 0; qi + 1 < p.q.size(); qi += p.d)
    for (int j = 0; j < p.len; ++j) {
      double acc = 0;
      for (int i = 0; i < p.d; ++i) acc += std::abs(p.q[qi + i] * p.k[static_cast<size_t>(j) * p.d + i]);
      *score_mag = std::max(*score_mag, acc * scale);
    }
  for (float x : p.v) *vmax = std::max(*vmax, static_cast<double>(std::abs(x)));
}

template <class A, class B>
double max_diff(const A& a, const B& b) {
  double m = 0;
  for (size_t i = 0; i < a.size(); ++i) m = std::max(m, std::abs(static_cast<double>(a[i]) - b[i]));
  return m;
}

struct Shape {
  int d, len, group, n_tok;
};

std::vector<Shape> shapes(DType t) {
  std::vector<Shape> out;
  std::vector<int> dims = t == DType::kQ8_0 ? std::vector<int>{32, 64, 96, 128, 256}
                                            : std::vector<int>{1, 7, 16, 20, 48, 64, 100, 128, 256};
  for (int d : dims)
    for (int len : {1, 2, 5, 31, 32, 33, 64, 97, 300})
      for (int group : {1, 2, 3, 8})
        for (int n_tok : {1, 4, 16})
          if (n_tok <= len && (d <= 128 || len <= 97)) out.push_back({d, len, group, n_tok});
  return out;
}

class AttentionTest : public ::testing::TestWithParam<DType> {};

TEST_P(AttentionTest, EveryIsaMatchesTheReferences) {
  const DType t = GetParam();
  uint32_t seed = 1;
  int checked = 0;
  for (const Shape& s : shapes(t)) {
    for (bool mis : {false, true}) {
      Problem p = make_problem(s.d, s.len, s.group, s.n_tok, t, seed++, mis);
      double smag, vmax;
      magnitudes(p, &smag, &vmax);
      // f32 arithmetic: dot products of d terms, a softmax over len terms, exp within a few ulp.
      const double f32_tol = 8.0 * kEps * (s.d + s.len + 16) * (1.0 + smag) * vmax;
      // Cache rounding: every key element off by u * its row's max (scores by u * smag... bounded by
      // u * scale * sum|q| * max|k|), every value element by u * max|v|.
      const double u = dtype_unit(t);
      double qmax = 0, kmax = 0;
      for (float x : p.q) qmax = std::max(qmax, static_cast<double>(std::abs(x)));
      for (float x : p.k) kmax = std::max(kmax, static_cast<double>(std::abs(x)));
      const bool q8 = t == DType::kQ8_0, b16 = t == DType::kBF16;  // the paths that round q (and p)
      const double ds = (q8 || b16 ? 2 : 1) * u * kmax * qmax * s.d / std::sqrt(static_cast<double>(s.d));
      // p rounded to int16: each term off by at most half a step of max|v| / 32767, the softmax sum is >= 1;
      // to bf16: each term by u of itself, so the weighted mean by u * max|v|.
      const double p_tol = q8 ? 0.5 * s.len * (1.0 + u) * vmax / 32767.0 : b16 ? u * vmax : 0.0;
      const double dtype_tol = (2.0 * ds * std::exp(2.0 * ds) + u) * vmax + f32_tol + p_tol;
      // Between ISAs p may differ by an ulp (their exp), flipping the int16 or bf16 rounding of a few terms.
      const double isa_tol =
          2 * f32_tol + (q8 ? 8.0 * (1.0 + u) * vmax / 32767.0 : 0.0) + (b16 ? 2.0 * u * vmax : 0.0);

      const auto kw = widened(p.kc, p, true), vw = widened(p.vc, p, false);
      const auto exact_widened = reference(p, kw, vw, q8 || b16);
      const auto exact_f32 = reference(p, p.k, p.v);
      const auto ref = run(p, Isa::kScalar, mis);
      const double e_ref = max_diff(ref, exact_widened);
      ASSERT_LE(e_ref, f32_tol + p_tol)
          << "scalar vs float64: d=" << s.d << " len=" << s.len << " group=" << s.group
          << " n_tok=" << s.n_tok << " " << dtype_name(t);
      const double e_dtype = max_diff(ref, exact_f32);
      ASSERT_LE(e_dtype, dtype_tol) << "cache rounding of " << dtype_name(t) << ": d=" << s.d
                                    << " len=" << s.len;
      for (Isa isa : isas()) {
        const auto got = run(p, isa, mis);
        const double e = max_diff(got, ref);
        ASSERT_LE(e, isa_tol) << isa_name(isa) << " vs scalar: max abs err " << e << " (max |ref-f64| "
                              << e_ref << ") d=" << s.d << " len=" << s.len << " group=" << s.group
                              << " n_tok=" << s.n_tok << " misaligned=" << mis << " " << dtype_name(t);
        ++checked;
      }
    }
  }
  EXPECT_GT(checked, 100);
}

// A token's output must be the same bits whether it is attended alone or in a block (batch invariance).
TEST_P(AttentionTest, BlockEqualsTokensAloneBitForBit) {
  const DType t = GetParam();
  for (Isa isa : isas()) {
    // Groups of 2, 3 and 4 query heads: the queries of a block run in fours, pairs and singles, each with the
    // same operations as alone.
    for (int d : {64, 128}) {
      for (int len : {1, 17, 33, 200})
        for (int group : {2, 3, 4}) {
          const int n_tok = std::min(len, 16);
          Problem p = make_problem(d, len, group, n_tok, t, 77u + d + len + group, false);
          const auto block = run(p, isa, false);
          for (int tok = 0; tok < n_tok; ++tok) {
            const auto alone = run(p, isa, false, tok, 1);
            const size_t w = static_cast<size_t>(p.group) * d;
            ASSERT_EQ(0, std::memcmp(block.data() + tok * w, alone.data() + tok * w, w * sizeof(float)))
                << isa_name(isa) << " " << dtype_name(t) << " d=" << d << " len=" << len << " group " << group
                << " token " << tok;
          }
        }
    }
  }
}

// A bf16 cache's attention given its queries already rounded (AttentionArgs::qb, as the forward pass does)
// gives the bits it gives rounding them itself, alone and in blocks.
TEST(AttentionBf16, PreRoundedQueriesGiveTheSameBits) {
  for (Isa isa : isas())
    for (int len : {5, 40, 97}) {
      Problem p = make_problem(64, len, 2, 4, DType::kBF16, 500u + len, false);
      std::vector<uint16_t> qb(p.q.size() - 1);
      scalar::round_bf16(p.q.data() + p.qoff, static_cast<int64_t>(qb.size()), qb.data());
      const auto own = run(p, isa, false);
      Problem nan_q = p;  // the f32 queries must not be read at all
      std::fill(nan_q.q.begin(), nan_q.q.end(), std::nanf(""));
      const auto given = run(nan_q, isa, false, 0, -1, &qb);
      EXPECT_EQ(0, std::memcmp(own.data(), given.data(), own.size() * sizeof(float)))
          << isa_name(isa) << " len " << len;
      const auto alone = run(nan_q, isa, false, 2, 1, &qb);
      const size_t w = 2 * 64;
      EXPECT_EQ(0, std::memcmp(own.data() + 2 * w, alone.data() + 2 * w, w * sizeof(float)))
          << isa_name(isa) << " len " << len << " token 2 alone";
    }
}

// With AttentionArgs::oq, every ISA writes no f32 output but the int8 input of a q8_0 or q4_0 matmul, the
// bytes quantize_input_row gives for the f32 output's rows.
TEST_P(AttentionTest, Int8OutputIsTheQuantisedRows) {
  const DType t = GetParam();
  for (Isa isa : isas())
    for (DType weight : {DType::kQ8_0, DType::kQ4_0})
      for (int d : {64, 128}) {
        const Problem p = make_problem(d, 70, 2, 5, t, 900u + d, false);
        const auto f32 = run(p, isa, false);
        Int8Out got{weight, {}, {}, {}};
        const auto out = run(p, isa, false, 0, -1, nullptr, &got);
        for (float x : out) ASSERT_TRUE(std::isnan(x)) << "the f32 output was written";
        const size_t n = f32.size(), nb = n / kQuantBlock;
        std::vector<int8_t> q(n);
        std::vector<float> sd(nb);
        std::vector<int32_t> c(nb);
        for (size_t r = 0; r < n; r += static_cast<size_t>(d))
          quantize_input_row(weight, f32.data() + r, d, q.data() + r, sd.data() + r / kQuantBlock,
                             c.data() + r / kQuantBlock);
        EXPECT_EQ(q, got.q) << isa_name(isa) << " " << dtype_name(weight) << " d=" << d;
        EXPECT_EQ(0, std::memcmp(sd.data(), got.d.data(), nb * sizeof(float)))
            << isa_name(isa) << " " << dtype_name(weight) << " d=" << d;
        EXPECT_EQ(c, got.c) << isa_name(isa) << " " << dtype_name(weight) << " d=" << d;
      }
}

INSTANTIATE_TEST_SUITE_P(Dtypes, AttentionTest,
                         ::testing::Values(DType::kF32, DType::kF16, DType::kBF16, DType::kQ8_0),
                         [](const auto& info) { return std::string(dtype_name(info.param)); });

TEST(KvRows, RoundTripWithinTheDtypesUnit) {
  std::mt19937 rng(5);
  std::normal_distribution<float> nd(0.0f, 2.0f);
  for (DType t : {DType::kF32, DType::kF16, DType::kBF16, DType::kQ8_0}) {
    const int d = 128;
    std::vector<float> x(d), y(d);
    for (auto& v : x) v = nd(rng);
    x[5] = 0.0f;
    std::vector<uint8_t> row(kv_row_bytes(t, d));
    kv_store_row(t, x.data(), d, row.data());
    kv_load_row(t, row.data(), d, y.data());
    for (int b = 0; b < d; b += 32) {
      double amax = 0;
      for (int i = b; i < b + 32; ++i) amax = std::max(amax, static_cast<double>(std::abs(x[i])));
      for (int i = b; i < b + 32; ++i) {
        double bound = t == DType::kQ8_0 ? dtype_unit(t) * amax : dtype_unit(t) * std::abs(x[i]);
        EXPECT_LE(std::abs(x[i] - y[i]), bound) << dtype_name(t) << " element " << i;
      }
    }
  }
}

// The history layout (attention.h): keys of f32/f16 one per lane of their tile (element i of position j at
// element i * 32 + j % 32 of the tile at (j - j % 32) rows), bf16 keys by element pairs ((i / 2 * 32 + j %
// 32)
// * 2 + i % 2), bf16 values by position pairs ((j % 32 / 2 * dp + i) * 2 + j % 2); other values and q8_0 keys
// are rows. Everything reads back as stored.
TEST(KvKeys, HistoriesFollowTheTileLayouts) {
  const int n = 70;
  for (DType t : {DType::kF32, DType::kF16, DType::kBF16, DType::kQ8_0}) {
    for (int d : {48, 7}) {
      const int dd = t == DType::kQ8_0 ? 64 : d, dp = dd + dd % 2;
      const size_t rb = kv_row_bytes(t, dd);
      std::vector<uint8_t> keys(rb * static_cast<size_t>(kv_history_rows(n)), 0);
      std::vector<uint8_t> values(keys.size(), 0);
      ASSERT_EQ(kv_history_rows(n), 96);
      std::vector<float> x(dd), y(dd);
      std::vector<uint8_t> row(rb);
      auto fill = [&](int j) {
        for (int i = 0; i < dd; ++i) x[i] = static_cast<float>(j * 3 + i) * 0.25f - 7.0f;  // exact in bf16
      };
      for (int j = 0; j < n; ++j) {
        fill(j);
        kv_store_key(t, x.data(), dd, keys.data(), j);
        kv_store_value(t, x.data(), dd, values.data(), j);
        kv_store_row(t, x.data(), dd, row.data());
        if (t == DType::kQ8_0) {
          EXPECT_EQ(0, std::memcmp(row.data(), keys.data() + j * rb, rb)) << "q8_0 position " << j;
          EXPECT_EQ(0, std::memcmp(row.data(), values.data() + j * rb, rb)) << "q8_0 position " << j;
          continue;
        }
        const size_t es = t == DType::kF32 ? 4 : 2;
        const size_t tile = static_cast<size_t>(j - j % 32) * rb, jt = static_cast<size_t>(j % 32);
        for (int i = 0; i < dd; ++i) {
          const size_t k_at = t == DType::kBF16 ? (i / 2 * 32 + jt) * 2 + i % 2 : i * 32 + jt;
          const size_t v_at = t == DType::kBF16 ? (jt / 2 * dp + i) * 2 + jt % 2 : jt * dd + i;
          ASSERT_EQ(0, std::memcmp(row.data() + i * es, keys.data() + tile + k_at * es, es))
              << dtype_name(t) << " d=" << dd << " key of position " << j << " element " << i;
          ASSERT_EQ(0, std::memcmp(row.data() + i * es, values.data() + tile + v_at * es, es))
              << dtype_name(t) << " d=" << dd << " value of position " << j << " element " << i;
        }
      }
      for (int j = 0; j < n; ++j) {
        fill(j);
        kv_store_row(t, x.data(), dd, row.data());
        std::vector<float> want(dd);
        kv_load_row(t, row.data(), dd, want.data());
        kv_load_key(t, keys.data(), dd, j, y.data());
        ASSERT_EQ(want, y) << dtype_name(t) << " d=" << dd << " key of position " << j;
        kv_load_value(t, values.data(), dd, j, y.data());
        ASSERT_EQ(want, y) << dtype_name(t) << " d=" << dd << " value of position " << j;
      }
    }
  }
}

// Each ISA's bf16 cache stores (AttentionTable::store_key_bf16 / store_value_bf16) write the scalar rule's
// bytes, and nothing outside the position's own lanes: head dims with and without 32- and 16-element tails
// and odd ones, every lane of a tile, values that round up, ties, denormals (to zero), infinities and NaN;
// the tile starts poisoned and the bytes of other positions must stay so.
TEST(KvKeys, Bf16StoresOfEveryIsaGiveTheRulesBytes) {
  std::mt19937 rng(7);
  std::normal_distribution<float> nd(0.0f, 3.0f);
  const float specials[] = {1e-40f,      -1e-40f,  0.0f,      -0.0f, 1.00390625f,
                            1.01171875f, INFINITY, -INFINITY, NAN,   3.0e38f};
  for (int d : {128, 64, 48, 40, 18, 7, 1, 130}) {
    const size_t rb = kv_row_bytes(DType::kBF16, d), tile_bytes = rb * kAttnTile;
    std::vector<float> x(d);
    for (int jt = 0; jt < kAttnTile; ++jt) {
      for (int i = 0; i < d; ++i) x[i] = i % 5 == 4 ? specials[(i / 5 + jt) % 10] : nd(rng);
      std::vector<uint8_t> want_k(tile_bytes, 0xA5), want_v(tile_bytes, 0xA5);
      scalar::store_key_bf16(x.data(), d, want_k.data(), jt);
      scalar::store_value_bf16(x.data(), d, want_v.data(), jt);
      // the rule against kv_store_row's bytes, read back through the layout
      std::vector<uint16_t> row(rb / 2);
      kv_store_row(DType::kBF16, x.data(), d, row.data());
      const int dp = d + d % 2;
      for (int i = 0; i < dp; ++i) {
        uint16_t k, v;
        std::memcpy(&k, want_k.data() + ((i / 2 * kAttnTile + jt) * 2 + i % 2) * 2, 2);
        std::memcpy(&v, want_v.data() + ((jt / 2 * dp + i) * 2 + jt % 2) * 2, 2);
        ASSERT_EQ(row[i], k) << "d=" << d << " lane " << jt << " element " << i;
        ASSERT_EQ(row[i], v) << "d=" << d << " lane " << jt << " element " << i;
      }
      for (Isa isa : isas()) {
        const AttentionTable& at = attention_table_for(isa);
        std::vector<uint8_t> k(tile_bytes, 0xA5), v(tile_bytes, 0xA5);
        at.store_key_bf16(x.data(), d, k.data(), jt);
        at.store_value_bf16(x.data(), d, v.data(), jt);
        ASSERT_EQ(want_k, k) << isa_name(isa) << " d=" << d << " lane " << jt;
        ASSERT_EQ(want_v, v) << isa_name(isa) << " d=" << d << " lane " << jt;
      }
    }
  }
}

TEST(KvRows, RejectsFormatsThatCannotHoldTheRow) {
  EXPECT_THROW(kv_row_bytes(DType::kQ8_0, 48), Error);
  EXPECT_THROW(kv_row_bytes(DType::kQ4_0, 128), Error);
  EXPECT_EQ(kv_row_bytes(DType::kQ8_0, 128), 4 * sizeof(BlockQ8_0));
  EXPECT_EQ(kv_row_bytes(DType::kF16, 48), 96u);
}

}  // namespace
}  // namespace qwen3::kernels
