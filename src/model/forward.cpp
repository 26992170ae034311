// The forward pass, one numbered step per line of transformers' Qwen3DecoderLayer. Shapes: n = tokens in the
// chunk, H = num_attention_heads, KV = num_key_value_heads, d = head_dim, D = hidden_size, F =
// intermediate_size.
#include "model/forward.h"

#include <algorithm>
#include <cmath>

#include "core/error.h"
#include "core/timer.h"
#include "kernels/attention.h"
#include "kernels/kernels.h"
#include "model/lora_apply.h"

namespace qwen3 {

size_t Batch::n_outputs() const {
  size_t n = 0;
  for (uint8_t l : logits) n += l;
  return n;
}

namespace {

// Activations in the int8 form the q8_0/q4_0 matmuls read (kernels.h MatmulInput: values, block scales,
// corrections), written by their producer row segment by row segment (kernels::quantize_input_row).
struct Int8Rows {
  std::vector<int8_t> q;   // [n, width]
  std::vector<float> d;    // [n, width / 32]
  std::vector<int32_t> c;  // [n, width / 32]
  int64_t width = 0;

  void resize(int64_t n, int64_t w) {
    width = w;
    q.resize(n * w);
    d.resize(n * w / kQuantBlock);
    c.resize(n * w / kQuantBlock);
  }
  // Quantises n values (whole blocks) for weights of dtype `weight` into the rows from element e = t * width
  // + column on.
  void quantize(DType weight, const float* x, int64_t n, int64_t e) {
    kernels::quantize_input_row(weight, x, n, q.data() + e, d.data() + e / kQuantBlock,
                                c.data() + e / kQuantBlock);
  }
  kernels::MatmulInput input(int64_t n_tok, const float* unread_x) const {
    kernels::MatmulInput in;
    in.x = unread_x;  // the f32 rows it replaces: never read, a valid pointer for the kernels' arithmetic
    in.ldx = width;
    in.n_tok = n_tok;
    in.xq = q.data();
    in.xd = d.data();
    in.xc = c.data();
    return in;
  }
};

struct Activations {
  std::vector<float> x;      // [n, D] residual stream
  std::vector<float> xb;     // [n, D] normed input of a block
  std::vector<float> xb2;    // [n, D] output of a block, added to x
  std::vector<float> q;      // [n, H*d]
  std::vector<float> k, v;   // [n, KV*d]
  std::vector<float> att;    // [n, H*d] attention output
  std::vector<float> gate;   // [n, F]
  std::vector<float> up;     // [n, F]
  std::vector<uint16_t> qb;  // [n, H*d] q rounded to bf16 for a bf16 cache's attention
  Int8Rows att8;  // attention's output as o_proj's int8 input (instead of att) where o_proj reads one
  Int8Rows xb8;   // a norm's output as the int8 input of the matrices sharing it (instead of xb), likewise
};

void trace(const ForwardOptions& o, const char* name, int il, const std::vector<float>& buf, int64_t n,
           int64_t width) {
  if (o.trace) o.trace(name, il, buf.data(), n, width);
}

// Attention of every (token, query head) pair over its sequence's cached positions 0..pos. Work items are
// (KV head, block of up to kAttnBlock consecutive batch tokens of one slot): the query heads of a KV group
// and the tokens of a block share each K/V tile read. A token's result does not depend on the block it lands
// in (kernels/attention.h), so batching and thread count never change it. 32 tokens (64 queries of a GQA
// group of 2) per widened K/V tile: pp512 q8_0 +1-4 % over 16, +4 % at depth 2048; 64 no better.
constexpr int kAttnBlock = 32;

// With out8, the outputs go to a.att8 as o_proj's int8 input instead of a.att.
void attention(const Model& m, KvCache& cache, const Batch& b, size_t b0, int64_t n, int il, Activations& a,
               bool out8, ThreadPool* pool) {
  const ModelConfig& c = m.config;
  const int H = c.num_attention_heads, KV = c.num_key_value_heads, d = c.head_dim, group = H / KV;
  std::vector<std::pair<int64_t, int>> blocks;  // (first token, n_tok)
  for (int64_t t = 0; t < n;) {
    int len = 1;
    while (t + len < n && len < kAttnBlock && b.slots[b0 + t + len] == b.slots[b0 + t]) ++len;
    blocks.push_back({t, len});
    t += len;
  }
  const auto& kern = kernels::attention_active();
  const int64_t n_jobs = static_cast<int64_t>(blocks.size()) * KV;
  parallel_for(pool, n_jobs, [&](int64_t j0, int64_t j1) {
    thread_local std::vector<float> scratch;
    for (int64_t j = j0; j < j1; ++j) {
      // KV-head-major order: parallel_for's contiguous chunks then hold whole heads over every block, so each
      // has a fair share of a causal prompt (late blocks see longer histories than early ones).
      auto [t0, len] = blocks[static_cast<size_t>(j % static_cast<int64_t>(blocks.size()))];
      const int kvh = static_cast<int>(j / static_cast<int64_t>(blocks.size())), slot = b.slots[b0 + t0];
      scratch.resize(kernels::attention_scratch_floats(len, group, d));
      kernels::AttentionArgs args;
      args.kv_type = cache.dtype();
      args.head_dim = d;
      args.scale = 1.0f / std::sqrt(static_cast<float>(d));  // self.scaling = head_dim ** -0.5
      args.keys = cache.keys(il, slot, kvh);
      args.values = cache.values(il, slot, kvh);
      args.n_tok = len;
      args.group = group;
      args.q = a.q.data() + t0 * H * d + kvh * group * d;
      args.ldq = static_cast<int64_t>(H) * d;
      if (!a.qb.empty()) {
        args.qb = a.qb.data() + t0 * H * d + kvh * group * d;
        args.ldqb = static_cast<int64_t>(H) * d;
      }
      args.pos = b.positions.data() + b0 + t0;
      const int64_t at = t0 * H * d + kvh * group * d;
      args.out = a.att.data() + at;
      args.ldo = static_cast<int64_t>(H) * d;
      if (out8) {
        args.oq = a.att8.q.data() + at;
        args.od = a.att8.d.data() + at / kQuantBlock;
        args.oc = a.att8.c.data() + at / kQuantBlock;
        args.oq_weight = m.weights.layers[il].o_proj.dtype;
      }
      args.scratch = scratch.data();
      kern.attend(args);
    }
  });
}

void forward_chunk(const Model& m, KvCache& cache, const Batch& b, size_t b0, int64_t n, float* logits,
                   const ForwardOptions& o) {
  const ModelConfig& c = m.config;
  const ModelWeights& w = m.weights;
  const int64_t D = c.hidden_size, F = c.intermediate_size, d = c.head_dim;
  const int64_t H = c.num_attention_heads, KV = c.num_key_value_heads;
  const float eps = static_cast<float>(c.rms_norm_eps);
  ThreadPool* pool = o.pool;

  Activations a;
  a.x.resize(n * D);
  a.xb.resize(n * D);
  a.xb2.resize(n * D);
  a.q.resize(n * H * d);
  a.k.resize(n * KV * d);
  a.v.resize(n * KV * d);
  a.att.resize(n * H * d);
  a.gate.resize(n * F);
  a.up.resize(n * F);
  // LoRA adapters (model/lora_apply.h): each token's stack; their deltas need the f32 inputs of the
  // projections they adapt, so the norms keep writing xb beside xb8, and attention its f32 output.
  std::vector<const LoraStack*> stacks(n, o.lora ? o.lora : m.lora.get());
  if (!b.lora.empty()) std::copy_n(b.lora.begin() + b0, n, stacks.begin());
  const LoraRows lora(stacks.data(), n);

  // 0. embed_tokens, or the token's adapter's replacement of it (modules_to_save); the rotary cos/sin come
  // from the cache's table, extended by forward()
  for (int64_t t = 0; t < n; ++t) {
    const Tensor* e = stacks[t] ? stacks[t]->embed_tokens() : nullptr;
    kernels::row_to_f32(e ? *e : w.embed_tokens, b.tokens[b0 + t], a.x.data() + t * D);
  }
  const RopeTable& rope = cache.rope();
  trace(o, "embed", -1, a.x, n, D);

  // Whether the matrices that share a norm's output read it as int8 of one dtype (kernels.h): then the norm
  // writes that form (xb8) while each row is in cache, not the f32 xb (kept for a trace).
  auto int8_input = [&](std::initializer_list<const Tensor*> ws) {
    if (o.trace || D % kQuantBlock) return false;
    for (const Tensor* t : ws)
      if (!kernels::reads_int8_input(*t) || t->dtype != (*ws.begin())->dtype || t->cols != D) return false;
    return true;
  };
  auto qkv_int8 = [&](int il) {
    const LayerWeights& l = w.layers[il];
    return int8_input({&l.q_proj, &l.k_proj, &l.v_proj});
  };
  auto mlp_int8 = [&](int il) {
    const LayerWeights& l = w.layers[il];
    return int8_input({&l.gate_proj, &l.up_proj});
  };
  if (!o.trace && D % kQuantBlock == 0) a.xb8.resize(n, D);

  // x += xb2 (a residual), then xb = rmsnorm(x) with `norm` unless it is null, or with `int8_for` that in the
  // int8 form for its dtype: one pass over the tokens on the pool, while each token's row is in cache.
  auto residual_norm = [&](bool add, const std::vector<float>* norm, const Tensor* int8_for) {
    parallel_for(pool, n, [&](int64_t t0, int64_t t1) {
      thread_local std::vector<float> row;
      row.resize(D);
      for (int64_t t = t0; t < t1; ++t) {
        float* x = a.x.data() + t * D;
        if (add) kernels::add(x, a.xb2.data() + t * D, D);
        if (!norm) continue;
        if (!int8_for) {
          kernels::rmsnorm(x, norm->data(), D, eps, a.xb.data() + t * D);
          continue;
        }
        float* out = lora.active() ? a.xb.data() + t * D : row.data();
        kernels::rmsnorm(x, norm->data(), D, eps, out);
        a.xb8.quantize(int8_for->dtype, out, D, t * D);
      }
    });
  };

  // 1. input_layernorm of layer 0 (each later layer's comes with the previous layer's last residual)
  if (c.num_hidden_layers > 0)
    residual_norm(false, &w.layers[0].input_layernorm, qkv_int8(0) ? &w.layers[0].q_proj : nullptr);
  for (int il = 0; il < c.num_hidden_layers; ++il) {
    const LayerWeights& l = w.layers[il];
    trace(o, "attn_norm", il, a.xb, n, D);
    // 2. q_proj, k_proj, v_proj
    {
      const Tensor* ws[] = {&l.q_proj, &l.k_proj, &l.v_proj};
      float* ys[] = {a.q.data(), a.k.data(), a.v.data()};
      if (lora.active()) {
        const LoraProj ps[] = {{ws[0], kLoraQ, ys[0]}, {ws[1], kLoraK, ys[1]}, {ws[2], kLoraV, ys[2]}};
        kernels::MatmulInput in;
        if (qkv_int8(il)) in = a.xb8.input(n, a.xb.data());
        lora.matmul(il, ps, a.xb.data(), D, qkv_int8(il) ? &in : nullptr, pool);
      } else if (qkv_int8(il)) {
        kernels::matmul_shared_prepared(ws, ys, 3, a.xb8.input(n, a.xb.data()), pool);
      } else {
        kernels::matmul_shared_input(ws, ys, 3, a.xb.data(), n, pool);
      }
    }
    // 3. q_norm / k_norm per head (RMSNorm over head_dim), before RoPE; 4. RoPE (rotate-half). For a bf16
    // cache's attention, q goes straight to bf16 (the rounding attention would do: the same bits, half the
    // bytes to write and to read back); the f32 q only for a trace.
    const bool q_bf16 = cache.dtype() == DType::kBF16 && d % 2 == 0;
    if (q_bf16) a.qb.resize(n * H * d);
    parallel_for(pool, n, [&](int64_t t0, int64_t t1) {
      thread_local std::vector<float> head;
      head.resize(d);
      for (int64_t t = t0; t < t1; ++t) {
        const float* cs = rope.cos(b.positions[b0 + t]);
        const float* sn = rope.sin(b.positions[b0 + t]);
        for (int64_t h = 0; h < H; ++h) {
          float* q = a.q.data() + (t * H + h) * d;
          float* out = q_bf16 && !o.trace ? head.data() : q;
          kernels::rmsnorm(q, l.q_norm.data(), d, eps, out);
          kernels::rope_neox(out, cs, sn, static_cast<int>(d));
          if (q_bf16) kernels::active().round_bf16(out, d, a.qb.data() + (t * H + h) * d);
        }
        for (int64_t h = 0; h < KV; ++h) {
          float* k = a.k.data() + (t * KV + h) * d;
          kernels::rmsnorm(k, l.k_norm.data(), d, eps, k);
          kernels::rope_neox(k, cs, sn, static_cast<int>(d));
          // 5. append k, v to the cache at the token's (slot, position), in the cache's dtype
          cache.store(il, b.slots[b0 + t], static_cast<int>(h), b.positions[b0 + t], k,
                      a.v.data() + (t * KV + h) * d);
        }
      }
    });
    trace(o, "q_rope", il, a.q, n, H * d);
    trace(o, "k_rope", il, a.k, n, KV * d);
    // 6. softmax(q k^T * scaling) v over each token's own sequence, causal by position. Where o_proj reads
    // int8 activations, attention writes them (each head's row quantised while in cache: o_proj's 32-blocks
    // never straddle two heads), not the f32 rows (kept for a trace).
    const bool o_lora = lora.adapts(il, kLoraO);
    const bool att_int8 = kernels::reads_int8_input(l.o_proj) && d % kQuantBlock == 0 && !o.trace && !o_lora;
    if (att_int8) a.att8.resize(n, H * d);
    attention(m, cache, b, b0, n, il, a, att_int8, pool);
    trace(o, "attn_out", il, a.att, n, H * d);
    // 7. o_proj, residual
    if (o_lora) {
      const LoraProj ps[] = {{&l.o_proj, kLoraO, a.xb2.data()}};
      lora.matmul(il, ps, a.att.data(), H * d, nullptr, pool);
    } else if (att_int8) {
      kernels::matmul_prepared(l.o_proj, a.att8.input(n, a.att.data()), a.xb2.data(), pool);
    } else {
      kernels::matmul(l.o_proj, a.att.data(), n, a.xb2.data(), pool);
    }
    // 8. post_attention_layernorm
    const bool mlp_in_int8 = mlp_int8(il);
    residual_norm(true, &l.post_attention_layernorm, mlp_in_int8 ? &l.gate_proj : nullptr);
    trace(o, "attn_residual", il, a.x, n, D);
    // 9. mlp: down_proj(silu(gate_proj(x)) * up_proj(x)), residual; h = silu(gate) * up into a.gate
    if (lora.adapts(il, kLoraGate) || lora.adapts(il, kLoraUp)) {
      // gate and up stored apart to take their deltas before silu (matmul_gate_up_silu's bits otherwise)
      const LoraProj ps[] = {{&l.gate_proj, kLoraGate, a.gate.data()}, {&l.up_proj, kLoraUp, a.up.data()}};
      kernels::MatmulInput in;
      if (mlp_in_int8) in = a.xb8.input(n, a.xb.data());
      lora.matmul(il, ps, a.xb.data(), D, mlp_in_int8 ? &in : nullptr, pool);
      parallel_for(n > 1 ? pool : nullptr, n, [&](int64_t t0, int64_t t1) {
        kernels::silu_mul(a.gate.data() + t0 * F, a.up.data() + t0 * F, (t1 - t0) * F,
                          a.gate.data() + t0 * F);
      });
    } else if (mlp_in_int8)
      kernels::matmul_gate_up_silu_prepared(l.gate_proj, l.up_proj, a.xb8.input(n, a.xb.data()),
                                            a.gate.data(), a.up.data(), pool);
    else
      kernels::matmul_gate_up_silu(l.gate_proj, l.up_proj, a.xb.data(), n, a.gate.data(), a.up.data(), pool);
    if (lora.active()) {
      const LoraProj ps[] = {{&l.down_proj, kLoraDown, a.xb2.data()}};
      lora.matmul(il, ps, a.gate.data(), F, nullptr, pool);
    } else {
      kernels::matmul(l.down_proj, a.gate.data(), n, a.xb2.data(), pool);
    }
    // the residual, and the next layer's input_layernorm (1.)
    const bool next = il + 1 < c.num_hidden_layers;
    residual_norm(true, next ? &w.layers[il + 1].input_layernorm : nullptr,
                  next && qkv_int8(il + 1) ? &w.layers[il + 1].q_proj : nullptr);
    trace(o, "layer_out", il, a.x, n, D);
  }

  // 10. final norm and lm_head, only for the tokens whose logits are wanted
  int64_t n_out = 0;
  std::vector<const Tensor*> heads;  // each output row's lm_head (an adapter may replace it)
  bool replaced = false;
  for (int64_t t = 0; t < n; ++t) {
    if (!b.logits[b0 + t]) continue;
    kernels::rmsnorm(a.x.data() + t * D, w.norm.data(), D, eps, a.xb.data() + n_out * D);
    const Tensor* h = stacks[t] ? stacks[t]->lm_head() : nullptr;
    replaced = replaced || h;
    heads.push_back(h ? h : &w.lm_head);
    ++n_out;
  }
  trace(o, "final_norm", -1, a.xb, n_out, D);
  if (n_out == 0) return;
  if (!replaced) return kernels::matmul(w.lm_head, a.xb.data(), n_out, logits, pool);
  // Rows grouped by their lm_head, gathered, multiplied and scattered back (a row's logits do not depend on
  // its group: kernels.h).
  const int64_t V = c.vocab_size;
  std::vector<float> xs, ys;
  std::vector<bool> done(n_out, false);
  for (int64_t i = 0; i < n_out; ++i) {
    if (done[i]) continue;
    std::vector<int64_t> rows;
    for (int64_t j = i; j < n_out; ++j)
      if (!done[j] && heads[j] == heads[i]) rows.push_back(j), done[j] = true;
    xs.resize(rows.size() * D);
    ys.resize(rows.size() * V);
    for (size_t r = 0; r < rows.size(); ++r) std::copy_n(a.xb.data() + rows[r] * D, D, xs.data() + r * D);
    kernels::matmul(*heads[i], xs.data(), static_cast<int64_t>(rows.size()), ys.data(), pool);
    for (size_t r = 0; r < rows.size(); ++r) std::copy_n(ys.data() + r * V, V, logits + rows[r] * V);
  }
}

}  // namespace

void forward(const Model& m, KvCache& cache, const Batch& b, float* logits, const ForwardOptions& o) {
  const size_t n = b.size();
  QWEN3_CHECK(b.positions.size() == n && b.slots.size() == n && b.logits.size() == n &&
                  (b.lora.empty() || b.lora.size() == n),
              "batch arrays have different lengths");
  for (size_t i = 0; i < n; ++i) {
    QWEN3_CHECK(b.tokens[i] >= 0 && b.tokens[i] < m.config.vocab_size,
                "token id %d is outside the vocabulary [0, %d)", b.tokens[i], m.config.vocab_size);
    QWEN3_CHECK(b.positions[i] >= 0 && b.positions[i] < cache.n_ctx(),
                "position %d is outside the context window of %d tokens", b.positions[i], cache.n_ctx());
    QWEN3_CHECK(b.slots[i] >= 0 && b.slots[i] < cache.n_slots(), "sequence slot %d does not exist",
                b.slots[i]);
  }
  int max_pos = 0;
  for (size_t i = 0; i < n; ++i) max_pos = std::max(max_pos, b.positions[i]);
  cache.rope().extend(m.rope, max_pos + 1);  // RoPE cos/sin up to the context used
  const int chunk = std::max(1, o.max_chunk);
  for (size_t b0 = 0; b0 < n; b0 += chunk) {
    int64_t len = static_cast<int64_t>(std::min<size_t>(chunk, n - b0));
    forward_chunk(m, cache, b, b0, len, logits, o);
    for (int64_t t = 0; t < len; ++t) logits += b.logits[b0 + t] ? m.config.vocab_size : 0;
  }
}

int32_t argmax_token(const Model& m, const float* logits) {
  int32_t best = 0;
  for (int32_t i = 1; i < m.n_vocab_tokens; ++i)
    if (logits[i] > logits[best]) best = i;
  return best;
}

GreedyResult generate_greedy(const Model& m, const std::vector<int32_t>& prompt, int n_predict,
                             const ForwardOptions& o, bool keep_prompt_logits,
                             const std::function<void(int32_t)>& on_token) {
  QWEN3_CHECK(!prompt.empty(), "the prompt is empty");
  QWEN3_CHECK(n_predict >= 0, "cannot generate a negative number of tokens");
  int64_t n_ctx = static_cast<int64_t>(prompt.size()) + n_predict;
  QWEN3_CHECK(n_ctx <= m.config.max_context(),
              "prompt (%zu tokens) + %d new tokens exceed the model's context of %d", prompt.size(),
              n_predict, m.config.max_context());
  KvCache cache(m.config, 1, static_cast<int>(n_ctx), o.kv_type);
  GreedyResult r;
  std::vector<float> logits(m.config.vocab_size);
  Batch batch;
  for (size_t i = 0; i < prompt.size(); ++i)
    batch.add(prompt[i], static_cast<int32_t>(i), 0, i + 1 == prompt.size());
  double t0 = now_seconds();
  forward(m, cache, batch, logits.data(), o);
  r.prompt_seconds = now_seconds() - t0;
  if (keep_prompt_logits) r.prompt_logits = logits;
  t0 = now_seconds();
  int32_t pos = static_cast<int32_t>(prompt.size());
  for (int i = 0; i < n_predict; ++i) {
    int32_t next = argmax_token(m, logits.data());
    r.tokens.push_back(next);
    if (on_token) on_token(next);
    if (i + 1 == n_predict) break;
    batch.clear();
    batch.add(next, pos++, 0, true);
    forward(m, cache, batch, logits.data(), o);
  }
  r.decode_seconds = now_seconds() - t0;
  return r;
}

}  // namespace qwen3
