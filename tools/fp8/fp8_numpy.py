#!/usr/bin/python3
"""FP8 E4M3 checkpoints in NumPy, written independently of the engine (no code shared with src/):

  fp8_numpy.py quantize IN_DIR OUT_DIR [--layout fp8|compressed-tensors] [--drop NAME] [--config JSON]
      IN_DIR (a bf16/f16/f32 Hugging Face-layout Qwen3 model) in Qwen's fine-grained FP8 layout (quant_method
      "fp8": every decoder linear weight F8_E4M3 in 128 x 128 blocks with an F32 "<name>_scale_inv", scale =
      amax / 448 in float32, 1 for an all-zero block, q = e4m3(w / scale)), or in compressed-tensors' FP8 layout
      (per output channel: scale = amax / 448 rounded to bf16, stored as BF16 "<name>_scale" [out, 1]).
      Embeddings, lm_head and norms are written as bf16. --drop leaves a tensor out and --config merges a JSON
      object into quantization_config (the tests' bad inputs).
  fp8_numpy.py dequantize FP8_DIR OUT_DIR
      Every tensor of an FP8 checkpoint as F32 (e4m3 * scale; bf16 widened), config.json without
      quantization_config: "its own f32 dequantization", which tools/reference/qwen3_ref.py runs.

e4m3 (torch.float8_e4m3fn): 1 sign, 4 exponent (bias 7), 3 mantissa bits, no infinities, 0x7f/0xff NaN, 448 the
largest finite value. Decoding is the formula; encoding picks the nearest of the 127 finite non-negative codes
(ties to the even code), saturating at 448, so it is a different algorithm from the engine's bit arithmetic.
"""
import json
import os
import shutil
import struct
import sys

import numpy as np


def decode_e4m3(b):
    """uint8 array -> float64 values (NaN for 0x7f/0xff)."""
    b = np.asarray(b, dtype=np.uint8).astype(np.int64)
    sign = np.where(b & 0x80, -1.0, 1.0)
    e = (b >> 3) & 0x0F
    m = b & 7
    val = np.where(e == 0, np.ldexp(m.astype(np.float64), -9), np.ldexp(1.0 + m / 8.0, e - 7))
    val = np.where((b & 0x7F) == 0x7F, np.nan, val)
    return sign * val


_CODES = np.arange(0x7F, dtype=np.uint8)  # 0x00 .. 0x7e: the finite non-negative values, increasing
_VALUES = decode_e4m3(_CODES)


def encode_e4m3(x):
    """float32 array -> uint8 e4m3 codes: nearest finite value, ties to the even code, saturating at 448."""
    x = np.asarray(x, dtype=np.float32)
    a = np.abs(x.astype(np.float64))
    hi = np.clip(np.searchsorted(_VALUES, a, side="left"), 0, len(_VALUES) - 1)
    lo = np.clip(hi - 1, 0, len(_VALUES) - 1)
    d_lo, d_hi = a - _VALUES[lo], _VALUES[hi] - a
    pick = np.where(d_lo < d_hi, lo, np.where(d_hi < d_lo, hi, np.where(lo % 2 == 0, lo, hi)))
    pick = np.where(a >= 448.0, 0x7E, pick)
    code = pick.astype(np.uint8) | np.where(np.signbit(x), 0x80, 0).astype(np.uint8)
    return np.where(np.isnan(x), code | 0x7F, code).astype(np.uint8)


def read_safetensors(path):
    """{name: (dtype string, shape, raw bytes)}, and the metadata."""
    with open(path, "rb") as f:
        data = f.read()
    (n,) = struct.unpack("<Q", data[:8])
    header = json.loads(data[8:8 + n])
    out = {}
    for name, info in header.items():
        if name == "__metadata__":
            continue
        b, e = info["data_offsets"]
        out[name] = (info["dtype"], list(info["shape"]), data[8 + n + b:8 + n + e])
    return out, header.get("__metadata__", {})


def write_safetensors(path, tensors, metadata):
    """tensors: list of (name, dtype string, shape, raw bytes), written in that order."""
    header, offset = {}, 0
    for name, dtype, shape, raw in tensors:
        header[name] = {"dtype": dtype, "shape": list(shape), "data_offsets": [offset, offset + len(raw)]}
        offset += len(raw)
    if metadata:
        header["__metadata__"] = metadata
    text = json.dumps(header).encode()
    text += b" " * (-len(text) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(text)))
        f.write(text)
        for _, _, _, raw in tensors:
            f.write(raw)


def to_f32(dtype, shape, raw):
    if dtype == "F32":
        a = np.frombuffer(raw, dtype="<f4")
    elif dtype == "F16":
        a = np.frombuffer(raw, dtype="<f2").astype(np.float32)
    elif dtype == "BF16":
        a = (np.frombuffer(raw, dtype="<u2").astype(np.uint32) << 16).view(np.float32)
    else:
        raise ValueError(f"dtype {dtype}")
    return a.reshape(shape)


def to_bf16_bytes(a):
    """float32 -> bf16 bits, nearest even (no NaN in these weights)."""
    bits = np.asarray(a, dtype=np.float32).view(np.uint32).astype(np.uint64)
    bits = (bits + 0x7FFF + ((bits >> 16) & 1)) >> 16
    return bits.astype("<u2").tobytes()


def load_dir(model_dir):
    index = os.path.join(model_dir, "model.safetensors.index.json")
    shards = sorted(set(json.load(open(index))["weight_map"].values())) if os.path.exists(index) else [
        "model.safetensors"]
    tensors, metadata = {}, {}
    for s in shards:
        t, m = read_safetensors(os.path.join(model_dir, s))
        tensors.update(t)
        metadata.update(m)
    return tensors, metadata


def copy_other_files(src, dst):
    os.makedirs(dst, exist_ok=True)
    for name in os.listdir(src):
        p = os.path.join(src, name)
        if os.path.isfile(p) and not name.endswith(".safetensors") and name not in (
                "model.safetensors.index.json", "config.json"):
            shutil.copyfile(p, os.path.join(dst, name))


def write_model(in_dir, out_dir, cfg, tensors, metadata):
    """OUT_DIR: IN_DIR's other files, cfg as config.json, tensors (list of (name, dtype, shape, raw)) as
    model.safetensors."""
    copy_other_files(in_dir, out_dir)
    with open(os.path.join(out_dir, "config.json"), "w") as f:
        json.dump(cfg, f, indent=2)
    write_safetensors(os.path.join(out_dir, "model.safetensors"), tensors, metadata)


def is_linear(name):
    return name.startswith("model.layers.") and name.endswith("_proj.weight")


def quantize_block_fp8(w):
    """[rows, cols] float32 -> (uint8 codes [rows, cols], float32 scales [ceil(rows/128), ceil(cols/128)])."""
    rows, cols = w.shape
    nbr, nbc = -(-rows // 128), -(-cols // 128)
    q = np.zeros((rows, cols), dtype=np.uint8)
    s = np.zeros((nbr, nbc), dtype=np.float32)
    for i in range(nbr):
        for j in range(nbc):
            blk = w[128 * i:128 * (i + 1), 128 * j:128 * (j + 1)]
            scale = np.float32(np.abs(blk).max()) / np.float32(448.0)
            if scale == 0:
                scale = np.float32(1.0)
            s[i, j] = scale
            q[128 * i:128 * (i + 1), 128 * j:128 * (j + 1)] = encode_e4m3(blk / scale)
    return q, s


def quantize_channel(w):
    """Per output row: scale = amax / 448 rounded to bf16 (compressed-tensors stores it as BF16)."""
    amax = np.abs(w).max(axis=1).astype(np.float32)
    scale = amax / np.float32(448.0)
    scale = np.where(scale == 0, np.float32(1.0), scale).astype(np.float32)
    scale_bf16 = to_bf16_bytes(scale)
    scale = (np.frombuffer(scale_bf16, dtype="<u2").astype(np.uint32) << 16).view(np.float32)
    return encode_e4m3(w / scale[:, None]), scale_bf16


def quantize(in_dir, out_dir, layout, drop, extra_config):
    tensors, metadata = load_dir(in_dir)
    cfg = json.load(open(os.path.join(in_dir, "config.json")))
    out = []
    for name in tensors:
        dtype, shape, raw = tensors[name]
        if name == "lm_head.weight" and cfg.get("tie_word_embeddings"):
            continue
        w = to_f32(dtype, shape, raw)
        if is_linear(name):
            if layout == "fp8":
                q, s = quantize_block_fp8(w)
                out.append((name, "F8_E4M3", shape, q.tobytes()))
                out.append((name + "_scale_inv", "F32", list(s.shape), s.astype("<f4").tobytes()))
            else:
                q, s = quantize_channel(w)
                out.append((name, "F8_E4M3", shape, q.tobytes()))
                out.append((name + "_scale", "BF16", [shape[0], 1], s))
        else:
            out.append((name, "BF16", shape, to_bf16_bytes(w)))
    out = [t for t in out if t[0] not in drop]
    if layout == "fp8":
        qc = {"activation_scheme": "dynamic", "fmt": "e4m3", "quant_method": "fp8", "weight_block_size": [128, 128]}
    else:
        qc = {"config_groups": {"group_0": {
            "input_activations": {"dynamic": True, "num_bits": 8, "strategy": "token", "symmetric": True,
                                  "type": "float"},
            "output_activations": None, "targets": ["Linear"],
            "weights": {"dynamic": False, "num_bits": 8, "observer": "minmax", "strategy": "channel",
                        "symmetric": True, "type": "float"}}},
            "format": "float-quantized", "ignore": ["lm_head"], "quant_method": "compressed-tensors",
            "quantization_status": "compressed"}
    qc.update(extra_config)
    cfg["quantization_config"] = qc
    cfg["torch_dtype"] = "bfloat16"
    write_model(in_dir, out_dir, cfg, out, metadata)


def dequantize(in_dir, out_dir):
    tensors, metadata = load_dir(in_dir)
    cfg = json.load(open(os.path.join(in_dir, "config.json")))
    qc = cfg.pop("quantization_config")
    suffix = "_scale_inv" if qc["quant_method"] == "fp8" else "_scale"
    out = []
    for name, (dtype, shape, raw) in tensors.items():
        if name.endswith(suffix):
            continue
        if dtype == "F8_E4M3":
            v = decode_e4m3(np.frombuffer(raw, dtype=np.uint8)).reshape(shape)
            sd, ss, sr = tensors[name + suffix]
            s = to_f32(sd, ss, sr).astype(np.float64)
            if qc["quant_method"] == "fp8":  # a scale per 128 x 128 block
                s = np.repeat(np.repeat(s, 128, axis=0), 128, axis=1)[:shape[0], :shape[1]]
            w = (v * s).astype(np.float32)
        else:
            w = to_f32(dtype, shape, raw)
        out.append((name, "F32", shape, w.astype("<f4").tobytes()))
    cfg["torch_dtype"] = "float32"
    write_model(in_dir, out_dir, cfg, out, metadata)


def main():
    args = sys.argv[1:]
    if len(args) >= 3 and args[0] == "quantize":
        layout, drop, extra = "fp8", [], {}
        rest = args[3:]
        while rest:
            if rest[0] == "--layout":
                layout = rest[1]
            elif rest[0] == "--drop":
                drop.append(rest[1])
            elif rest[0] == "--config":
                extra.update(json.loads(rest[1]))
            else:
                sys.exit(f"unknown option {rest[0]}")
            rest = rest[2:]
        quantize(args[1], args[2], layout, drop, extra)
    elif len(args) == 3 and args[0] == "dequantize":
        dequantize(args[1], args[2])
    else:
        sys.exit(__doc__)


if __name__ == "__main__":
    main()
