// The tile loop of attention (see attention.h), shared by every ISA. Included only by attention_<isa>.cpp,
// each of which passes its own Ops type (a distinct type per ISA, so the instantiations never collide):
//   widen(t, src, row_bytes, n_rows, d, dst)   cache rows -> f32 [n_rows, d]
//   scores(q, k, n, d, scale, s)               s[j] = (q . k[j]) * scale, j < n
//   max(s, n)                                  max of s[0..n)
//   exp_sub(s, n, m) -> sum                    s[j] = exp(s[j] - m); returns the sum of the new s
//   scale_add(acc, c, p, v, n, d)              acc = acc * c + sum_j p[j] * v[j]   (c == 1: no rescale)
//   finish(acc, inv, d, out)                   out = acc * inv
//   scores2, scale_add2                        the same for two queries at once (sharing the loads of k and
//                                              v), each query's arithmetic exactly that of the single form
// Every query runs the same operations in the same order whatever else is in the block (batch invariance).
// No std:: algorithm templates here: this file is compiled with different ISA flags per including TU, and a
// non-inlined instantiation of such a template would be shared by the linker across ISAs.
#pragma once

#include <math.h>
#include <limits>

#include "kernels/attention.h"

namespace qwen3::kernels {

// Online softmax step of one query over a tile: new running max and sum; the tile's scores s become
// exp(s - max); returns the factor that rescales the accumulator (0 on the first tile: exp(-inf)).
template <class Ops>
float online_softmax_update(float& run_max, float& run_sum, float m_tile, float* s, int len) {
  const float m_new = m_tile > run_max ? m_tile : run_max;
  const float corr = expf(run_max - m_new);
  const float p_sum = Ops::exp_sub(s, len, m_new);
  run_sum = run_sum * corr + p_sum;
  run_max = m_new;
  return corr;
}

template <class Ops>
void attend_tiled(const AttentionArgs& a) {
  auto update = [](float& mx, float& sum, float m_tile, float* sc, int len) {
    return online_softmax_update<Ops>(mx, sum, m_tile, sc, len);
  };
  const int d = a.head_dim, nq = a.n_tok * a.group;
  if (nq <= 0) return;
  const size_t row_bytes = kv_row_bytes(a.kv_type, d);
  int max_pos = -1;
  for (int t = 0; t < a.n_tok; ++t) max_pos = a.pos[t] > max_pos ? a.pos[t] : max_pos;

  // scratch: K tile [T, d], V tile [T, d], scores [2, T], accumulators [nq, d], running max [nq], sum [nq]
  float* ktile = a.scratch;
  float* vtile = ktile + static_cast<size_t>(kAttnTile) * d;
  float* s = vtile + static_cast<size_t>(kAttnTile) * d;
  float* s1 = s + kAttnTile;
  float* acc = s + 2 * kAttnTile;
  float* run_max = acc + static_cast<size_t>(nq) * d;
  float* run_sum = run_max + nq;
  for (size_t i = 0; i < static_cast<size_t>(nq) * d; ++i) acc[i] = 0.0f;
  for (int i = 0; i < nq; ++i) {
    run_max[i] = -std::numeric_limits<float>::infinity();
    run_sum[i] = 0.0f;
  }

  const uint8_t* kbase = static_cast<const uint8_t*>(a.keys);
  const uint8_t* vbase = static_cast<const uint8_t*>(a.values);
  for (int j0 = 0; j0 <= max_pos; j0 += kAttnTile) {
    const int n = max_pos + 1 - j0 < kAttnTile ? max_pos + 1 - j0 : kAttnTile;
    const float *k, *v;
    if (a.kv_type == DType::kF32) {
      k = reinterpret_cast<const float*>(kbase + j0 * row_bytes);
      v = reinterpret_cast<const float*>(vbase + j0 * row_bytes);
    } else {
      Ops::widen(a.kv_type, kbase + j0 * row_bytes, row_bytes, n, d, ktile);
      Ops::widen(a.kv_type, vbase + j0 * row_bytes, row_bytes, n, d, vtile);
      k = ktile;
      v = vtile;
    }
    for (int t = 0; t < a.n_tok; ++t) {
      const int seen = a.pos[t] + 1 - j0, len = seen < n ? seen : n;  // causal: positions <= pos[t]
      if (len <= 0) continue;
      // The group's query heads in pairs (sharing k and v loads), an odd one alone: the same arithmetic.
      for (int g = 0; g < a.group; g += 2) {
        const int i = t * a.group + g;
        const float* q = a.q + t * a.ldq + g * d;
        if (g + 1 < a.group) {
          Ops::scores2(q, q + d, k, len, d, a.scale, s, s1);
          const float c0 = update(run_max[i], run_sum[i], Ops::max(s, len), s, len);
          const float c1 = update(run_max[i + 1], run_sum[i + 1], Ops::max(s1, len), s1, len);
          Ops::scale_add2(acc + static_cast<size_t>(i) * d, c0, s, acc + static_cast<size_t>(i + 1) * d, c1,
                          s1, v, len, d);
        } else {
          Ops::scores(q, k, len, d, a.scale, s);
          const float c0 = update(run_max[i], run_sum[i], Ops::max(s, len), s, len);
          Ops::scale_add(acc + static_cast<size_t>(i) * d, c0, s, v, len, d);
        }
      }
    }
  }
  for (int t = 0; t < a.n_tok; ++t)
    for (int g = 0; g < a.group; ++g) {
      const int i = t * a.group + g;
      Ops::finish(acc + static_cast<size_t>(i) * d, 1.0f / run_sum[i], d, a.out + t * a.ldo + g * d);
    }
}

}  // namespace qwen3::kernels
