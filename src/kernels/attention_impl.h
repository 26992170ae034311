// The tile loop of attention (see attention.h), shared by every ISA. Included only by attention_<isa>.cpp,
// each of which passes its own Ops type (a distinct type per ISA, so the instantiations never collide):
//   widen(t, src, row_bytes, n_rows, d, dst)   cache rows -> f32 [n_rows, d]
//   scores(q, k, n, d, scale, s)               s[j] = (q . k[j]) * scale, j < n
//   max(s, n)                                  max of s[0..n)
//   exp_sub(s, n, m) -> sum                    s[j] = exp(s[j] - m); returns the sum of the new s
//   scale_add(acc, c, p, v, n, d)              acc = acc * c + sum_j p[j] * v[j]   (c == 1: no rescale)
//   finish(acc, inv, d, out)                   out = acc * inv
// Every query runs the same operations in the same order whatever else is in the block (batch invariance).
// No std:: algorithm templates here: this file is compiled with different ISA flags per including TU, and a
// non-inlined instantiation of such a template would be shared by the linker across ISAs.
#pragma once

#include <math.h>
#include <limits>

#include "kernels/attention.h"

namespace qwen3::kernels {

template <class Ops>
void attend_tiled(const AttentionArgs& a) {
  const int d = a.head_dim, nq = a.n_tok * a.group;
  if (nq <= 0) return;
  const size_t row_bytes = kv_row_bytes(a.kv_type, d);
  int max_pos = -1;
  for (int t = 0; t < a.n_tok; ++t) max_pos = a.pos[t] > max_pos ? a.pos[t] : max_pos;

  // scratch: K tile [T, d], V tile [T, d], scores [T], accumulators [nq, d], running max [nq], sum [nq]
  float* ktile = a.scratch;
  float* vtile = ktile + static_cast<size_t>(kAttnTile) * d;
  float* s = vtile + static_cast<size_t>(kAttnTile) * d;
  float* acc = s + kAttnTile;
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
      for (int g = 0; g < a.group; ++g) {
        const int i = t * a.group + g;
        Ops::scores(a.q + t * a.ldq + g * d, k, len, d, a.scale, s);
        const float m_tile = Ops::max(s, len), m_new = m_tile > run_max[i] ? m_tile : run_max[i];
        const float corr = expf(run_max[i] - m_new);  // 0 on the first tile (exp(-inf))
        const float p_sum = Ops::exp_sub(s, len, m_new);
        run_sum[i] = run_sum[i] * corr + p_sum;
        Ops::scale_add(acc + static_cast<size_t>(i) * d, corr, s, v, len, d);
        run_max[i] = m_new;
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
