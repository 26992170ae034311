#!/usr/bin/python3
"""An independent float64 NumPy reference of LoRA training: the Qwen3 forward pass with PEFT LoRA deltas on the
seven linear projections, the causal language-model loss on masked positions, and a hand-written backward pass
giving the gradients of every lora_A / lora_B matrix. The backward pass is itself checked against central finite
differences on a random miniature model (--self-check), so the engine's gradients are compared with something
that has been verified independently of them.

Semantics (PEFT's LoraLayer, lora_dropout = 0): y = x W^T + scaling * (x A^T) B^T with scaling = lora_alpha / r
(lora_alpha / sqrt(r) with use_rslora). The loss of a batch of sequences is the mean over every position t >= 1
with mask[t] = 1 of -log softmax(logits[t - 1])[ids[t]] (transformers' shifted cross-entropy, labels -100 where
mask is 0), the mean taken over all such positions of all sequences together. Each sequence starts at position 0
with its own attention (packing must not leak across sequences).

Usage:
  lora_train_ref.py MODEL_DIR ADAPTER_DIR BATCH.json > RESULT.json
    BATCH.json: {"sequences": [{"ids": [..], "mask": [..]}, ...]}
    RESULT.json: {"loss": L, "n_labels": N, "grads": {"<PEFT tensor name>": [flat row-major values], ...}}
  lora_train_ref.py --self-check    (finite differences on a random miniature model; exit 1 on a mismatch)
"""
import json
import os
import sys

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import qwen3_ref  # noqa: E402  (read_safetensors, load_weights)

TARGETS = [("self_attn", "q_proj"), ("self_attn", "k_proj"), ("self_attn", "v_proj"), ("self_attn", "o_proj"),
           ("mlp", "gate_proj"), ("mlp", "up_proj"), ("mlp", "down_proj")]
PREFIX = "base_model.model.model.layers."


def peft_name(il, target, ab):
    module = dict((t, m) for m, t in TARGETS)[target]
    return f"{PREFIX}{il}.{module}.{target}.lora_{ab}.weight"


class TrainRef:
    def __init__(self, cfg, w):
        self.cfg, self.w = cfg, w
        self.L = cfg["num_hidden_layers"]
        self.H, self.KV, self.d = cfg["num_attention_heads"], cfg["num_key_value_heads"], cfg["head_dim"]
        self.eps = cfg["rms_norm_eps"]
        self.lm_head = w["model.embed_tokens.weight"] if cfg["tie_word_embeddings"] else w["lm_head.weight"]
        d = self.d
        exponent = (np.arange(0, d, 2).astype(np.float32) / np.float32(d)).astype(np.float64)
        self.inv_freq = (1.0 / cfg["rope_theta"] ** exponent).astype(np.float32)
        self.lora = {}  # (il, target) -> [A (r, in), B (out, r)]
        self.scaling = 1.0

    # --- pieces, each with its backward ---
    def norm(self, x, w):
        r = 1.0 / np.sqrt(np.mean(x * x, axis=-1, keepdims=True) + self.eps)
        return x * r * w, r

    @staticmethod
    def norm_back(dy, x, r, w):
        g = dy * w
        return r * g - x * r ** 3 * np.sum(g * x, axis=-1, keepdims=True) / x.shape[-1]

    def rope_tables(self, n):
        freqs = (np.arange(n).astype(np.float32)[:, None] * self.inv_freq[None, :]).astype(np.float64)
        emb = np.concatenate([freqs, freqs], axis=-1)
        return np.cos(emb)[:, None, :], np.sin(emb)[:, None, :]

    def rope(self, x, cos, sin):
        h = self.d // 2
        return x * cos + np.concatenate([-x[..., h:], x[..., :h]], axis=-1) * sin

    def rope_back(self, dy, cos, sin):
        h = self.d // 2
        z = dy * sin
        return dy * cos + np.concatenate([z[..., h:], -z[..., :h]], axis=-1)

    def linear(self, x, il, target, W, saved):
        y = x @ W.T
        ab = self.lora.get((il, target))
        if ab is not None:
            u = x @ ab[0].T
            saved[target] = u
            y = y + self.scaling * (u @ ab[1].T)
        return y

    def linear_back(self, dy, x, il, target, W, saved, grads):
        dx = dy @ W
        ab = self.lora.get((il, target))
        if ab is not None:
            A, B = ab
            u = saved[target]
            gA, gB = grads[(il, target)]
            gB += self.scaling * dy.T @ u
            du = self.scaling * dy @ B
            gA += du.T @ x
            dx = dx + du @ A
        return dx

    # --- one sequence: loss sum and gradients ---
    def sequence(self, ids, mask, grads, want_grads=True):
        ids, mask = np.asarray(ids), np.asarray(mask)
        n, H, KV, d, w = len(ids), self.H, self.KV, self.d, self.w
        group = H // KV
        cos, sin = self.rope_tables(n)
        causal = np.arange(n)[None, :] > np.arange(n)[:, None]
        x = w["model.embed_tokens.weight"][ids]
        layers = []
        for il in range(self.L):
            p = f"model.layers.{il}."
            s = {"x_in": x}
            s["xn1"], s["r1"] = self.norm(x, w[p + "input_layernorm.weight"])
            q_raw = self.linear(s["xn1"], il, "q_proj", w[p + "self_attn.q_proj.weight"], s).reshape(n, H, d)
            k_raw = self.linear(s["xn1"], il, "k_proj", w[p + "self_attn.k_proj.weight"], s).reshape(n, KV, d)
            v = self.linear(s["xn1"], il, "v_proj", w[p + "self_attn.v_proj.weight"], s).reshape(n, KV, d)
            qn, s["rq"] = self.norm(q_raw, w[p + "self_attn.q_norm.weight"])
            kn, s["rk"] = self.norm(k_raw, w[p + "self_attn.k_norm.weight"])
            q, k = self.rope(qn, cos, sin), self.rope(kn, cos, sin)
            probs = np.empty((H, n, n))
            att = np.empty((n, H, d))
            for h in range(H):
                sc = q[:, h] @ k[:, h // group].T / np.sqrt(d)
                sc[causal] = -np.inf
                sc = np.exp(sc - sc.max(axis=-1, keepdims=True))
                probs[h] = sc / sc.sum(axis=-1, keepdims=True)
                att[:, h] = probs[h] @ v[:, h // group]
            s.update(q_raw=q_raw, k_raw=k_raw, v=v, q=q, k=k, probs=probs, att=att.reshape(n, H * d))
            x = x + self.linear(s["att"], il, "o_proj", w[p + "self_attn.o_proj.weight"], s)
            s["x_mid"] = x
            s["xn2"], s["r2"] = self.norm(x, w[p + "post_attention_layernorm.weight"])
            g = self.linear(s["xn2"], il, "gate_proj", w[p + "mlp.gate_proj.weight"], s)
            up = self.linear(s["xn2"], il, "up_proj", w[p + "mlp.up_proj.weight"], s)
            sig = 1.0 / (1.0 + np.exp(-g))
            s.update(g=g, up=up, sig=sig, hmlp=g * sig * up)
            x = x + self.linear(s["hmlp"], il, "down_proj", w[p + "mlp.down_proj.weight"], s)
            layers.append(s)
        # loss: position t - 1 predicts ids[t] where mask[t]
        rows = np.nonzero(mask[1:])[0]
        xf, rf = self.norm(x, w["model.norm.weight"])
        logits = xf[rows] @ self.lm_head.T
        m = logits.max(axis=-1, keepdims=True)
        e = np.exp(logits - m)
        z = e.sum(axis=-1, keepdims=True)
        targets = ids[rows + 1]
        loss = float(np.sum((m + np.log(z))[:, 0] - logits[np.arange(len(rows)), targets]))
        if not want_grads:
            return loss, len(rows), None
        dlogits = e / z
        dlogits[np.arange(len(rows)), targets] -= 1.0
        return loss, len(rows), (rows, dlogits, xf, rf, x, layers, cos, sin)

    def backward(self, state, scale_loss, grads):
        rows, dlogits, xf, rf, x, layers, cos, sin = state
        w, H, KV, d = self.w, self.H, self.KV, self.d
        n, group = x.shape[0], H // KV
        dxf = np.zeros_like(x)
        dxf[rows] = (dlogits * scale_loss) @ self.lm_head
        dx = self.norm_back(dxf, x, rf, w["model.norm.weight"])
        for il in reversed(range(self.L)):
            p, s = f"model.layers.{il}.", layers[il]
            # mlp
            dh = self.linear_back(dx, s["hmlp"], il, "down_proj", w[p + "mlp.down_proj.weight"], s, grads)
            g, sig, up = s["g"], s["sig"], s["up"]
            dup = dh * g * sig
            dg = dh * up * sig * (1.0 + g * (1.0 - sig))
            dxn2 = self.linear_back(dg, s["xn2"], il, "gate_proj", w[p + "mlp.gate_proj.weight"], s, grads)
            dxn2 += self.linear_back(dup, s["xn2"], il, "up_proj", w[p + "mlp.up_proj.weight"], s, grads)
            dx = dx + self.norm_back(dxn2, s["x_mid"], s["r2"], w[p + "post_attention_layernorm.weight"])
            # attention
            datt = self.linear_back(dx, s["att"], il, "o_proj", w[p + "self_attn.o_proj.weight"], s, grads)
            datt = datt.reshape(n, H, d)
            dq, dk, dv = np.zeros((n, H, d)), np.zeros((n, KV, d)), np.zeros((n, KV, d))
            for h in range(H):
                kvh, P = h // group, s["probs"][h]
                dv[:, kvh] += P.T @ datt[:, h]
                dP = datt[:, h] @ s["v"][:, kvh].T
                dS = P * (dP - np.sum(dP * P, axis=-1, keepdims=True)) / np.sqrt(d)
                dq[:, h] = dS @ s["k"][:, kvh]
                dk[:, kvh] += dS.T @ s["q"][:, h]
            dq = self.norm_back(self.rope_back(dq, cos, sin), s["q_raw"], s["rq"], w[p + "self_attn.q_norm.weight"])
            dk = self.norm_back(self.rope_back(dk, cos, sin), s["k_raw"], s["rk"], w[p + "self_attn.k_norm.weight"])
            dxn1 = self.linear_back(dq.reshape(n, H * d), s["xn1"], il, "q_proj", w[p + "self_attn.q_proj.weight"],
                                    s, grads)
            dxn1 += self.linear_back(dk.reshape(n, KV * d), s["xn1"], il, "k_proj", w[p + "self_attn.k_proj.weight"],
                                     s, grads)
            dxn1 += self.linear_back(dv.reshape(n, KV * d), s["xn1"], il, "v_proj", w[p + "self_attn.v_proj.weight"],
                                     s, grads)
            dx = dx + self.norm_back(dxn1, s["x_in"], s["r1"], w[p + "input_layernorm.weight"])

    def loss_and_grads(self, sequences, want_grads=True):
        """Mean loss over every labelled position of the batch and d(mean loss)/d(A, B) per adapted module."""
        grads = {key: [np.zeros_like(ab[0]), np.zeros_like(ab[1])] for key, ab in self.lora.items()}
        results = [self.sequence(sq["ids"], sq["mask"], grads, want_grads) for sq in sequences]
        n_labels = sum(r[1] for r in results)
        total = sum(r[0] for r in results) / n_labels
        if want_grads:
            for r in results:
                self.backward(r[2], 1.0 / n_labels, grads)
        return total, n_labels, grads


def load_adapter(ref, adapter_dir):
    with open(os.path.join(adapter_dir, "adapter_config.json")) as f:
        acfg = json.load(f)
    r, alpha = acfg["r"], acfg["lora_alpha"]
    ref.scaling = alpha / np.sqrt(r) if acfg.get("use_rslora") else alpha / r
    t = qwen3_ref.read_safetensors(os.path.join(adapter_dir, "adapter_model.safetensors"))
    for il in range(ref.L):
        for _, target in TARGETS:
            a, b = peft_name(il, target, "A"), peft_name(il, target, "B")
            if a in t:
                ref.lora[(il, target)] = [t[a], t[b]]


def self_check():
    """Central finite differences of the mean loss against the hand-written gradients on a random model whose
    shapes have every awkward feature (head_dim != hidden / heads, GQA, untied head, odd sizes)."""
    rng = np.random.default_rng(7)
    cfg = {"num_hidden_layers": 2, "num_attention_heads": 4, "num_key_value_heads": 2, "head_dim": 6,
           "hidden_size": 10, "intermediate_size": 14, "vocab_size": 23, "rms_norm_eps": 1e-6,
           "rope_theta": 10000.0, "tie_word_embeddings": False}
    D, F, H, KV, d, V = 10, 14, 4, 2, 6, 23
    w = {"model.embed_tokens.weight": rng.normal(size=(V, D)), "lm_head.weight": rng.normal(size=(V, D)) * 0.5,
         "model.norm.weight": 1 + 0.1 * rng.normal(size=D)}
    shapes = {"q_proj": (H * d, D), "k_proj": (KV * d, D), "v_proj": (KV * d, D), "o_proj": (D, H * d),
              "gate_proj": (F, D), "up_proj": (F, D), "down_proj": (D, F)}
    ref = TrainRef(cfg, w)
    for il in range(2):
        p = f"model.layers.{il}."
        for module, target in TARGETS:
            w[f"{p}{module}.{target}.weight"] = rng.normal(size=shapes[target]) * 0.4
            r = 3
            ref.lora[(il, target)] = [rng.normal(size=(r, shapes[target][1])) * 0.3,
                                      rng.normal(size=(shapes[target][0], r)) * 0.3]
        for nm, size in (("input_layernorm", D), ("post_attention_layernorm", D), ("self_attn.q_norm", d),
                         ("self_attn.k_norm", d)):
            w[f"{p}{nm}.weight"] = 1 + 0.1 * rng.normal(size=size)
    ref.scaling = 1.7
    seqs = [{"ids": list(rng.integers(0, V, size=9)), "mask": [0, 0, 1, 1, 0, 1, 1, 1, 0]},
            {"ids": list(rng.integers(0, V, size=5)), "mask": [0, 1, 0, 1, 1]}]
    _, _, grads = ref.loss_and_grads(seqs)
    worst, h = 0.0, 1e-6
    for key in ref.lora:
        for which in (0, 1):
            mat = ref.lora[key][which]
            for idx in [tuple(rng.integers(0, s) for s in mat.shape) for _ in range(3)]:
                old = mat[idx]
                mat[idx] = old + h
                lp = ref.loss_and_grads(seqs, want_grads=False)[0]
                mat[idx] = old - h
                lm = ref.loss_and_grads(seqs, want_grads=False)[0]
                mat[idx] = old
                fd, an = (lp - lm) / (2 * h), grads[key][which][idx]
                err = abs(fd - an) / max(1e-3, abs(fd), abs(an))
                worst = max(worst, err)
    print(json.dumps({"self_check_max_rel_err": worst}))
    return worst < 1e-5


def main():
    if len(sys.argv) == 2 and sys.argv[1] == "--self-check":
        sys.exit(0 if self_check() else 1)
    if len(sys.argv) != 4:
        sys.exit("usage: lora_train_ref.py MODEL_DIR ADAPTER_DIR BATCH.json > RESULT.json | --self-check")
    model_dir, adapter_dir, batch_path = sys.argv[1:]
    with open(os.path.join(model_dir, "config.json")) as f:
        cfg = json.load(f)
    ref = TrainRef(cfg, qwen3_ref.load_weights(model_dir))
    load_adapter(ref, adapter_dir)
    with open(batch_path) as f:
        batch = json.load(f)
    loss, n_labels, grads = ref.loss_and_grads(batch["sequences"])
    out = {"loss": loss, "n_labels": n_labels, "grads": {}}
    for (il, target), (ga, gb) in grads.items():
        out["grads"][peft_name(il, target, "A")] = ga.ravel().tolist()
        out["grads"][peft_name(il, target, "B")] = gb.ravel().tolist()
    print(json.dumps(out))


if __name__ == "__main__":
    main()
