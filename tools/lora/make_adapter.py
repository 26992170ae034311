#!/usr/bin/python3
"""Writes a LoRA adapter for a (synthetic) Qwen3 model with random, non-zero A and B, in PEFT's exact layout
(adapter_config.json + adapter_model.safetensors with base_model.model.model.layers.N.<path>.lora_A.weight
[r, in] and lora_B.weight [out, r]), or as llama.cpp's GGUF LoRA adapter (--gguf: general.type = adapter,
adapter.type = lora, adapter.lora.alpha, blk.N.attn_q.weight.lora_a/lora_b). PEFT initialises B to zero; here
both are random so that an adapter changes the logits: B is scaled so that each delta s B A x has about
--strength times the RMS of the projection's own output W x (sizes from the model's weights).

Usage: make_adapter.py MODEL_DIR OUT [--rank R] [--alpha A] [--targets all-linear|q_proj,v_proj|REGEX]
         [--rslora] [--rank-pattern JSON] [--alpha-pattern JSON] [--layers 0,2] [--dtype f32|bf16|f16]
         [--seed S] [--strength X] [--gguf] [--modules-to-save embed_tokens,lm_head] [--config-extra JSON]
         [--drop NAME] [--extra-tensor NAME:R:C]
--modules-to-save: PEFT's whole replaced modules, saved as PEFT saves them (base_model.model.lm_head.weight,
base_model.model.model.embed_tokens.weight): the base model's tensor plus noise of --strength times its std.
The last three make broken adapters for the error tests: extra adapter_config.json fields, a tensor left out,
an extra tensor.
"""
import argparse
import json
import os
import re
import struct
import sys

import numpy as np

PATHS = ["self_attn.q_proj", "self_attn.k_proj", "self_attn.v_proj", "self_attn.o_proj", "mlp.gate_proj",
         "mlp.up_proj", "mlp.down_proj"]
GGUF_NAMES = {"self_attn.q_proj": "attn_q", "self_attn.k_proj": "attn_k", "self_attn.v_proj": "attn_v",
              "self_attn.o_proj": "attn_output", "mlp.gate_proj": "ffn_gate", "mlp.up_proj": "ffn_up",
              "mlp.down_proj": "ffn_down"}


class Weights:
    """The model's tensors by name, each decoded only when asked for (the adapter needs a few stds)."""

    def __init__(self, model_dir):
        index = os.path.join(model_dir, "model.safetensors.index.json")
        if os.path.exists(index):
            with open(index) as f:
                shards = sorted(set(json.load(f)["weight_map"].values()))
        else:
            shards = ["model.safetensors"]
        self.where = {}
        for shard in shards:
            path = os.path.join(model_dir, shard)
            with open(path, "rb") as f:
                (n,) = struct.unpack("<Q", f.read(8))
                header = json.loads(f.read(n))
            for name, info in header.items():
                if name != "__metadata__":
                    self.where[name] = (path, 8 + n, info)

    def __getitem__(self, name):
        path, base, info = self.where[name]
        begin, end = info["data_offsets"]
        with open(path, "rb") as f:
            f.seek(base + begin)
            raw = f.read(end - begin)
        if info["dtype"] == "F32":
            arr = np.frombuffer(raw, "<f4").astype(np.float64)
        elif info["dtype"] == "F16":
            arr = np.frombuffer(raw, "<f2").astype(np.float64)
        else:
            arr = (np.frombuffer(raw, "<u2").astype(np.uint32) << 16).view(np.float32).astype(np.float64)
        return arr.reshape(info["shape"])


def targeted(targets, name):
    """PEFT's matching: "all-linear", a regex (re.fullmatch) or a list of names (equal, or a '.'-suffix)."""
    if targets == "all-linear":
        return True
    if isinstance(targets, str):
        return re.fullmatch(targets, name) is not None
    return any(name == t or name.endswith("." + t) for t in targets)


def pattern_value(patterns, name, default):
    for key, v in patterns.items():  # PEFT: the first key with re.match(rf"(.*\.)?{key}$", name)
        if re.match(rf"(.*\.)?{key}$", name):
            return v
    return default


def to_bytes(arr, dtype):
    a32 = np.ascontiguousarray(arr, dtype=np.float32)
    if dtype == "f32":
        return a32.tobytes(), "F32"
    if dtype == "f16":
        return a32.astype("<f2").tobytes(), "F16"
    bits = a32.view(np.uint32).astype(np.uint64)
    rounded = ((bits + 0x7FFF + ((bits >> 16) & 1)) >> 16).astype("<u2")  # nearest even
    return rounded.tobytes(), "BF16"


def write_safetensors(path, tensors):
    header, blobs, off = {"__metadata__": {"format": "pt"}}, [], 0
    for name, (raw, dt, shape) in tensors.items():
        header[name] = {"dtype": dt, "shape": list(shape), "data_offsets": [off, off + len(raw)]}
        blobs.append(raw)
        off += len(raw)
    h = json.dumps(header).encode()
    h += b" " * ((8 - len(h) % 8) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(h)) + h + b"".join(blobs))


def gguf_string(s):
    b = s.encode()
    return struct.pack("<Q", len(b)) + b


def write_gguf(path, kv, tensors):
    """GGUF v3: header, key-values (strings and f32), tensor infos (dims innermost first), 32-aligned data."""
    out = bytearray(b"GGUF" + struct.pack("<IQQ", 3, len(tensors), len(kv)))
    for k, v in kv.items():
        out += gguf_string(k)
        if isinstance(v, str):
            out += struct.pack("<I", 8) + gguf_string(v)
        else:
            out += struct.pack("<If", 6, v)
    types = {"F32": 0, "F16": 1, "BF16": 30}
    off, datas = 0, []
    for name, (raw, dt, shape) in tensors.items():
        out += gguf_string(name) + struct.pack("<I", len(shape))
        for d in reversed(shape):
            out += struct.pack("<Q", d)
        out += struct.pack("<IQ", types[dt], off)
        pad = (32 - len(raw) % 32) % 32
        datas.append(raw + b"\0" * pad)
        off += len(raw) + pad
    out += b"\0" * ((32 - len(out) % 32) % 32)
    with open(path, "wb") as f:
        f.write(bytes(out) + b"".join(datas))


def main():
    p = argparse.ArgumentParser()
    p.add_argument("model")
    p.add_argument("out")
    p.add_argument("--rank", type=int, default=8)
    p.add_argument("--alpha", type=float, default=16)
    p.add_argument("--targets", default="all-linear")
    p.add_argument("--rslora", action="store_true")
    p.add_argument("--rank-pattern", default="{}")
    p.add_argument("--alpha-pattern", default="{}")
    p.add_argument("--layers", default="")
    p.add_argument("--dtype", default="f32", choices=["f32", "bf16", "f16"])
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--strength", type=float, default=0.3)
    p.add_argument("--gguf", action="store_true")
    p.add_argument("--modules-to-save", default="")
    p.add_argument("--config-extra", default="{}")
    p.add_argument("--drop", default="")
    p.add_argument("--extra-tensor", default="")
    a = p.parse_args()

    with open(os.path.join(a.model, "config.json")) as f:
        cfg = json.load(f)
    w = Weights(a.model)
    targets = a.targets
    if targets != "all-linear" and re.fullmatch(r"[\w,]+", targets):
        targets = targets.split(",")
    rank_pattern, alpha_pattern = json.loads(a.rank_pattern), json.loads(a.alpha_pattern)
    layers = [int(x) for x in a.layers.split(",")] if a.layers else None
    rng = np.random.default_rng(a.seed)
    tensors = {}
    for il in range(cfg["num_hidden_layers"]):
        if layers is not None and il not in layers:
            continue
        for path in PATHS:
            name = f"model.layers.{il}.{path}"
            if not targeted(targets, name):
                continue
            W = w[name + ".weight"]
            out_f, in_f = W.shape
            r = int(pattern_value(rank_pattern, name, a.rank))
            alpha = float(pattern_value(alpha_pattern, name, a.alpha))
            s = alpha / (np.sqrt(r) if a.rslora else r)
            A = rng.standard_normal((r, in_f)) / np.sqrt(in_f)  # A x ~ N(0, |x|^2 / in) per rank
            # |W x| per output ~ std(W) sqrt(in) for x of RMS 1; s B (A x) ~ s std(B) sqrt(r).
            b_std = a.strength * W.std() * np.sqrt(in_f) / (s * np.sqrt(r))
            B = rng.standard_normal((out_f, r)) * b_std
            for m, M in (("A", A), ("B", B)):
                raw, dt = to_bytes(M, a.dtype)
                if a.gguf:
                    key = f"blk.{il}.{GGUF_NAMES[path]}.weight.lora_{m.lower()}"
                else:
                    key = f"base_model.model.{name}.lora_{m}.weight"
                tensors[key] = (raw, dt, M.shape)
    saved = [m for m in a.modules_to_save.split(",") if m]
    for m in saved:
        base_name = "lm_head.weight" if m == "lm_head" else "model.embed_tokens.weight"
        if base_name not in w.where:  # tied embeddings: lm_head is embed_tokens
            base_name = "model.embed_tokens.weight"
        W = w[base_name]
        M = W + rng.standard_normal(W.shape) * a.strength * W.std()
        raw, dt = to_bytes(M, a.dtype)
        tensors["base_model.model." + ("lm_head.weight" if m == "lm_head" else "model.embed_tokens.weight")] = (
            raw, dt, M.shape)
    if a.drop:
        del tensors[a.drop]
    if a.extra_tensor:
        name, r, c = a.extra_tensor.split(":")
        raw, dt = to_bytes(np.ones((int(r), int(c))), a.dtype)
        tensors[name] = (raw, dt, (int(r), int(c)))

    if a.gguf:
        kv = {"general.architecture": "qwen3", "general.type": "adapter", "adapter.type": "lora",
              "adapter.lora.alpha": float(a.alpha)}
        write_gguf(a.out, kv, tensors)
        return
    os.makedirs(a.out, exist_ok=True)
    config = {  # the fields PEFT 0.13+ writes for a LoraConfig
        "alpha_pattern": alpha_pattern, "auto_mapping": None, "base_model_name_or_path": a.model, "bias": "none",
        "fan_in_fan_out": False, "inference_mode": True, "init_lora_weights": True, "layer_replication": None,
        "layers_pattern": None, "layers_to_transform": layers, "loftq_config": {}, "lora_alpha": a.alpha,
        "lora_dropout": 0.05, "megatron_config": None, "megatron_core": "megatron.core", "modules_to_save": saved or None,
        "peft_type": "LORA", "r": a.rank, "rank_pattern": rank_pattern, "revision": None,
        "target_modules": targets, "task_type": "CAUSAL_LM", "use_dora": False, "use_rslora": a.rslora}
    config.update(json.loads(a.config_extra))
    with open(os.path.join(a.out, "adapter_config.json"), "w") as f:
        json.dump(config, f, indent=2)
    write_safetensors(os.path.join(a.out, "adapter_model.safetensors"), tensors)


if __name__ == "__main__":
    main()
