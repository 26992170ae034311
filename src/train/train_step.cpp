// The training pass, one numbered step per line of transformers' Qwen3DecoderLayer, forward then backward in
// reverse. Shapes: n tokens of the packed batch, D hidden_size, H/KV heads, d head_dim, F intermediate_size,
// r rank, V vocab_size.
#include "train/train_step.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <initializer_list>

#include "core/error.h"
#include "core/file.h"
#include "core/half.h"
#include "kernels/backward.h"
#include "kernels/kernels.h"
#include "kernels/pack.h"
#include "model/kv_cache.h"

namespace qwen3 {

void TrainBatch::add_sequence(const std::vector<int32_t>& ids, const std::vector<uint8_t>& mask) {
  const int32_t start = static_cast<int32_t>(tokens.size());
  for (size_t t = 0; t < ids.size(); ++t) {
    tokens.push_back(ids[t]);
    seq_start.push_back(start);
    labels.push_back(t + 1 < ids.size() && mask[t + 1] ? ids[t + 1] : -1);
  }
}

int64_t TrainBatch::n_labels() const {
  return std::count_if(labels.begin(), labels.end(), [](int32_t l) { return l >= 0; });
}

namespace {

// One layer's activations, kept from the forward pass for the backward pass.
struct Saved {
  HugeVector<float> x_in;          // [n, D] the layer's input (residual stream)
  HugeVector<float> xn1;           // [n, D] input_layernorm(x_in)
  HugeVector<float> q_raw, k_raw;  // [n, H*d], [n, KV*d] projections before q_norm/k_norm
  HugeVector<float> q, k, v;       // [n, H*d], [n, KV*d] after norm and RoPE; v as projected
  HugeVector<float> lse;           // [n, H] log-sum-exp of each attention row (probabilities recomputed)
  HugeVector<uint16_t> pb;         // with Pass::round_att: the probabilities in bf16 (Pass::p_off)
  HugeVector<float> att;           // [n, H*d] attention output
  HugeVector<float> x_mid;         // [n, D] after the attention residual
  HugeVector<float> xn2;           // [n, D] post_attention_layernorm(x_mid)
  HugeVector<float> g, up, h;      // [n, F] gate, up, silu(gate) * up
  std::array<HugeVector<float>, kLoraTargets> u;  // [n, r] x A^T of each adapted projection
};

// Buffers reused by every layer (sized on first use, kept in the TrainWorkspace): a fresh multi-megabyte
// vector per call costs more in page faults than its arithmetic.
struct Scratch {
  HugeVector<float> du, us, bt;  // project, project_back
  AlignedPtr<float> ta;          // project: A tiled
  size_t ta_cap = 0;
  HugeVector<float> y, dh, dg, dup, dxn, datt;   // layers: [n, D], [n, F] x 3, [n, D], [n, H*d]
  HugeVector<float> dq, dk, dv, dq_raw, dk_raw;  // [n, H*d], [n, KV*d] x 2, [n, H*d], [n, KV*d]
  HugeVector<float> xf, logits, dxf;             // head_loss: [chunk, D], [chunk, V], [rows, D]
  HugeVector<uint16_t> grad;                     // head_loss: [rows, V] bf16 when kept
};

struct Pass {
  const Model& m;
  LoraParams& p;
  const TrainBatch& b;
  ThreadPool* pool;
  int64_t n, D, F, H, KV, d, r;
  float eps, scaling;
  RopeTable rope;
  std::vector<float> neg_sin;  // [positions, d/2] -sin: RoPE's inverse rotation (its transpose)
  Scratch& w;
  std::vector<std::pair<int64_t, int64_t>> seqs;  // the batch's sequences: [start, end) token ranges
  // Where the base's products round their inputs (kernels::weight_backward_rounds) attention's backward
  // does too (attention_backward_bf16); the forward pass keeps its probabilities in bf16 for it, those of
  // sequence i at Saved::pb + p_off[i]: [H][(len + 1) / 2][p_ld(len)], pairs of query rows interleaved
  // (interleave_bf16; p_off[n_seq] in all).
  bool round_att = false;
  std::vector<int64_t> p_off;

  int pos(int64_t t) const { return static_cast<int>(t - b.seq_start[t]); }
};

// A row-major f32 matrix [rows, cols] in the kernels' f32 tiles (pack.h), in buf (grown as needed).
Tensor tile_f32(const std::vector<float>& m, int64_t rows, int64_t cols, AlignedPtr<float>& buf,
                size_t& cap) {
  Tensor t;
  t.dtype = DType::kF32;
  t.rows = rows;
  t.cols = cols;
  t.tiled = true;
  const size_t need = t.bytes() / 4;
  if (cap < need) {
    buf = aligned_array<float>(need);
    cap = need;
  }
  for (int64_t ti = 0; ti < t.n_tiles(); ++ti) {
    const uint8_t* ptrs[kTileRows];
    const int nr = static_cast<int>(std::min<int64_t>(kTileRows, rows - ti * kTileRows));
    for (int r = 0; r < nr; ++r)
      ptrs[r] = reinterpret_cast<const uint8_t*>(m.data() + (ti * kTileRows + r) * cols);
    kernels::pack_tile(DType::kF32, ptrs, nr, cols,
                       reinterpret_cast<uint8_t*>(buf.get()) + ti * dtype_tile_bytes(DType::kF32, cols));
  }
  t.data = buf.get();
  return t;
}

// The LoRA path of a projection: u = x A^T kept for the backward pass, and y [n, out] += (s u) B^T where y is
// given (null: u only, for the checkpointed recompute of a projection whose output is not needed again:
// down_proj). u is inference's product (model/lora_apply.cpp: A as an f32 tile through the matmul kernel);
// the B product is added to y by the register-blocked f32 product, s u [n, r] times B^T [r, out], rather than
// as inference's y += s (u B^T): the same sum in another order, within rounding of what --lora gives
// (tests/train/finetune_test.cpp).
void lora_forward(Pass& c, int il, int target, const float* x, float* y, Saved& s) {
  const LoraModuleParams* lm = c.p.find(il, target);
  if (!lm) return;
  const int64_t r = c.r, out = lm->out;
  HugeVector<float>& u = s.u[target];
  u.resize(c.n * r);
  // A is one tile of 16 rows, which kernels::matmul (parallel over tiles) would give one thread: the tokens
  // are split instead (the same kernel on each row, so the same bits).
  const Tensor a = tile_f32(lm->a, r, lm->in, c.w.ta, c.w.ta_cap);
  parallel_for(c.pool, c.n, [&](int64_t t0, int64_t t1) {
    kernels::matmul(a, x + t0 * lm->in, t1 - t0, u.data() + t0 * r, nullptr);
  });
  if (!y) return;
  HugeVector<float>&us = c.w.us, &bt = c.w.bt;
  us.resize(c.n * r);
  for (int64_t i = 0; i < c.n * r; ++i) us[i] = c.scaling * u[i];
  bt.resize(r * out);
  parallel_for(c.pool, out, [&](int64_t o0, int64_t o1) {
    for (int64_t o = o0; o < o1; ++o)
      for (int64_t j = 0; j < r; ++j) bt[j * out + o] = lm->b[o * r + j];
  });
  kernels::matmul_nn_acc(us.data(), r, c.n, r, bt.data(), out, out, y, out, c.pool);
}

// y [n, out] = x W^T (+ (s x A^T) B^T), keeping u for the backward pass.
void project(Pass& c, int il, int target, const Tensor& w, const float* x, float* y, Saved& s) {
  kernels::matmul(w, x, c.n, y, c.pool);
  lora_forward(c, il, target, x, y, s);
}

// project() of the matrices that share their input x (q/k/v, gate/up): their base products in one
// kernels::matmul_shared_input call (x rounded or quantised once; the same bits as matmul), then each one's
// LoRA path.
void project_shared(Pass& c, int il, std::initializer_list<int> targets,
                    std::initializer_list<const Tensor*> ws, const float* x, std::initializer_list<float*> ys,
                    Saved& s) {
  kernels::matmul_shared_input(ws.begin(), ys.begin(), static_cast<int>(ws.size()), x, c.n, c.pool);
  for (size_t i = 0; i < ws.size(); ++i) lora_forward(c, il, targets.begin()[i], x, ys.begin()[i], s);
}

// dx [n, in] += dy W (+ the LoRA path), and the LoRA gradients: gB += s dy^T u, gA += du^T x with du = s dy
// B. add = false: dx's prior contents are ignored (dx = dy W + the LoRA path).
void project_back(Pass& c, int il, int target, const Tensor& w, const float* x, const Saved& s,
                  const float* dy, float* dx, bool add = true) {
  kernels::weight_backward(w, dy, c.n, dx, c.pool, add);
  LoraModuleParams* lm = c.p.find(il, target);
  if (!lm) return;
  const int64_t r = c.r, in = lm->in, out = lm->out;
  HugeVector<float>&du = c.w.du, &us = c.w.us;
  du.assign(c.n * r, 0.0f);
  us = s.u[target];
  kernels::matmul_nn_acc(dy, out, c.n, out, lm->b.data(), r, r, du.data(), r, c.pool);
  for (float& v : du) v *= c.scaling;
  for (float& v : us) v *= c.scaling;
  kernels::matmul_tn_acc(dy, out, c.n, out, us.data(), r, r, lm->gb.data(), r, c.pool);
  kernels::matmul_tn_acc(du.data(), r, c.n, r, x, in, in, lm->ga.data(), in, c.pool);
  kernels::matmul_nn_acc(du.data(), r, c.n, r, lm->a.data(), in, in, dx, in, c.pool);
}

void rmsnorm_rows(Pass& c, const float* x, const std::vector<float>& w, float* out) {
  parallel_for(c.pool, c.n, [&](int64_t t0, int64_t t1) {
    for (int64_t t = t0; t < t1; ++t) kernels::rmsnorm(x + t * c.D, w.data(), c.D, c.eps, out + t * c.D);
  });
}

void rmsnorm_back_rows(Pass& c, const float* x, const std::vector<float>& w, const float* dy, float* dx) {
  const auto& k = kernels::backward_active();
  parallel_for(c.pool, c.n, [&](int64_t t0, int64_t t1) {
    for (int64_t t = t0; t < t1; ++t)
      k.rmsnorm_backward(x + t * c.D, w.data(), dy + t * c.D, c.D, c.eps, dx + t * c.D);
  });
}

// The elementwise passes over the batch's n rows of `cols` values, split over the pool (run on the main
// thread alone they left the second core waiting: its share of a bf16 step's samples spent waiting fell from
// 4.3 % to 1.9 % with these): dst = src, x += y, v = 0 (v sized n cols). The same
// values whatever the split.
void copy_rows(Pass& c, const HugeVector<float>& src, HugeVector<float>& dst, int64_t cols) {
  dst.resize(c.n * cols);
  parallel_for(c.pool, c.n, [&](int64_t t0, int64_t t1) {
    std::copy(src.data() + t0 * cols, src.data() + t1 * cols, dst.data() + t0 * cols);
  });
}

void add_rows(Pass& c, float* x, const float* y, int64_t cols) {
  const auto& k = kernels::active();
  parallel_for(c.pool, c.n,
               [&](int64_t t0, int64_t t1) { k.add(x + t0 * cols, y + t0 * cols, (t1 - t0) * cols); });
}

void zero_rows(Pass& c, HugeVector<float>& v, int64_t cols) {
  v.resize(c.n * cols);
  parallel_for(c.pool, c.n,
               [&](int64_t t0, int64_t t1) { std::fill(v.data() + t0 * cols, v.data() + t1 * cols, 0.0f); });
}

// Attention a block of kQBlock query rows at a time, per (sequence, head): the scores of a block against
// the sequence's keys up to its last row ([kQBlock, ld_pad(len)] row-major, masked beyond each row's own
// position) and the products with K, V, Q and dO as register-blocked f32 products (kernels/backward.h); each
// job runs in a fixed order, so the bits do not depend on the thread count.
constexpr int64_t kQBlock = 32;
// attention_backward_bf16's blocks: longer sums over a block's queries in the transposed products.
constexpr int64_t kQBlockBf16 = 64;

// The products read their B operand a strip of columns at a time down all its rows: rows 2 or 4 KiB apart
// (a power of two) fall into a few sets of the L1 cache and evict each other, so every B operand is packed
// first: contiguous, or with the leading dimension padded off the power of two (ld_pad).
int64_t ld_pad(int64_t len) {
  return len + 16;
}

// The row stride of attention's bf16 pair rows over len positions (2 values a position), off powers of two.
int64_t p_ld(int64_t len) {
  return 2 * len + 32;
}

// Rows r0 and r1 of n bf16 values (r1 null: zeros) interleaved, out[2j] = r0[j] and out[2j + 1] = r1[j]: a
// pair row of matmul_bf16_acc's B operand (pairs along the rows).
void interleave_bf16(const uint16_t* r0, const uint16_t* r1, int64_t n, uint16_t* out) {
  if (r1)
    for (int64_t j = 0; j < n; ++j) {
      out[2 * j] = r0[j];
      out[2 * j + 1] = r1[j];
    }
  else
    for (int64_t j = 0; j < n; ++j) {
      out[2 * j] = r0[j];
      out[2 * j + 1] = 0;
    }
}

// The sequence's rows [s0, s0 + len) of one KV head of x ([n, KV*d]) transposed: out [d, ld_pad(len)].
void transpose_head(const float* x, int64_t s0, int64_t len, int64_t KV, int64_t g, int64_t d,
                    HugeVector<float>& out) {
  const int64_t ld = ld_pad(len);
  out.resize(d * ld);
  for (int64_t j = 0; j < len; ++j)
    for (int64_t e = 0; e < d; ++e) out[e * ld + j] = x[((s0 + j) * KV + g) * d + e];
}

// nr rows of d values, ld apart, into out [nr, d] (contiguous).
void pack_rows(const float* x, int64_t ld, int64_t nr, int64_t d, HugeVector<float>& out) {
  out.resize(nr * d);
  for (int64_t r = 0; r < nr; ++r) std::copy_n(x + r * ld, d, out.data() + r * d);
}

// 6. softmax(q k^T / sqrt(d)) v of each (token, head) over its own sequence's tokens up to itself; lse the
// log-sum-exp of each score row. keep_p: a backward pass will read these activations, so with
// Pass::round_att the probabilities are kept in bf16 (Saved::pb) for attention_backward_bf16.
void attention_forward(Pass& c, Saved& s, bool keep_p) {
  const auto& k = kernels::backward_active();
  const int64_t H = c.H, KV = c.KV, d = c.d, group = H / KV;
  const float scale = 1.0f / std::sqrt(static_cast<float>(d));
  zero_rows(c, s.att, H * d);
  s.lse.resize(c.n * H);
  keep_p = keep_p && c.round_att;
  if (keep_p) s.pb.resize(c.p_off.back());
  const int64_t n_seq = static_cast<int64_t>(c.seqs.size());
  parallel_for(
      c.pool, n_seq * KV,
      [&](int64_t j0, int64_t j1) {
        thread_local HugeVector<float> kt, vh, sc;
        thread_local HugeVector<uint16_t> pr;
        for (int64_t job = j0; job < j1; ++job) {
          const auto [s0, s1] = c.seqs[job / KV];
          const int64_t g = job % KV, len = s1 - s0, ldt = ld_pad(len), ldp = p_ld(len);
          transpose_head(s.k.data(), s0, len, KV, g, d, kt);
          pack_rows(s.v.data() + (s0 * KV + g) * d, KV * d, len, d, vh);
          sc.resize(kQBlock * ldt);
          for (int64_t h = g * group; h < (g + 1) * group; ++h)
            for (int64_t i0 = 0; i0 < len; i0 += kQBlock) {
              const int64_t nq = std::min(kQBlock, len - i0), nk = i0 + nq;
              for (int64_t r = 0; r < nq; ++r) std::fill_n(sc.data() + r * ldt, nk, 0.0f);
              k.matmul_nn_acc(s.q.data() + ((s0 + i0) * H + h) * d, H * d, nq, d, kt.data(), ldt, nk,
                              sc.data(), ldt);
              for (int64_t r = 0; r < nq; ++r) {
                float* row = sc.data() + r * ldt;
                const int64_t i = i0 + r;
                s.lse[(s0 + i) * H + h] = k.softmax_affine(row, i + 1, scale, 1.0f);
                std::fill(row + i + 1, row + nk, 0.0f);
              }
              if (keep_p) {  // P in bf16, in pairs of query rows (attention_backward_bf16)
                // zero up to the end of the backward's block of these rows (whose products read that far)
                const int64_t nw = std::min(len, (i0 / kQBlockBf16 + 1) * kQBlockBf16);
                uint16_t* ph = s.pb.data() + c.p_off[job / KV] + h * ((len + 1) / 2) * ldp;
                pr.resize(2 * nw);
                for (int64_t r = 0; r < nq; r += 2) {
                  const int64_t nr = std::min<int64_t>(2, nq - r);
                  for (int64_t q = 0; q < nr; ++q) {
                    kernels::active().round_bf16(sc.data() + (r + q) * ldt, nk, pr.data() + q * nw);
                    std::fill(pr.data() + q * nw + nk, pr.data() + (q + 1) * nw, uint16_t{0});
                  }
                  interleave_bf16(pr.data(), nr == 2 ? pr.data() + nw : nullptr, nw, ph + (i0 + r) / 2 * ldp);
                }
              }
              k.matmul_nn_acc(sc.data(), ldt, nq, nk, vh.data(), d, d, s.att.data() + ((s0 + i0) * H + h) * d,
                              H * d);
            }
        }
      },
      1);
}

// Its gradient: P recomputed from lse; dP = dO V^T, dS = P (dP - rowsum(dO o O)) / sqrt(d), dQ += dS K,
// dK += dS^T Q, dV += P^T dO. One job per (sequence, KV head) owns that head's dK, dV and its group's dQ.
void attention_backward(Pass& c, const Saved& s, const float* datt, float* dq, float* dk, float* dv) {
  const auto& k = kernels::backward_active();
  const int64_t H = c.H, KV = c.KV, d = c.d, group = H / KV;
  const float scale = 1.0f / std::sqrt(static_cast<float>(d));
  const int64_t n_seq = static_cast<int64_t>(c.seqs.size());
  parallel_for(
      c.pool, n_seq * KV,
      [&](int64_t j0, int64_t j1) {
        thread_local HugeVector<float> kt, vt, kh, qc, gc, p, ds;
        for (int64_t job = j0; job < j1; ++job) {
          const auto [s0, s1] = c.seqs[job / KV];
          const int64_t g = job % KV, len = s1 - s0, ldt = ld_pad(len);
          transpose_head(s.k.data(), s0, len, KV, g, d, kt);
          transpose_head(s.v.data(), s0, len, KV, g, d, vt);
          pack_rows(s.k.data() + (s0 * KV + g) * d, KV * d, len, d, kh);
          p.resize(kQBlock * ldt);
          ds.resize(kQBlock * ldt);
          float *dkg = dk + (s0 * KV + g) * d, *dvg = dv + (s0 * KV + g) * d;
          for (int64_t h = g * group; h < (g + 1) * group; ++h)
            for (int64_t i0 = 0; i0 < len; i0 += kQBlock) {
              const int64_t nq = std::min(kQBlock, len - i0), nk = i0 + nq, row0 = (s0 + i0) * H + h;
              const float *qb = s.q.data() + row0 * d, *gob = datt + row0 * d;
              for (int64_t r = 0; r < nq; ++r) {
                std::fill_n(p.data() + r * ldt, nk, 0.0f);
                std::fill_n(ds.data() + r * ldt, nk, 0.0f);
              }
              k.matmul_nn_acc(qb, H * d, nq, d, kt.data(), ldt, nk, p.data(), ldt);
              k.matmul_nn_acc(gob, H * d, nq, d, vt.data(), ldt, nk, ds.data(), ldt);
              for (int64_t r = 0; r < nq; ++r) {
                const int64_t i = i0 + r, ti = (s0 + i) * H + h;
                float *pr = p.data() + r * ldt, *dr = ds.data() + r * ldt;
                const float lse = s.lse[ti], dt = k.dot(datt + ti * d, s.att.data() + ti * d, d);
                k.exp_affine(pr, i + 1, scale, lse);
                for (int64_t j = 0; j <= i; ++j) dr[j] = pr[j] * (dr[j] - dt) * scale;
                std::fill(pr + i + 1, pr + nk, 0.0f);
                std::fill(dr + i + 1, dr + nk, 0.0f);
              }
              pack_rows(qb, H * d, nq, d, qc);
              pack_rows(gob, H * d, nq, d, gc);
              k.matmul_nn_acc(ds.data(), ldt, nq, nk, kh.data(), d, d, dq + row0 * d, H * d);
              k.matmul_tn_acc(ds.data(), ldt, nq, 0, nk, qc.data(), d, d, dkg, KV * d);
              k.matmul_tn_acc(p.data(), ldt, nq, 0, nk, gc.data(), d, d, dvg, KV * d);
            }
        }
      },
      1);
}

// attention_backward where the base rounds its products' inputs to bf16 (Pass::round_att), as PyTorch's bf16
// autocast computes attention's backward: P is the forward pass's, kept in bf16 (not recomputed); dO, dS, K,
// V and Q are rounded to bf16, and the four products are kernels' matmul_bf16_acc (vdpbf16ps; f32 sums):
// dP = dO V^T, dQ += dS K, and dK, dV as their transposes, dK^T += Q^T dS and dV^T += dO^T P (the B operands
// in pairs of query rows, as the forward pass keeps P), added to dk, dv once per (sequence, KV head).
void attention_backward_bf16(Pass& c, const Saved& s, const float* datt, float* dq, float* dk, float* dv) {
  const auto& k = kernels::backward_active();
  const auto& kt = kernels::active();
  const int64_t H = c.H, KV = c.KV, d = c.d, group = H / KV;
  QWEN3_CHECK(d % 2 == 0, "attention in bf16 needs an even head_dim");
  const float scale = 1.0f / std::sqrt(static_cast<float>(d));
  const int64_t n_seq = static_cast<int64_t>(c.seqs.size());
  parallel_for(
      c.pool, n_seq * KV,
      [&](int64_t j0, int64_t j1) {
        thread_local HugeVector<uint16_t> vpd, vb, kb, kpp, qb, qt, dob, dot, dsb, dsp;
        thread_local HugeVector<float> dp, dkt, dvt;
        for (int64_t job = j0; job < j1; ++job) {
          const auto [s0, s1] = c.seqs[job / KV];
          const int64_t g = job % KV, len = s1 - s0, ldp = p_ld(len), ldt = ld_pad(len);
          // V^T in pairs along d (dP's B: V's bf16 row j, word e / 2, at (e / 2) * ldp + 2 j) and K in
          // pairs of positions (dQ's B; a zero row pads an odd length). Strides off powers of two (ld_pad).
          const int64_t ldk = 2 * d + 32;
          vpd.resize(d / 2 * ldp);
          kb.resize(len * d);
          vb.resize(d);
          kpp.resize((len + 1) / 2 * ldk);
          for (int64_t j = 0; j < len; ++j) {
            kt.round_bf16(s.k.data() + ((s0 + j) * KV + g) * d, d, kb.data() + j * d);
            kt.round_bf16(s.v.data() + ((s0 + j) * KV + g) * d, d, vb.data());
            for (int64_t w = 0; w < d / 2; ++w)
              std::memcpy(vpd.data() + w * ldp + 2 * j, vb.data() + 2 * w, 4);
          }
          for (int64_t j = 0; j < len; j += 2)
            interleave_bf16(kb.data() + j * d, j + 1 < len ? kb.data() + (j + 1) * d : nullptr, d,
                            kpp.data() + j / 2 * ldk);
          dkt.assign(d * ldt, 0.0f);
          dvt.assign(d * ldt, 0.0f);
          dp.resize(kQBlockBf16 * ldt);
          for (int64_t h = g * group; h < (g + 1) * group; ++h) {
            const uint16_t* ph = s.pb.data() + c.p_off[job / KV] + h * ((len + 1) / 2) * ldp;
            for (int64_t i0 = 0; i0 < len; i0 += kQBlockBf16) {
              const int64_t nq = std::min(kQBlockBf16, len - i0), nk = i0 + nq, row0 = (s0 + i0) * H + h;
              const int64_t nqe = nq + (nq & 1), nke = nk + (nk & 1);
              // dO and Q rows in bf16 (dP's A), and transposed (dV^T's and dK^T's A, a zero column padding
              // an odd count)
              dob.resize(nq * d);
              qb.resize(nq * d);
              dot.assign(d * nqe, 0);
              qt.assign(d * nqe, 0);
              for (int64_t r = 0; r < nq; ++r) {
                kt.round_bf16(datt + (row0 + r * H) * d, d, dob.data() + r * d);
                kt.round_bf16(s.q.data() + (row0 + r * H) * d, d, qb.data() + r * d);
              }
              for (int64_t e = 0; e < d; ++e)
                for (int64_t r = 0; r < nq; ++r) {
                  dot[e * nqe + r] = dob[r * d + e];
                  qt[e * nqe + r] = qb[r * d + e];
                }
              for (int64_t r = 0; r < nq; ++r) std::fill_n(dp.data() + r * ldt, nk, 0.0f);
              k.matmul_bf16_acc(dob.data(), d, nq, d, vpd.data(), ldp, nk, dp.data(), ldt);
              // dS = P (dP - rowsum(dO o O)) / sqrt(d), zero beyond each row's own position: bf16 rows (dQ's
              // A) and pairs of rows (dK^T's B)
              dsb.assign(nq * nke, 0);
              for (int64_t r = 0; r < nq; ++r) {
                const int64_t i = i0 + r, ti = (s0 + i) * H + h;
                const float dt = k.dot(datt + ti * d, s.att.data() + ti * d, d);
                float* dr = dp.data() + r * ldt;
                k.dsoftmax_pairs(reinterpret_cast<const uint32_t*>(ph + (i / 2) * ldp), i % 2, dr, i + 1, dt,
                                 scale);
                kt.round_bf16(dr, i + 1, dsb.data() + r * nke);
              }
              dsp.resize(nqe / 2 * 2 * nke);
              for (int64_t r = 0; r < nq; r += 2)
                interleave_bf16(dsb.data() + r * nke, r + 1 < nq ? dsb.data() + (r + 1) * nke : nullptr, nke,
                                dsp.data() + r * nke);
              k.matmul_bf16_acc(dsb.data(), nke, nq, nke, kpp.data(), ldk, d, dq + row0 * d, H * d);
              k.matmul_bf16_acc(qt.data(), nqe, d, nqe, dsp.data(), 2 * nke, nk, dkt.data(), ldt);
              k.matmul_bf16_acc(dot.data(), nqe, d, nqe, ph + i0 / 2 * ldp, ldp, nk, dvt.data(), ldt);
            }
          }
          // dK, dV rows are 4 KiB apart (KV d floats): filled one at a time, reading the 128 lines of dkt and
          // dvt that 16 positions share from L1
          for (int64_t j = 0; j < len; ++j) {
            float *dkr = dk + ((s0 + j) * KV + g) * d, *dvr = dv + ((s0 + j) * KV + g) * d;
            for (int64_t e = 0; e < d; ++e) {
              dkr[e] += dkt[e * ldt + j];
              dvr[e] += dvt[e * ldt + j];
            }
          }
        }
      },
      1);
}

// With recompute (the checkpointed pass before the layer's backward) the down projection's output and the
// residual after it are skipped: the backward needs neither (only down_proj's input h and its LoRA u).
// keep: the backward pass reads s (always so with recompute; with checkpointing, only the last layer's
// activations of the first pass are read); otherwise the copies of the residual stream (x_in, x_mid) are
// skipped.
void layer_forward(Pass& c, int il, HugeVector<float>& x, Saved& s, bool recompute, bool keep) {
  QWEN3_CHECK(keep || !recompute, "layer_forward: a recompute is always read");
  const LayerWeights& l = c.m.weights.layers[il];
  const int64_t n = c.n, D = c.D, F = c.F, H = c.H, KV = c.KV, d = c.d;
  if (keep) copy_rows(c, x, s.x_in, D);
  // 1. input_layernorm
  s.xn1.resize(n * D);
  rmsnorm_rows(c, x.data(), l.input_layernorm, s.xn1.data());
  // 2. q_proj, k_proj, v_proj (+ LoRA)
  s.q_raw.resize(n * H * d);
  s.k_raw.resize(n * KV * d);
  s.v.resize(n * KV * d);
  project_shared(c, il, {kLoraQ, kLoraK, kLoraV}, {&l.q_proj, &l.k_proj, &l.v_proj}, s.xn1.data(),
                 {s.q_raw.data(), s.k_raw.data(), s.v.data()}, s);
  // 3. q_norm / k_norm per head, 4. RoPE at the token's position in its own sequence
  s.q.resize(n * H * d);
  s.k.resize(n * KV * d);
  parallel_for(c.pool, n, [&](int64_t t0, int64_t t1) {
    for (int64_t t = t0; t < t1; ++t) {
      const float *cs = c.rope.cos(c.pos(t)), *sn = c.rope.sin(c.pos(t));
      for (int64_t h = 0; h < H; ++h) {
        float* q = s.q.data() + (t * H + h) * d;
        kernels::rmsnorm(s.q_raw.data() + (t * H + h) * d, l.q_norm.data(), d, c.eps, q);
        kernels::rope_neox(q, cs, sn, static_cast<int>(d));
      }
      for (int64_t h = 0; h < KV; ++h) {
        float* k = s.k.data() + (t * KV + h) * d;
        kernels::rmsnorm(s.k_raw.data() + (t * KV + h) * d, l.k_norm.data(), d, c.eps, k);
        kernels::rope_neox(k, cs, sn, static_cast<int>(d));
      }
    }
  });
  // 6. attention, 7. o_proj (+ LoRA), residual
  attention_forward(c, s, keep);
  HugeVector<float>& y = c.w.y;
  y.resize(n * D);
  project(c, il, kLoraO, l.o_proj, s.att.data(), y.data(), s);
  add_rows(c, x.data(), y.data(), D);
  if (keep) copy_rows(c, x, s.x_mid, D);
  // 8. post_attention_layernorm, 9. mlp (+ LoRA), residual
  s.xn2.resize(n * D);
  rmsnorm_rows(c, x.data(), l.post_attention_layernorm, s.xn2.data());
  s.g.resize(n * F);
  s.up.resize(n * F);
  s.h.resize(n * F);
  project_shared(c, il, {kLoraGate, kLoraUp}, {&l.gate_proj, &l.up_proj}, s.xn2.data(),
                 {s.g.data(), s.up.data()}, s);
  parallel_for(c.pool, n, [&](int64_t t0, int64_t t1) {
    kernels::silu_mul(s.g.data() + t0 * F, s.up.data() + t0 * F, (t1 - t0) * F, s.h.data() + t0 * F);
  });
  if (recompute) {  // only the LoRA u of down_proj (its output is not needed again)
    lora_forward(c, il, kLoraDown, s.h.data(), nullptr, s);
    return;
  }
  project(c, il, kLoraDown, l.down_proj, s.h.data(), y.data(), s);
  add_rows(c, x.data(), y.data(), D);
}

// dx [n, D]: the gradient at the layer's output on entry, at its input on return.
void layer_backward(Pass& c, int il, const Saved& s, HugeVector<float>& dx) {
  const LayerWeights& l = c.m.weights.layers[il];
  const int64_t n = c.n, D = c.D, F = c.F, H = c.H, KV = c.KV, d = c.d;
  const auto& k = kernels::backward_active();
  // 9. mlp
  HugeVector<float>&dh = c.w.dh, &dg = c.w.dg, &dup = c.w.dup, &dxn = c.w.dxn;
  dh.resize(n * F);
  dg.resize(n * F);
  dup.resize(n * F);
  dxn.resize(n * D);
  project_back(c, il, kLoraDown, l.down_proj, s.h.data(), s, dx.data(), dh.data(), false);
  parallel_for(c.pool, n, [&](int64_t t0, int64_t t1) {
    for (int64_t t = t0; t < t1; ++t)
      k.silu_mul_backward(s.g.data() + t * F, s.up.data() + t * F, dh.data() + t * F, F, dg.data() + t * F,
                          dup.data() + t * F);
  });
  project_back(c, il, kLoraGate, l.gate_proj, s.xn2.data(), s, dg.data(), dxn.data(), false);
  project_back(c, il, kLoraUp, l.up_proj, s.xn2.data(), s, dup.data(), dxn.data());
  // 8. post_attention_layernorm (the residual passes dx through unchanged)
  rmsnorm_back_rows(c, s.x_mid.data(), l.post_attention_layernorm, dxn.data(), dx.data());
  // 7. o_proj
  HugeVector<float>& datt = c.w.datt;
  datt.resize(n * H * d);
  project_back(c, il, kLoraO, l.o_proj, s.att.data(), s, dx.data(), datt.data(), false);
  // 6. attention
  HugeVector<float>&dq = c.w.dq, &dk = c.w.dk, &dv = c.w.dv;
  zero_rows(c, dq, H * d);
  zero_rows(c, dk, KV * d);
  zero_rows(c, dv, KV * d);
  if (c.round_att)
    attention_backward_bf16(c, s, datt.data(), dq.data(), dk.data(), dv.data());
  else
    attention_backward(c, s, datt.data(), dq.data(), dk.data(), dv.data());
  // 4. RoPE (the inverse rotation), 3. q_norm / k_norm
  HugeVector<float>&dq_raw = c.w.dq_raw, &dk_raw = c.w.dk_raw;
  zero_rows(c, dq_raw, H * d);
  zero_rows(c, dk_raw, KV * d);
  const int64_t half = d / 2;
  parallel_for(c.pool, n, [&](int64_t t0, int64_t t1) {
    for (int64_t t = t0; t < t1; ++t) {
      const float *cs = c.rope.cos(c.pos(t)), *sn = c.neg_sin.data() + c.pos(t) * half;
      for (int64_t h = 0; h < H; ++h) {
        float* g = dq.data() + (t * H + h) * d;
        kernels::rope_neox(g, cs, sn, static_cast<int>(d));
        k.rmsnorm_backward(s.q_raw.data() + (t * H + h) * d, l.q_norm.data(), g, d, c.eps,
                           dq_raw.data() + (t * H + h) * d);
      }
      for (int64_t h = 0; h < KV; ++h) {
        float* g = dk.data() + (t * KV + h) * d;
        kernels::rope_neox(g, cs, sn, static_cast<int>(d));
        k.rmsnorm_backward(s.k_raw.data() + (t * KV + h) * d, l.k_norm.data(), g, d, c.eps,
                           dk_raw.data() + (t * KV + h) * d);
      }
    }
  });
  // 2. q_proj, k_proj, v_proj; 1. input_layernorm
  project_back(c, il, kLoraQ, l.q_proj, s.xn1.data(), s, dq_raw.data(), dxn.data(), false);
  project_back(c, il, kLoraK, l.k_proj, s.xn1.data(), s, dk_raw.data(), dxn.data());
  project_back(c, il, kLoraV, l.v_proj, s.xn1.data(), s, dv.data(), dxn.data());
  rmsnorm_back_rows(c, s.x_in.data(), l.input_layernorm, dxn.data(), dx.data());
}

// 10. final norm, lm_head and the loss on the labelled rows, kChunk rows at a time (a [kChunk, V] logits
// buffer); their gradient into dx. The lm_head product of that gradient (kernels::weight_backward) builds
// lm_head's transposed tiles each time it is called: where it rounds the gradient to bf16 anyway and the
// bf16 gradient of every labelled row takes at most a sixth of the weights' bytes (the 0.6B bf16 base at 512
// rows: 155 MB of 1.2 GB; not a q8_0 one, whose memory goal leaves no room), the chunks' gradients are kept,
// rounded, and multiplied in one call. The same values either way.
double head_loss(Pass& c, const HugeVector<float>& x, HugeVector<float>* dx, float loss_scale) {
  constexpr int64_t kChunk = 64;
  const ModelWeights& w = c.m.weights;
  const int64_t D = c.D, V = c.m.config.vocab_size;
  std::vector<int64_t> rows;
  for (int64_t t = 0; t < c.n; ++t)
    if (c.b.labels[t] >= 0) rows.push_back(t);
  const int64_t n_rows = static_cast<int64_t>(rows.size()), chunk = std::min<int64_t>(kChunk, n_rows);
  const bool keep = dx && V % 2 == 0 && kernels::weight_backward_rounds(w.lm_head) &&
                    static_cast<size_t>(n_rows * V * 2) <= c.m.weight_bytes() / 6;
  HugeVector<float>&xf = c.w.xf, &logits = c.w.logits, &dxf = c.w.dxf;
  HugeVector<uint16_t>& grad = c.w.grad;  // the rows' bf16 gradients when kept
  xf.resize(chunk * D);
  logits.resize(chunk * V);
  dxf.assign((keep ? n_rows : chunk) * D, 0.0f);
  grad.resize(keep ? n_rows * V : 0);
  double loss = 0;
  const auto& k = kernels::backward_active();
  const auto norm_back = [&](int64_t r0, int64_t nr) {
    for (int64_t i = 0; i < nr; ++i)
      k.rmsnorm_backward(x.data() + rows[r0 + i] * D, w.norm.data(), dxf.data() + (keep ? r0 + i : i) * D, D,
                         c.eps, dx->data() + rows[r0 + i] * D);
  };
  for (int64_t r0 = 0; r0 < n_rows; r0 += kChunk) {
    const int64_t nr = std::min<int64_t>(kChunk, n_rows - r0);
    for (int64_t i = 0; i < nr; ++i)
      kernels::rmsnorm(x.data() + rows[r0 + i] * D, w.norm.data(), D, c.eps, xf.data() + i * D);
    kernels::matmul(w.lm_head, xf.data(), nr, logits.data(), c.pool);
    std::vector<double> row_loss(nr);
    parallel_for(c.pool, nr, [&](int64_t i0, int64_t i1) {
      for (int64_t i = i0; i < i1; ++i) {
        float* lg = logits.data() + i * V;
        const int32_t label = c.b.labels[rows[r0 + i]];
        const float target = lg[label];
        // d loss / d logit = softmax - onehot, times loss_scale
        row_loss[i] = static_cast<double>(k.softmax_affine(lg, V, 1.0f, loss_scale)) - target;
        lg[label] -= loss_scale;
        if (keep) kernels::active().round_bf16(lg, V, grad.data() + (r0 + i) * V);
      }
    });
    for (double l : row_loss) loss += l;
    if (!dx || keep) continue;
    std::fill(dxf.begin(), dxf.end(), 0.0f);
    kernels::weight_backward(w.lm_head, logits.data(), nr, dxf.data(), c.pool);
    norm_back(r0, nr);
  }
  if (keep) {
    kernels::weight_backward_rounded(w.lm_head, grad.data(), V, n_rows, dxf.data(), c.pool);
    norm_back(0, n_rows);
  }
  return loss;
}

}  // namespace

struct TrainWorkspace::Buffers {
  Scratch w;
  std::vector<Saved> saved;
  std::vector<HugeVector<float>> layer_in;  // [n, D] each layer's input, with checkpointing
  HugeVector<float> x, dx;                  // [n, D] the residual stream and its gradient
};

TrainWorkspace::TrainWorkspace() : buffers(std::make_unique<Buffers>()) {}
TrainWorkspace::~TrainWorkspace() = default;

double train_step(const Model& m, LoraParams& p, const TrainBatch& b, const TrainStepOptions& o) {
  const ModelConfig& cfg = m.config;
  const int64_t n = static_cast<int64_t>(b.size());
  QWEN3_CHECK(n > 0 && b.seq_start.size() == b.tokens.size() && b.labels.size() == b.tokens.size(),
              "train_step: an empty or inconsistent batch");
  QWEN3_CHECK(static_cast<int>(p.layers.size()) == cfg.num_hidden_layers,
              "train_step: LoRA of another model");
  TrainWorkspace local;
  TrainWorkspace::Buffers& ws = *(o.workspace ? o.workspace : &local)->buffers;
  Pass c{m,
         p,
         b,
         o.pool,
         n,
         cfg.hidden_size,
         cfg.intermediate_size,
         cfg.num_attention_heads,
         cfg.num_key_value_heads,
         cfg.head_dim,
         p.config.rank,
         static_cast<float>(cfg.rms_norm_eps),
         p.config.scaling(),
         {},
         {},
         ws.w,
         {},
         false,
         {}};
  int max_pos = 0;
  for (int64_t t = 0; t < n; ++t) {
    if (t == 0 || b.seq_start[t] != b.seq_start[t - 1]) c.seqs.push_back({b.seq_start[t], t + 1});
    QWEN3_CHECK(b.seq_start[t] == c.seqs.back().first, "train_step: sequence %d is not contiguous",
                static_cast<int>(c.seqs.size()));
    c.seqs.back().second = t + 1;
    QWEN3_CHECK(b.tokens[t] >= 0 && b.tokens[t] < cfg.vocab_size, "token id %d is outside the vocabulary",
                b.tokens[t]);
    QWEN3_CHECK(b.labels[t] < cfg.vocab_size, "label %d is outside the vocabulary", b.labels[t]);
    max_pos = std::max(max_pos, c.pos(t));
  }
  c.round_att =
      o.backward && !o.exact_attention && kernels::weight_backward_rounds(m.weights.layers[0].q_proj);
  if (c.round_att) {
    c.p_off.assign(1, 0);
    for (const auto& [s0, s1] : c.seqs)
      c.p_off.push_back(c.p_off.back() + c.H * ((s1 - s0 + 1) / 2) * p_ld(s1 - s0));
  }
  c.rope.extend(m.rope, max_pos + 1);
  const int64_t half = c.d / 2;
  c.neg_sin.resize((max_pos + 1) * half);
  for (int ps = 0; ps <= max_pos; ++ps)
    for (int64_t i = 0; i < half; ++i) c.neg_sin[ps * half + i] = -c.rope.sin(ps)[i];

  // 0. embed_tokens
  HugeVector<float>& x = ws.x;
  x.resize(n * c.D);
  for (int64_t t = 0; t < n; ++t)
    kernels::row_to_f32(m.weights.embed_tokens, b.tokens[t], x.data() + t * c.D);
  // Without checkpointing every layer keeps its activations; with it, each layer's input only (x_in) and
  // one Saved is reused for every layer's forward and recompute, the last layer's kept from the forward pass.
  // A pass without backward (validation) keeps nothing: one Saved for every layer.
  const bool ckpt = o.checkpointing && o.backward, one_saved = ckpt || !o.backward;
  const int L = cfg.num_hidden_layers;
  std::vector<Saved>& saved = ws.saved;
  std::vector<HugeVector<float>>& layer_in = ws.layer_in;
  saved.resize(one_saved ? 1 : L);
  layer_in.resize(ckpt ? L : 0);
  for (int il = 0; il < L; ++il) {
    if (ckpt) copy_rows(c, x, layer_in[il], c.D);
    layer_forward(c, il, x, saved[one_saved ? 0 : il], false, o.backward && (!ckpt || il == L - 1));
  }

  if (o.last_logits) {
    std::vector<float> xf(c.D);
    kernels::rmsnorm(x.data() + (n - 1) * c.D, m.weights.norm.data(), c.D, c.eps, xf.data());
    o.last_logits->resize(cfg.vocab_size);
    kernels::matmul(m.weights.lm_head, xf.data(), 1, o.last_logits->data(), o.pool);
  }
  if (!o.backward) return head_loss(c, x, nullptr, o.loss_scale);
  HugeVector<float>& dx = ws.dx;
  dx.assign(n * c.D, 0.0f);
  const double loss = head_loss(c, x, &dx, o.loss_scale);
  for (int il = L - 1; il >= 0; --il) {
    if (ckpt && il < L - 1)  // the layer's activations again (its input is not needed after)
      layer_forward(c, il, layer_in[il], saved[0], true, true);
    layer_backward(c, il, saved[ckpt ? 0 : il], dx);
  }
  return loss;
}

}  // namespace qwen3
