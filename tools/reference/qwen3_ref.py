#!/usr/bin/python3
"""An independent, readable NumPy (float64) implementation of the Qwen3 forward pass.

Written from the semantics of Hugging Face transformers' modeling_qwen3.py (Qwen3ForCausalLM, eager attention),
reading the same config.json and safetensors files as the engine, and sharing no code with it. Used by the tests
as the reference the engine's logits and greedy tokens are compared with.

Usage: qwen3_ref.py MODEL_DIR < requests.jsonl > results.jsonl
  request: {"ids": [..], "n_predict": N, "logits": bool}
  result:  {"greedy": [..], "gaps": [..top-1 minus top-2 logit at each greedy step..], "logits": [..]}
       qwen3_ref.py MODEL_DIR --perplexity N_CTX [N_CHUNKS] < {"ids": [..]} > {"ppl", "nll", "positions"}
  llama-perplexity's measurement: chunks of N_CTX tokens, each from an empty cache, the second half scored
  (logits at positions N_CTX/2 .. N_CTX-2 predict the next token), log-softmax over all vocab_size logits.
  With --logprobs-out FILE.npy after N_CHUNKS, the scored rows' log-softmax [positions, vocab] are saved too.
The weights are widened to float64 exactly as stored (bf16/f16/f32), so the reference of a bf16 model is the
exact computation on the bf16 values.
  --lora ADAPTER_DIR[:SCALE] (repeatable, anywhere after MODEL_DIR): a PEFT LoRA adapter merged into the weights
  in float64, W + SCALE * s * B @ A with PEFT's s = lora_alpha / r (lora_alpha / sqrt(r) with use_rslora; r and
  lora_alpha per module from rank_pattern/alpha_pattern: the first key k with re.match(rf"(.*\.)?{k}$", name)).
"""
import json
import math
import os
import re
import struct
import sys

import numpy as np


def read_safetensors(path):
    with open(path, "rb") as f:
        data = f.read()
    (header_len,) = struct.unpack("<Q", data[:8])
    header = json.loads(data[8:8 + header_len])
    base = 8 + header_len
    tensors = {}
    for name, info in header.items():
        if name == "__metadata__":
            continue
        begin, end = info["data_offsets"]
        raw = data[base + begin:base + end]
        dtype = info["dtype"]
        if dtype == "F32":
            arr = np.frombuffer(raw, dtype="<f4").astype(np.float64)
        elif dtype == "F16":
            arr = np.frombuffer(raw, dtype="<f2").astype(np.float64)
        elif dtype == "BF16":
            bits = np.frombuffer(raw, dtype="<u2").astype(np.uint32) << 16
            arr = bits.view(np.float32).astype(np.float64)
        else:
            raise ValueError(f"{path}: dtype {dtype} not supported by the reference")
        tensors[name] = arr.reshape(info["shape"])
    return tensors


def load_weights(model_dir):
    index = os.path.join(model_dir, "model.safetensors.index.json")
    if os.path.exists(index):
        with open(index) as f:
            shards = sorted(set(json.load(f)["weight_map"].values()))
    else:
        shards = ["model.safetensors"]
    weights = {}
    for shard in shards:
        weights.update(read_safetensors(os.path.join(model_dir, shard)))
    return weights


def tokenizer_size(model_dir):
    path = os.path.join(model_dir, "tokenizer.json")
    if not os.path.exists(path):
        return None
    with open(path, encoding="utf-8") as f:
        tok = json.load(f)
    ids = list(tok["model"]["vocab"].values()) + [t["id"] for t in tok.get("added_tokens", [])]
    return max(ids) + 1


def yarn(cfg, scaling):
    """YaRN (arXiv 2309.00071) as transformers' _compute_yarn_parameters defines it, in float64 (the pos_freqs
    power rounded to float32 as torch computes it): returns (inv_freq as float32, attention scaling)."""
    d, base = cfg["head_dim"], float(cfg["rope_theta"])
    s = float(scaling["factor"])
    orig = scaling.get("original_max_position_embeddings") or cfg["max_position_embeddings"]

    def mscale(scale, m=1.0):
        return 1.0 if scale <= 1 else 0.1 * m * math.log(scale) + 1.0

    att = scaling.get("attention_factor")
    if att is None:
        m, m_all = scaling.get("mscale"), scaling.get("mscale_all_dim")
        att = mscale(s, m) / mscale(s, m_all) if m and m_all else mscale(s)
    # wavelength 2 pi / theta_i: dimension i turns orig / wavelength times over the original context; the
    # dimension turning r times is d ln(orig / (2 pi r)) / (2 ln base)
    dim_of = lambda r: d * math.log(orig / (2 * math.pi * r)) / (2 * math.log(base))
    lo, hi = dim_of(scaling.get("beta_fast") or 32), dim_of(scaling.get("beta_slow") or 1)
    if scaling.get("truncate", True):
        lo, hi = math.floor(lo), math.ceil(hi)
    lo, hi = max(lo, 0), min(hi, d - 1)
    if lo == hi:
        hi += 0.001
    i = np.arange(d // 2, dtype=np.float64)
    ramp = np.clip((i - lo) / (hi - lo), 0.0, 1.0)  # 0: keep the frequency (extrapolate), 1: divide it by s
    theta = (base ** (np.arange(0, d, 2) / d).astype(np.float32)).astype(np.float32).astype(np.float64)
    inv = (1.0 / theta) * (1.0 - ramp) + (1.0 / (s * theta)) * ramp
    return inv.astype(np.float32), float(att)


class Qwen3:
    def __init__(self, model_dir):
        with open(os.path.join(model_dir, "config.json")) as f:
            self.cfg = cfg = json.load(f)
        self.w = load_weights(model_dir)
        self.n_layers = cfg["num_hidden_layers"]
        self.n_heads = cfg["num_attention_heads"]
        self.n_kv = cfg["num_key_value_heads"]
        self.head_dim = cfg["head_dim"]
        self.eps = cfg["rms_norm_eps"]
        self.lm_head = self.w["model.embed_tokens.weight"] if cfg["tie_word_embeddings"] else self.w["lm_head.weight"]
        self.n_real = tokenizer_size(model_dir) or cfg["vocab_size"]
        # transformers computes inv_freq = 1 / theta ** (arange(0, d, 2) / d) in float32
        d = self.head_dim
        exponent = (np.arange(0, d, 2).astype(np.float32) / np.float32(d)).astype(np.float64)
        self.inv_freq = (1.0 / cfg["rope_theta"] ** exponent).astype(np.float32)
        self.rope_scale = 1.0  # cos and sin are multiplied by it (YaRN's attention scaling)
        scaling = cfg.get("rope_scaling") or {}
        rope_type = scaling.get("rope_type", scaling.get("type", "default"))
        if rope_type == "yarn":
            self.inv_freq, self.rope_scale = yarn(cfg, scaling)
        elif rope_type != "default":
            sys.exit(f"qwen3_ref.py: rope_scaling {rope_type!r} is not implemented")

    def merge_lora(self, adapter_dir, scale=1.0):
        """Adds scale * s * B @ A of every lora_A/lora_B pair of a PEFT adapter to its module's weight."""
        with open(os.path.join(adapter_dir, "adapter_config.json")) as f:
            cfg = json.load(f)
        t = read_safetensors(os.path.join(adapter_dir, "adapter_model.safetensors"))

        def per_module(patterns, name, default):
            for key, v in (patterns or {}).items():
                if re.match(rf"(.*\.)?{key}$", name):
                    return v
            return default

        n = 0
        for key, A in t.items():
            m = re.fullmatch(r"base_model\.model\.(.+)\.lora_A\.weight", key)
            if not m:
                continue
            name = m.group(1)
            B = t[f"base_model.model.{name}.lora_B.weight"]
            r = per_module(cfg.get("rank_pattern"), name, cfg["r"])
            alpha = per_module(cfg.get("alpha_pattern"), name, cfg["lora_alpha"])
            assert A.shape[0] == r and B.shape[1] == r, (key, A.shape, B.shape, r)
            s = alpha / (np.sqrt(r) if cfg.get("use_rslora") else r)
            self.w[name + ".weight"] = self.w[name + ".weight"] + scale * s * (B @ A)
            n += 1
        # modules_to_save: whole replacements (PEFT's ModulesToSaveWrapper), whatever the scale. A replaced
        # embed_tokens leaves a tied lm_head on the original weights, as PEFT's wrapper copy does.
        for m in cfg.get("modules_to_save") or []:
            if m == "lm_head":
                self.lm_head = t["base_model.model.lm_head.weight"]
            else:
                assert m in ("embed_tokens", "model.embed_tokens"), m
                self.w["model.embed_tokens.weight"] = t["base_model.model.model.embed_tokens.weight"]
            n += 1
        assert n > 0, adapter_dir

    def rms_norm(self, x, weight):
        # Qwen3RMSNorm: x / sqrt(mean(x^2) + eps) * weight
        return x / np.sqrt(np.mean(x * x, axis=-1, keepdims=True) + self.eps) * weight

    def rope(self, x, positions):
        # x: [n, heads, d]; positions: [n]. freqs = pos * inv_freq (float32, as transformers), emb = cat(freqs, freqs)
        freqs = (positions.astype(np.float32)[:, None] * self.inv_freq[None, :]).astype(np.float64)
        cos = self.rope_scale * np.cos(np.concatenate([freqs, freqs], axis=-1))[:, None, :]
        sin = self.rope_scale * np.sin(np.concatenate([freqs, freqs], axis=-1))[:, None, :]
        half = self.head_dim // 2
        rotated = np.concatenate([-x[..., half:], x[..., :half]], axis=-1)  # rotate_half
        return x * cos + rotated * sin

    def forward(self, ids, cache, all_positions=False):
        """Runs tokens `ids` at positions len(cache[0][0]).. and returns the logits of the last one (of every
        one, [n, vocab], when all_positions)."""
        n = len(ids)
        start = cache[0][0].shape[0] if cache[0][0] is not None else 0
        positions = np.arange(start, start + n)
        x = self.w["model.embed_tokens.weight"][ids]  # [n, D]
        d, H, KV = self.head_dim, self.n_heads, self.n_kv
        for il in range(self.n_layers):
            p = f"model.layers.{il}."
            h = self.rms_norm(x, self.w[p + "input_layernorm.weight"])
            q = (h @ self.w[p + "self_attn.q_proj.weight"].T).reshape(n, H, d)
            k = (h @ self.w[p + "self_attn.k_proj.weight"].T).reshape(n, KV, d)
            v = (h @ self.w[p + "self_attn.v_proj.weight"].T).reshape(n, KV, d)
            q = self.rope(self.rms_norm(q, self.w[p + "self_attn.q_norm.weight"]), positions)
            k = self.rope(self.rms_norm(k, self.w[p + "self_attn.k_norm.weight"]), positions)
            k_all = k if cache[il][0] is None else np.concatenate([cache[il][0], k])
            v_all = v if cache[il][1] is None else np.concatenate([cache[il][1], v])
            cache[il] = (k_all, v_all)
            total = k_all.shape[0]
            # causal mask: query at position start+i sees keys 0..start+i
            mask = np.arange(total)[None, :] > positions[:, None]
            out = np.empty((n, H, d))
            for head in range(H):
                kvh = head // (H // KV)  # repeat_kv
                scores = q[:, head, :] @ k_all[:, kvh, :].T / np.sqrt(d)
                scores[mask] = -np.inf
                scores -= scores.max(axis=-1, keepdims=True)
                probs = np.exp(scores)
                probs /= probs.sum(axis=-1, keepdims=True)
                out[:, head, :] = probs @ v_all[:, kvh, :]
            x = x + out.reshape(n, H * d) @ self.w[p + "self_attn.o_proj.weight"].T
            h = self.rms_norm(x, self.w[p + "post_attention_layernorm.weight"])
            gate = h @ self.w[p + "mlp.gate_proj.weight"].T
            up = h @ self.w[p + "mlp.up_proj.weight"].T
            x = x + (gate / (1.0 + np.exp(-gate)) * up) @ self.w[p + "mlp.down_proj.weight"].T
        if all_positions:
            return self.rms_norm(x, self.w["model.norm.weight"]) @ self.lm_head.T
        last = self.rms_norm(x[-1], self.w["model.norm.weight"])
        return self.lm_head @ last

    def perplexity(self, ids, n_ctx, n_chunks=0):
        """Mean negative log-likelihood over llama-perplexity's scored positions, and their log-softmax rows."""
        n_chunk = len(ids) // n_ctx
        if n_chunks > 0:
            n_chunk = min(n_chunk, n_chunks)
        first = n_ctx // 2
        nll, rows = [], []
        for c in range(n_chunk):
            chunk = np.array(ids[c * n_ctx:(c + 1) * n_ctx])
            logits = self.forward(chunk, [(None, None)] * self.n_layers, all_positions=True)[first:n_ctx - 1]
            m = logits.max(axis=-1, keepdims=True)
            logp = logits - (m + np.log(np.exp(logits - m).sum(axis=-1, keepdims=True)))
            nll.extend(-logp[np.arange(len(logp)), chunk[first + 1:n_ctx]])
            rows.append(logp)
        return float(np.mean(nll)), len(nll), np.concatenate(rows)

    def run(self, ids, n_predict):
        cache = [(None, None)] * self.n_layers
        logits = self.forward(np.array(ids), cache)
        first = logits
        greedy, gaps = [], []
        for i in range(n_predict):
            real = logits[:self.n_real]  # padded vocabulary rows are never chosen
            top2 = np.argsort(real)[-2:]
            nxt = int(top2[1])
            greedy.append(nxt)
            gaps.append(float(real[top2[1]] - real[top2[0]]))
            if i + 1 < n_predict:
                logits = self.forward(np.array([nxt]), cache)
        return first, greedy, gaps


def take_lora_args():
    """Removes every --lora DIR[:SCALE] from sys.argv; returns [(dir, scale)]."""
    out, i = [], 1
    while i < len(sys.argv):
        if sys.argv[i] == "--lora":
            spec = sys.argv[i + 1]
            path, _, sc = spec.rpartition(":")
            try:
                out.append((path, float(sc)) if path else (spec, 1.0))
            except ValueError:
                out.append((spec, 1.0))
            del sys.argv[i:i + 2]
        else:
            i += 1
    return out


def load_model(model_dir, loras):
    model = Qwen3(model_dir)
    for path, scale in loras:
        model.merge_lora(path, scale)
    return model


def main():
    loras = take_lora_args()
    if len(sys.argv) >= 4 and sys.argv[2] == "--perplexity":
        model = load_model(sys.argv[1], loras)
        args = sys.argv[3:]
        out_path = None
        if "--logprobs-out" in args:
            i = args.index("--logprobs-out")
            out_path = args[i + 1]
            args = args[:i] + args[i + 2:]
        ids = json.loads(sys.stdin.read())["ids"]
        nll, n, rows = model.perplexity(ids, int(args[0]), int(args[1]) if len(args) > 1 else 0)
        if out_path:
            np.save(out_path, rows)
        print(json.dumps({"ppl": float(np.exp(nll)), "nll": nll, "positions": n}))
        return
    if len(sys.argv) != 2:
        sys.exit("usage: qwen3_ref.py MODEL_DIR [--lora DIR[:SCALE]]... < requests.jsonl")
    model = load_model(sys.argv[1], loras)
    for line in sys.stdin:
        if not line.strip():
            continue
        req = json.loads(line)
        first, greedy, gaps = model.run(req["ids"], req.get("n_predict", 0))
        out = {"greedy": greedy, "gaps": gaps}
        if req.get("logits"):
            out["logits"] = [float(v) for v in first]
        print(json.dumps(out), flush=True)


if __name__ == "__main__":
    main()
