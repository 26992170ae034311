#!/usr/bin/python3
"""An independent, readable NumPy (float64) implementation of the Qwen3 forward pass.

Written from the semantics of Hugging Face transformers' modeling_qwen3.py (Qwen3ForCausalLM, eager attention),
reading the same config.json and safetensors files as the engine, and sharing no code with it. Used by the tests
as the reference the engine's logits and greedy tokens are compared with.

Usage: qwen3_ref.py MODEL_DIR < requests.jsonl > results.jsonl
  request: {"ids": [..], "n_predict": N, "logits": bool}
  result:  {"greedy": [..], "gaps": [..top-1 minus top-2 logit at each greedy step..], "logits": [..]}
The weights are widened to float64 exactly as stored (bf16/f16/f32), so the reference of a bf16 model is the
exact computation on the bf16 values.
"""
import json
import os
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

    def rms_norm(self, x, weight):
        # Qwen3RMSNorm: x / sqrt(mean(x^2) + eps) * weight
        return x / np.sqrt(np.mean(x * x, axis=-1, keepdims=True) + self.eps) * weight

    def rope(self, x, positions):
        # x: [n, heads, d]; positions: [n]. freqs = pos * inv_freq (float32, as transformers), emb = cat(freqs, freqs)
        freqs = (positions.astype(np.float32)[:, None] * self.inv_freq[None, :]).astype(np.float64)
        cos = np.cos(np.concatenate([freqs, freqs], axis=-1))[:, None, :]
        sin = np.sin(np.concatenate([freqs, freqs], axis=-1))[:, None, :]
        half = self.head_dim // 2
        rotated = np.concatenate([-x[..., half:], x[..., :half]], axis=-1)  # rotate_half
        return x * cos + rotated * sin

    def forward(self, ids, cache):
        """Runs tokens `ids` at positions len(cache[0][0]).. and returns the logits of the last one."""
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
        last = self.rms_norm(x[-1], self.w["model.norm.weight"])
        return self.lm_head @ last

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


def main():
    if len(sys.argv) != 2:
        sys.exit("usage: qwen3_ref.py MODEL_DIR < requests.jsonl")
    model = Qwen3(sys.argv[1])
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
