// The tile loop of attention (see attention.h), shared by every ISA. Included only by attention_<isa>.cpp,
// each of which passes its own Ops type (a distinct type per ISA, so the instantiations never collide):
//   widen(t, src, row_bytes, n_rows, d, dst)   cache rows -> f32 [n_rows, d]; a key tile (attention.h:
//                                              [d][kAttnTile], one key per lane) is one row of
//                                              d * kAttnTile elements, widened whole
//   scores(q, kt, n, d, scale, s)              s[j] = (q . k[j]) * scale, j < n, from a key tile kt
//   max(s, n)                                  max of s[0..n)
//   exp_sub(s, n, m) -> sum                    s[j] = exp(s[j] - m); returns the sum of the new s
//   scale_add(acc, c, p, v, n, d)              acc = acc * c + sum_j p[j] * v[j]   (c == 1: no rescale)
//   finish(acc, inv, d, out)                   out = acc * inv
//   scores2, scale_add2                        the same for two queries at once (sharing the loads of k and
//                                              v), each query's arithmetic exactly that of the single form
// q8_0 caches go through attend_q8 with a second type Q of integer primitives on the ISA's own tile layouts:
//   pack_k(src, row_bytes, n, d, kt, ks)   cache rows [n] -> K tile, its scales ks[b][j] (0 for j >= n)
//   pack_v(src, row_bytes, n, d, vt, vs)   the same for V
//   scores<NQ>(qi, qs, qsum, kt, ks, len, d, scale, s)   NQ queries' scores s[k][j], j < len
//   pv<NQ>(p, len, vs, pw, ps, vt, d, corr, acc, p16)    acc[k] = acc[k] * corr[k] + p[k] . v (see below)
// Q8Generic (below) is the plain-loop version: the scalar reference, and the AVX2 one (compiled with AVX2).
// bf16 caches go through attend_bf16 with a type B of bf16 primitives reading the cache in place:
//   scores_p<NQ>(qb, kt, lens, len, d, scale, run_max, run_sum, corr, pb)
//                                            NQ queries (bf16, [dp]) over a key tile, query k seeing lens[k]
//                                            positions (len: the largest): their scores, the online softmax
//                                            step (online_softmax_update's), corr[k] and p rounded to bf16
//                                            into pb[k][0, kAttnTile) (zeros from lens[k] on);
//                                            query k's running sum is run_sum[16 k .. 16 k + 15], in a form
//                                            of B's own that
//   total(run_sum) -> sum                    turns into the softmax denominator
//   round_bf16(x, n, xb)                     xb[j] = bf16(x[j]) for j < n, xb[n] = 0 when n is odd
//   pv<NQ>(pb, lens, len, vt, d, corr, acc)  acc[k] = acc[k] * corr[k] (corr != 1), then += p . v over the
//                                            value tile's position pairs up to lens[k] (attention.h)
// Bf16Generic (below) is the plain-loop version, the scalar reference (AVX2's widens the pairs in registers).
// Every query runs the same operations in the same order whatever else is in the block (batch invariance).
// No std:: algorithm templates here: this file is compiled with different ISA flags per including TU, and a
// non-inlined instantiation of such a template would be shared by the linker across ISAs.
#pragma once

#include <math.h>
#include <limits>
#include <type_traits>

#include "core/half.h"
#include "kernels/attention.h"
#include "kernels/kernels.h"

namespace qwen3::kernels {

// Online softmax step of one query over a tile: new running max and sum; the tile's scores s become
// exp(s - max); returns the factor that rescales the accumulator (0 on the first tile: exp(-inf)).
template <class Ops>
__attribute__((always_inline)) inline float online_softmax_update(float& run_max, float& run_sum,
                                                                  float m_tile, float* s, int len) {
  const float m_new = m_tile > run_max ? m_tile : run_max;
  // exp(0) = 1 exactly: most tiles of a long history leave the maximum where it was.
  const float corr = m_new == run_max ? 1.0f : expf(run_max - m_new);
  const float p_sum = Ops::exp_sub(s, len, m_new);
  run_sum = run_sum * corr + p_sum;
  run_max = m_new;
  return corr;
}

// The last position any token of the block sees (-1 for none). Always inlined: this header is compiled with
// each ISA's flags, and an out-of-line copy could be shared by the linker across them.
__attribute__((always_inline)) inline int last_position(const AttentionArgs& a) {
  int max_pos = -1;
  for (int t = 0; t < a.n_tok; ++t) max_pos = a.pos[t] > max_pos ? a.pos[t] : max_pos;
  return max_pos;
}

// Query (t, g)'s output row from its accumulator: acc * inv into out, or, with a.oq (attention.h), acc * inv
// in place, then quantised into the int8 input of the matmul that reads it.
template <class Ops>
void write_out(const AttentionArgs& a, int t, int g, float* acc, float inv) {
  const int d = a.head_dim;
  const int64_t at = t * a.ldo + static_cast<int64_t>(g) * d;
  if (!a.oq) return Ops::finish(acc, inv, d, a.out + at);
  Ops::finish(acc, inv, d, acc);
  quantize_input_row(a.oq_weight, acc, d, a.oq + at, a.od + at / kQuantBlock, a.oc + at / kQuantBlock);
}

// A run of NQ queries (1, 2, 4 or 8) that see the same positions of a tile: every key and value loaded serves
// all of them. Ops may offer scores_n / scale_add_n over runs of up to kMaxRun queries; Ops that offer only
// the pair and single forms (scores2, scale_add2, scores, scale_add) run pairs. k: a key tile, v: f32 rows of
// d floats (widened, or an f32 cache's own).
template <class Ops>
constexpr bool kHasRuns = requires {
  Ops::kMaxRun;
};

// Ops that read an f16 cache in place (scores_n / scale_add_n over uint16_t tiles and rows as well as float).
template <class Ops>
constexpr bool kReadsF16Rows = requires {
  Ops::kReadsF16Rows;
};

template <class Ops, int NQ, class T>
void scores_run(const float* const* q, const T* k, int n, int d, float scale, float* const* s) {
  if constexpr (kHasRuns<Ops>) {
    Ops::template scores_n<NQ>(q, k, n, d, scale, s);
  } else {
    static_assert(NQ <= 2, "pairs at most");
    if constexpr (NQ == 2)
      Ops::scores2(q[0], q[1], k, n, d, scale, s[0], s[1]);
    else
      Ops::scores(q[0], k, n, d, scale, s[0]);
  }
}

template <class Ops, int NQ, class T>
void scale_add_run(float* const* acc, const float* c, const float* const* p, const T* v, int n, int d) {
  if constexpr (kHasRuns<Ops>) {
    Ops::template scale_add_n<NQ>(acc, c, p, v, n, d);
  } else {
    if constexpr (NQ == 2)
      Ops::scale_add2(acc[0], c[0], p[0], acc[1], c[1], p[1], v, n, d);
    else
      Ops::scale_add(acc[0], c[0], p[0], v, n, d);
  }
}

template <class Ops>
constexpr int max_run() {
  if constexpr (kHasRuns<Ops>)
    return Ops::kMaxRun;
  else
    return 2;
}

// Calls run(std::integral_constant<int, NQ>, i, len) for the block's queries (token-major: i = t * group + g)
// in runs of 8 or 4 (when MaxRun allows), 2 or 1 consecutive queries that see the same `len` positions of the
// tile starting at j0 with n positions (causal: positions <= pos[t]); queries that see none are skipped. With
// Mixed, a run's queries may see different counts (each its own seen(i)), len being the run's largest.
template <int MaxRun, bool Mixed = false, class Run>
void for_each_run(const AttentionArgs& a, int j0, int n, Run&& run) {
  const int nq = a.n_tok * a.group;
  auto seen = [&](int i) {
    const int sn = a.pos[i / a.group] + 1 - j0;
    return sn < n ? sn : n;
  };
  for (int i = 0; i < nq;) {
    const int len = seen(i);
    if (len <= 0) {
      ++i;
      continue;
    }
    int nr = 1;
    while (nr < MaxRun && i + nr < nq && (Mixed ? seen(i + nr) > 0 : seen(i + nr) == len)) ++nr;
    int len_run = len;
    if constexpr (Mixed) {  // the largest count of the run taken below
      const int take = nr >= 8 ? 8 : nr >= 4 ? 4 : nr >= 2 ? 2 : 1;
      for (int r = 1; r < take; ++r) len_run = seen(i + r) > len_run ? seen(i + r) : len_run;
    }
    if constexpr (MaxRun >= 8) {
      if (nr == 8) {
        run(std::integral_constant<int, 8>{}, i, len_run);
        i += 8;
        continue;
      }
    }
    if constexpr (MaxRun >= 4) {
      if (nr >= 4) {
        run(std::integral_constant<int, 4>{}, i, len_run);
        i += 4;
        continue;
      }
    }
    if (nr >= 2) {
      run(std::integral_constant<int, 2>{}, i, len_run);
      i += 2;
    } else {
      run(std::integral_constant<int, 1>{}, i, len_run);
      i += 1;
    }
  }
}

// Positions of the tile starting at j0 that a block attending up to max_pos reads (<= 0: none).
inline int tile_rows(int j0, int max_pos) {
  return max_pos + 1 - j0 < kAttnTile ? max_pos + 1 - j0 : kAttnTile;
}

// The K and V rows of the tile at j0 (if any) asked for ahead of their use, no fault, no wait: a decode step
// finds each head's history cold (the weights streamed through the caches after the previous step), and the
// loads of the tile loop alone keep too few lines in flight. Each tile asks for the one two tiles on, the
// first two for themselves. The empty volatile asm keeps the calls: GCC 12 finds a function of prefetches
// alone free of side effects and drops them.
inline void prefetch_tile(const uint8_t* kbase, const uint8_t* vbase, size_t row_bytes, int j0, int max_pos) {
  const int n = tile_rows(j0, max_pos);
  if (n <= 0) return;
  const size_t begin = static_cast<size_t>(j0) * row_bytes, end = begin + static_cast<size_t>(n) * row_bytes;
  // K first, then V: the order the tile loop reads them in (interleaved requests: decode at depth 4096 9 %
  // slower). A key tile is read whole (its lanes past n too).
  for (size_t off = begin; off < begin + kAttnTile * row_bytes; off += 64) __builtin_prefetch(kbase + off);
  for (size_t off = begin; off < end; off += 64) __builtin_prefetch(vbase + off);
  __asm__ __volatile__("");
}

template <class Ops>
void attend_tiled(const AttentionArgs& a) {
  const int d = a.head_dim, nq = a.n_tok * a.group;
  if (nq <= 0) return;
  const size_t row_bytes = kv_row_bytes(a.kv_type, d);
  const int max_pos = last_position(a);

  // scratch: K tile [d, T], V tile [T, d], scores [8, T], accumulators [nq, d], running max [nq], sum [nq]
  float* ktile = a.scratch;
  float* vtile = ktile + static_cast<size_t>(kAttnTile) * d;
  float* s = vtile + static_cast<size_t>(kAttnTile) * d;
  float* acc = s + 8 * kAttnTile;
  float* run_max = acc + static_cast<size_t>(nq) * d;
  float* run_sum = run_max + nq;
  for (size_t i = 0; i < static_cast<size_t>(nq) * d; ++i) acc[i] = 0.0f;
  for (int i = 0; i < nq; ++i) {
    run_max[i] = -std::numeric_limits<float>::infinity();
    run_sum[i] = 0.0f;
  }

  // One run of NQ queries from query i (token-major: i = t * group + g) over `len` positions of the tile;
  // k: a key tile, v: value rows, both f32 (widened, or an f32 cache) or f16 (the cache in place,
  // kReadsF16Rows).
  auto run = [&](auto nq_tag, int i, int len, const auto* k, const auto* v) {
    constexpr int NQ = decltype(nq_tag)::value;
    const float* q[NQ];
    float *sc[NQ], *ac[NQ];
    float c[NQ];
    for (int r = 0; r < NQ; ++r) {
      const int t = (i + r) / a.group, g = (i + r) % a.group;
      q[r] = a.q + t * a.ldq + g * d;
      sc[r] = s + r * kAttnTile;
      ac[r] = acc + static_cast<size_t>(i + r) * d;
    }
    scores_run<Ops, NQ>(q, k, len, d, a.scale, sc);
    for (int r = 0; r < NQ; ++r)
      c[r] = online_softmax_update<Ops>(run_max[i + r], run_sum[i + r], Ops::max(sc[r], len), sc[r], len);
    scale_add_run<Ops, NQ>(ac, c, sc, v, len, d);
  };

  const uint8_t* kbase = static_cast<const uint8_t*>(a.keys);
  const uint8_t* vbase = static_cast<const uint8_t*>(a.values);
  prefetch_tile(kbase, vbase, row_bytes, 0, max_pos);
  prefetch_tile(kbase, vbase, row_bytes, kAttnTile, max_pos);
  // A block of one run (a decode step) has nobody to share a widened tile with.
  const bool f16_in_place = kReadsF16Rows<Ops> && a.kv_type == DType::kF16 && nq <= max_run<Ops>();
  for (int j0 = 0; j0 <= max_pos; j0 += kAttnTile) {
    const int n = tile_rows(j0, max_pos);
    prefetch_tile(kbase, vbase, row_bytes, j0 + 2 * kAttnTile, max_pos);
    auto runs = [&](const auto* k, const auto* v) {
      for_each_run<max_run<Ops>()>(a, j0, n, [&](auto nq_tag, int i, int len) { run(nq_tag, i, len, k, v); });
    };
    if constexpr (kReadsF16Rows<Ops>) {
      if (f16_in_place) {
        runs(reinterpret_cast<const uint16_t*>(kbase + j0 * row_bytes),
             reinterpret_cast<const uint16_t*>(vbase + j0 * row_bytes));
        continue;
      }
    }
    const float *k, *v;
    if (a.kv_type == DType::kF32) {
      k = reinterpret_cast<const float*>(kbase + j0 * row_bytes);
      v = reinterpret_cast<const float*>(vbase + j0 * row_bytes);
    } else {
      Ops::widen(a.kv_type, kbase + j0 * row_bytes, 0, 1, d * kAttnTile, ktile);
      Ops::widen(a.kv_type, vbase + j0 * row_bytes, row_bytes, n, d, vtile);
      k = ktile;
      v = vtile;
    }
    runs(k, v);
  }
  for (int t = 0; t < a.n_tok; ++t)
    for (int g = 0; g < a.group; ++g) {
      const int i = t * a.group + g;
      write_out<Ops>(a, t, g, acc + static_cast<size_t>(i) * d, 1.0f / run_sum[i]);
    }
}

// scores_p of the bf16 path (see below) from B's scores<NQ> and round_bf16 and Ops' softmax primitives: the
// running sum plain, in lane 0 of each query's 16 (B::total reads it there).
template <class Ops, class B, int NQ>
void bf16_scores_p(const uint16_t* const* qb, const uint16_t* kt, const int* lens, int len, int d,
                   float scale, float* run_max, float* run_sum, float* corr, uint16_t* const* pb) {
  float s[NQ][kAttnTile];
  float* sp[NQ];
  for (int r = 0; r < NQ; ++r) sp[r] = s[r];
  B::template scores<NQ>(qb, kt, len, d, scale, sp);
  for (int r = 0; r < NQ; ++r) {
    const int n = lens[r];
    corr[r] = online_softmax_update<Ops>(run_max[r], run_sum[16 * r], Ops::max(s[r], n), s[r], n);
    B::round_bf16(s[r], n, pb[r]);
    for (int j = n + n % 2; j < kAttnTile; ++j) pb[r][j] = 0;
  }
}

// bf16 as the bf16 path reads it: vdpbf16ps takes denormal inputs as zero.
inline float bf16_operand(uint16_t h) {
  return (h & 0x7f80u) == 0 ? 0.0f : bf16_to_f32(h);
}

// The bf16 path's arithmetic (attention.h) in plain loops. Tag makes the type distinct per ISA unit.
template <class Tag>
struct Bf16Generic {
  template <int NQ>
  static void scores(const uint16_t* const* qb, const uint16_t* kt, int len, int d, float scale,
                     float* const* s) {
    for (int r = 0; r < NQ; ++r)
      for (int j = 0; j < len; ++j) {
        float acc = 0.0f;
        for (int p = 0; p < (d + 1) / 2; ++p) {
          const uint16_t* k = kt + (static_cast<size_t>(p) * kAttnTile + j) * 2;
          acc = fmaf(bf16_operand(k[1]), bf16_operand(qb[r][2 * p + 1]), acc);
          acc = fmaf(bf16_operand(k[0]), bf16_operand(qb[r][2 * p]), acc);
        }
        s[r][j] = acc * scale;
      }
  }
  static void round_bf16(const float* p, int len, uint16_t* pb) {
    scalar::round_bf16(p, len, pb);
    if (len % 2) pb[len] = 0;
  }
  template <int NQ>
  static void scores_p(const uint16_t* const* qb, const uint16_t* kt, const int* lens, int len, int d,
                       float scale, float* run_max, float* run_sum, float* corr, uint16_t* const* pb) {
    bf16_scores_p<Tag, Bf16Generic, NQ>(qb, kt, lens, len, d, scale, run_max, run_sum, corr, pb);
  }
  static float total(const float* run_sum) { return run_sum[0]; }  // a plain running sum, in lane 0
  template <int NQ>
  static void pv(const uint16_t* const* pb, const int* lens, int /*len*/, const uint16_t* vt, int d,
                 const float* corr, float* const* acc) {
    const int dp = d + d % 2;
    for (int r = 0; r < NQ; ++r) {
      float* a = acc[r];
      const int len = lens[r];
      if (corr[r] != 1.0f)
        for (int i = 0; i < d; ++i) a[i] *= corr[r];
      for (int m = 0; 2 * m < len; ++m) {
        const float p1 = bf16_operand(pb[r][2 * m + 1]), p0 = bf16_operand(pb[r][2 * m]);
        const bool has1 = 2 * m + 1 < len;
        for (int i = 0; i < d; ++i) {
          const uint16_t* v = vt + (static_cast<size_t>(m) * dp + i) * 2;
          a[i] = fmaf(has1 ? bf16_operand(v[1]) : 0.0f, p1, a[i]);
          a[i] = fmaf(bf16_operand(v[0]), p0, a[i]);
        }
      }
    }
  }
};

// The tile loop for bf16 caches: the queries rounded to bf16 once (or given so), then each tile's keys and
// values read in place by runs of up to max_run<B>() queries (for_each_run, Mixed: the causal diagonal's
// queries share a run, each with its own count).
template <class Ops, class B>
void attend_bf16(const AttentionArgs& a) {
  const int d = a.head_dim, dp = d + d % 2, nq = a.n_tok * a.group;
  if (nq <= 0) return;
  const size_t row_bytes = kv_row_bytes(DType::kBF16, d);
  const int max_pos = last_position(a);

  const Bf16Layout l = bf16_layout(nq, d);
  uint16_t* qb = reinterpret_cast<uint16_t*>(a.scratch + l.qb);
  uint16_t* pb = reinterpret_cast<uint16_t*>(a.scratch + l.pb);
  float *acc = a.scratch + l.acc, *run_max = a.scratch + l.run_max, *run_sum = a.scratch + l.run_sum;
  // The queries in bf16: the caller's (AttentionArgs::qb) or rounded here into the scratch.
  const bool own_q = a.qb == nullptr || d % 2 != 0;
  auto q_of = [&](int i) -> const uint16_t* {
    if (own_q) return qb + static_cast<size_t>(i) * dp;
    return a.qb + (i / a.group) * a.ldqb + (i % a.group) * d;
  };
  for (int i = 0; i < nq; ++i) {
    if (own_q)
      B::round_bf16(a.q + (i / a.group) * a.ldq + (i % a.group) * d, d, qb + static_cast<size_t>(i) * dp);
    run_max[i] = -std::numeric_limits<float>::infinity();
    for (int l = 0; l < 16; ++l) run_sum[16 * i + l] = 0.0f;
  }
  for (size_t i = 0; i < static_cast<size_t>(nq) * d; ++i) acc[i] = 0.0f;

  const uint8_t* kbase = static_cast<const uint8_t*>(a.keys);
  const uint8_t* vbase = static_cast<const uint8_t*>(a.values);
  prefetch_tile(kbase, vbase, row_bytes, 0, max_pos);
  prefetch_tile(kbase, vbase, row_bytes, kAttnTile, max_pos);
  for (int j0 = 0; j0 <= max_pos; j0 += kAttnTile) {
    const int n = tile_rows(j0, max_pos);
    prefetch_tile(kbase, vbase, row_bytes, j0 + 2 * kAttnTile, max_pos);
    const uint16_t* kt = reinterpret_cast<const uint16_t*>(kbase + j0 * row_bytes);
    const uint16_t* vt = reinterpret_cast<const uint16_t*>(vbase + j0 * row_bytes);
    auto run = [&](auto nq_tag, int i, int len) {
      constexpr int NQ = decltype(nq_tag)::value;
      const uint16_t* qp[NQ];
      uint16_t* pp[NQ];
      float* ap[NQ];
      float corr[NQ];
      int lens[NQ];
      for (int r = 0; r < NQ; ++r) {
        qp[r] = q_of(i + r);
        pp[r] = pb + r * kAttnTile;
        ap[r] = acc + static_cast<size_t>(i + r) * d;
        const int seen = a.pos[(i + r) / a.group] + 1 - j0;
        lens[r] = seen < n ? seen : n;
      }
      B::template scores_p<NQ>(qp, kt, lens, len, d, a.scale, run_max + i, run_sum + 16 * i, corr, pp);
      B::template pv<NQ>(pp, lens, len, vt, d, corr, ap);
    };
    // A run's queries may see different counts of the tile (the causal diagonal: Mixed); each query's
    // arithmetic is that of its own count (p is zero past it), so it is the same in any run.
    for_each_run<max_run<B>(), true>(a, j0, n, run);
  }
  for (int i = 0; i < nq; ++i) {
    const int t = i / a.group, g = i % a.group;
    write_out<Ops>(a, t, g, acc + static_cast<size_t>(i) * d, 1.0f / B::total(run_sum + 16 * i));
  }
}

// The definition of the q8_0 path's arithmetic, per query (attention.h): with qi, ki the int8 values and
// qs, ks the block scales,
//   s[j]   = scale * fma chain over blocks b of (float(sum_i qi * ki[j]) , qs[b] * ks[b][j])
//   P[b][j] = min(32767, round_even(p[j] * ((32767 / S_b) * vs[b][j]))), S_b = max_{j' <= j_last} vs[b][j']
//   acc[i] = fma(float(sum_j P[b][j] * vi[j][i]), S_b / 32767, acc[i] * corr)      (i in block b)
// S_b is taken over the query's own positions only (prefix max pm), so the positions other tokens of the
// block add to the last tile never change it. Tag makes the type distinct per ISA translation unit.
template <class Tag>
struct Q8Generic {
  // K and V tiles: [kAttnTile][d] int8, rows as in the cache; scales [nb][kAttnTile].
  static void pack(const uint8_t* src, size_t row_bytes, int n, int d, int8_t* t, float* sc) {
    for (int j = 0; j < kAttnTile; ++j) {
      if (j < n) {
        kv_q8_split_row(src + j * row_bytes, d, t + j * d, sc + j, kAttnTile);
      } else {
        for (int i = 0; i < d; ++i) t[j * d + i] = 0;
        for (int b = 0; b < d / kQuantBlock; ++b) sc[b * kAttnTile + j] = 0.0f;
      }
    }
  }
  static void pack_k(const uint8_t* src, size_t row_bytes, int n, int d, void* kt, float* ks) {
    pack(src, row_bytes, n, d, static_cast<int8_t*>(kt), ks);
  }
  static void pack_v(const uint8_t* src, size_t row_bytes, int n, int d, void* vt, float* vs) {
    pack(src, row_bytes, n, d, static_cast<int8_t*>(vt), vs);
  }

  template <int NQ>
  static void scores(const int8_t* const* qi, const float* const* qs, const int32_t* const* /*qsum*/,
                     const void* kt, const float* ks, int len, int d, float scale, float* const* s) {
    const int8_t* k = static_cast<const int8_t*>(kt);
    for (int q = 0; q < NQ; ++q)
      for (int j = 0; j < len; ++j) {
        float f = 0.0f;
        for (int b = 0; b < d / kQuantBlock; ++b) {
          int32_t isum = 0;
          for (int i = b * kQuantBlock; i < (b + 1) * kQuantBlock; ++i) isum += qi[q][i] * k[j * d + i];
          f = fmaf(static_cast<float>(isum), qs[q][b] * ks[b * kAttnTile + j], f);
        }
        s[q][j] = f * scale;
      }
  }

  template <int NQ>
  static void pv(const float* const* p, const int* len, const float* vs, const float* pw, const float* ps,
                 const void* vt, int d, const float* corr, float* const* acc, int16_t* p16) {
    const int8_t* v = static_cast<const int8_t*>(vt);
    for (int q = 0; q < NQ; ++q)
      for (int b = 0; b < d / kQuantBlock; ++b) {
        const float w = pw[b * kAttnTile + len[q] - 1], si = ps[b * kAttnTile + len[q] - 1];
        for (int j = 0; j < len[q]; ++j) {
          const float x = nearbyintf(p[q][j] * (w * vs[b * kAttnTile + j]));
          p16[j] = static_cast<int16_t>(x < 32767.0f ? x : 32767.0f);
        }
        int32_t isum[kQuantBlock] = {};
        for (int j = 0; j < len[q]; ++j)
          for (int i = 0; i < kQuantBlock; ++i) isum[i] += p16[j] * v[j * d + b * kQuantBlock + i];
        float* a = acc[q] + b * kQuantBlock;
        for (int i = 0; i < kQuantBlock; ++i) a[i] = fmaf(static_cast<float>(isum[i]), si, a[i] * corr[q]);
      }
  }
};

// The tile loop for q8_0 caches (see Q8Generic for the arithmetic). Queries of the block in pairs (the
// group's heads of one token, sharing the tile loads); an odd one alone: the same arithmetic.
template <class Ops, class Q>
void attend_q8(const AttentionArgs& a) {
  const int d = a.head_dim, nb = d / kQuantBlock, nq = a.n_tok * a.group;
  if (nq <= 0) return;
  const size_t row_bytes = kv_row_bytes(DType::kQ8_0, d);
  const int max_pos = last_position(a);

  const Q8Layout l = q8_layout(nq, d);
  int8_t* qi = reinterpret_cast<int8_t*>(a.scratch + l.qi);
  float* qs = a.scratch + l.qs;
  int32_t* qsum = reinterpret_cast<int32_t*>(a.scratch + l.qsum);
  void* kt = a.scratch + l.kt;
  void* vt = a.scratch + l.vt;
  float *ks = a.scratch + l.ks, *vs = a.scratch + l.vs, *pm = a.scratch + l.pm, *pw = a.scratch + l.pw,
        *s = a.scratch + l.s;
  int16_t* p16 = reinterpret_cast<int16_t*>(a.scratch + l.p16);
  float *acc = a.scratch + l.acc, *run_max = a.scratch + l.run_max, *run_sum = a.scratch + l.run_sum;
  for (int i = 0; i < nq; ++i) {
    const float* q = a.q + (i / a.group) * a.ldq + (i % a.group) * d;
    kv_quantize_query(q, d, qi + static_cast<size_t>(i) * d, qs + i * nb, qsum + i * nb);
    run_max[i] = -std::numeric_limits<float>::infinity();
    run_sum[i] = 0.0f;
  }
  for (size_t i = 0; i < static_cast<size_t>(nq) * d; ++i) acc[i] = 0.0f;

  const uint8_t* kbase = static_cast<const uint8_t*>(a.keys);
  const uint8_t* vbase = static_cast<const uint8_t*>(a.values);
  // No prefetch_tile here: the tile packing's own row loads do better (depth 4096 decode 7 % faster without).
  for (int j0 = 0; j0 <= max_pos; j0 += kAttnTile) {
    const int n = tile_rows(j0, max_pos);
    Q::pack_k(kbase + j0 * row_bytes, row_bytes, n, d, kt, ks);
    Q::pack_v(vbase + j0 * row_bytes, row_bytes, n, d, vt, vs);
    for (int b = 0; b < nb; ++b) {  // prefix max S of the V scales (0 beyond n) -> 32767 / S and S / 32767
      float m = 0.0f;
      for (int j = 0; j < kAttnTile; ++j) {
        const float x = vs[b * kAttnTile + j];
        m = x > m ? x : m;
        pm[b * kAttnTile + j] = m;
      }
      for (int j = 0; j < kAttnTile; ++j) {
        const float x = pm[b * kAttnTile + j];
        pw[b * kAttnTile + j] = x > 0.0f ? 32767.0f / x : 0.0f;
        pm[b * kAttnTile + j] = x / 32767.0f;
      }
    }
    // Runs of 4, 2 or 1 queries that see the same positions (for_each_run), as in attend_tiled.
    auto run = [&](auto nq_tag, int i, int len) {
      constexpr int NQ = decltype(nq_tag)::value;
      const int8_t* qp[NQ];
      const float* qsp[NQ];
      const int32_t* qsump[NQ];
      float* sp[NQ];
      const float* pp[NQ];
      float* ap[NQ];
      int lens[NQ];
      float corr[NQ];
      for (int r = 0; r < NQ; ++r) {
        qp[r] = qi + static_cast<size_t>(i + r) * d;
        qsp[r] = qs + (i + r) * nb;
        qsump[r] = qsum + (i + r) * nb;
        sp[r] = s + r * kAttnTile;
        pp[r] = sp[r];
        ap[r] = acc + static_cast<size_t>(i + r) * d;
        lens[r] = len;
      }
      Q::template scores<NQ>(qp, qsp, qsump, kt, ks, len, d, a.scale, sp);
      for (int r = 0; r < NQ; ++r)
        corr[r] =
            online_softmax_update<Ops>(run_max[i + r], run_sum[i + r], Ops::max(sp[r], len), sp[r], len);
      Q::template pv<NQ>(pp, lens, vs, pw, pm, vt, d, corr, ap, p16);
    };
    for_each_run<max_run<Q>()>(a, j0, n, run);
  }
  for (int i = 0; i < nq; ++i) {
    const int t = i / a.group, g = i % a.group;
    write_out<Ops>(a, t, g, acc + static_cast<size_t>(i) * d, 1.0f / run_sum[i]);
  }
}

}  // namespace qwen3::kernels
