#!/usr/bin/python3
"""AWQ 4-bit checkpoints in NumPy, written independently of the engine (no code shared with src/):

  awq_numpy.py quantize IN_DIR OUT_DIR [--group G] [--config JSON] [--drop NAME] [--keep NAME]
      IN_DIR (a bf16/f16/f32 Hugging Face-layout Qwen3 model) in AutoAWQ's "gemm" layout, as Qwen's *-AWQ repos:
      every decoder linear weight W [out, in] (but --keep's, left as F16 "<m>.weight") replaced by
        <m>.qweight I32 [in, out / 8], <m>.qzeros I32 [in / G, out / 8], <m>.scales F16 [in / G, out]
      with AutoAWQ's zero-point quantisation per group of G input columns (default 128) of each output row:
      s = max(max - min, 1e-5) / 15 rounded to f16, z = clamp(round(-min / s), 0, 15),
      q = clamp(round(w / s) + z, 0, 15); eight 4-bit values per int32 in AutoAWQ's order: the nibbles from the
      low bits up hold columns 0, 2, 4, 6, 1, 3, 5, 7 of each group of eight. Everything else is written as F16
      (torch_dtype float16), and config.json gets quantization_config {"quant_method": "awq", "bits": 4,
      "group_size": G, "zero_point": true, "version": "gemm", "modules_to_not_convert": null}. --config merges
      a JSON object into it and --drop leaves a tensor out (the tests' bad inputs).
  awq_numpy.py dequantize AWQ_DIR OUT_DIR
      Every tensor as F32: W[o, i] = (q[i, o] - z[i / G, o]) * s[i / G, o], unpacked the way AutoAWQ's
      unpack_awq / reverse_awq_order do (a shift per nibble, then columns reordered by 0, 4, 1, 5, 2, 6, 3, 7),
      config.json without quantization_config: the checkpoint's own f32 values for tools/reference/qwen3_ref.py.
"""
import json
import os
import sys

import numpy as np

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "fp8"))
# (load_dir and write_safetensors are also what tests/quant/test_awq.py edits checkpoints with)
from fp8_numpy import is_linear, load_dir, to_f32, write_model, write_safetensors  # noqa: E402, F401

ORDER = [0, 2, 4, 6, 1, 3, 5, 7]  # column (within eight) held by nibble 0, 1, ..., 7
REVERSE_ORDER = [0, 4, 1, 5, 2, 6, 3, 7]  # nibble holding column 0, 1, ..., 7


def pack(v):
    """[rows, cols] ints 0..15 -> int32 [rows, cols / 8] in AutoAWQ's order."""
    rows, cols = v.shape
    out = np.zeros((rows, cols // 8), dtype=np.uint32)
    for nibble, col in enumerate(ORDER):
        out |= v[:, col::8].astype(np.uint32) << np.uint32(4 * nibble)
    return out.view(np.int32)


def unpack(words):
    """int32 [rows, n] -> [rows, 8 n] ints, AutoAWQ's unpack_awq then reverse_awq_order."""
    w = words.view(np.uint32)
    shifts = np.arange(0, 32, 4, dtype=np.uint32)
    nib = ((w[:, :, None] >> shifts[None, None, :]) & 15).reshape(w.shape[0], -1)  # nibble order
    idx = np.arange(nib.shape[1]).reshape(-1, 8)[:, REVERSE_ORDER].reshape(-1)
    return nib[:, idx].astype(np.int64)


def quantize_awq(w, g):
    """W [out, in] float32 -> (qweight, qzeros, scales f16) for group size g."""
    out_f, in_f = w.shape
    wg = w.reshape(out_f, in_f // g, g).astype(np.float32)
    mx, mn = wg.max(axis=2), wg.min(axis=2)
    s = (np.maximum(mx - mn, np.float32(1e-5)) / np.float32(15)).astype(np.float16)
    sf = s.astype(np.float32)
    z = np.clip(np.round(-mn / sf), 0, 15)
    q = np.clip(np.round(wg / sf[:, :, None]) + z[:, :, None], 0, 15).astype(np.int64).reshape(out_f, in_f)
    return pack(q.T), pack(z.astype(np.int64).T), s.T.copy()


def quantize(in_dir, out_dir, g, extra, drop, keep):
    tensors, metadata = load_dir(in_dir)
    out = []
    for name, (dtype, shape, raw) in tensors.items():
        if name in drop:
            continue
        w = to_f32(dtype, shape, raw)
        if is_linear(name) and name not in keep:
            qw, qz, sc = quantize_awq(w, g)
            base = name[:-len(".weight")]
            for part, dt, a in ((".qweight", "I32", qw), (".qzeros", "I32", qz), (".scales", "F16", sc)):
                if base + part not in drop:
                    out.append((base + part, dt, a.shape, a.astype("<i4" if dt == "I32" else "<f2").tobytes()))
        else:
            out.append((name, "F16", shape, w.astype("<f2").tobytes()))
    cfg = json.load(open(os.path.join(in_dir, "config.json")))
    cfg["torch_dtype"] = "float16"
    qc = {"bits": 4, "group_size": g, "modules_to_not_convert": None, "quant_method": "awq", "version": "gemm",
          "zero_point": True}
    qc.update(extra)
    cfg["quantization_config"] = qc
    write_model(in_dir, out_dir, cfg, out, metadata)


def dequantize(in_dir, out_dir):
    tensors, metadata = load_dir(in_dir)
    cfg = json.load(open(os.path.join(in_dir, "config.json")))
    g = cfg.pop("quantization_config")["group_size"]
    out = []
    for name, (dtype, shape, raw) in tensors.items():
        if name.endswith(".qzeros") or name.endswith(".scales"):
            continue
        if name.endswith(".qweight"):
            base = name[:-len(".qweight")]
            q = unpack(np.frombuffer(raw, dtype="<i4").reshape(shape))  # [in, out]
            zd, zs, zr = tensors[base + ".qzeros"]
            z = unpack(np.frombuffer(zr, dtype="<i4").reshape(zs))  # [in / g, out]
            sd, ss, sr = tensors[base + ".scales"]
            s = to_f32(sd, ss, sr)  # [in / g, out]
            w = ((q - np.repeat(z, g, axis=0)).astype(np.float32) * np.repeat(s, g, axis=0)).T
            out.append((base + ".weight", "F32", list(w.shape), np.ascontiguousarray(w).astype("<f4").tobytes()))
        else:
            out.append((name, "F32", shape, to_f32(dtype, shape, raw).astype("<f4").tobytes()))
    cfg["torch_dtype"] = "float32"
    write_model(in_dir, out_dir, cfg, out, metadata)


def main():
    args = sys.argv[1:]
    if len(args) >= 3 and args[0] == "quantize":
        g, extra, drop, keep = 128, {}, [], []
        rest = args[3:]
        while rest:
            if rest[0] == "--group":
                g = int(rest[1])
            elif rest[0] == "--config":
                extra.update(json.loads(rest[1]))
            elif rest[0] == "--drop":
                drop.append(rest[1])
            elif rest[0] == "--keep":
                keep.append(rest[1])
            else:
                sys.exit(f"unknown option {rest[0]}")
            rest = rest[2:]
        quantize(args[1], args[2], g, extra, drop, keep)
    elif len(args) == 3 and args[0] == "dequantize":
        dequantize(args[1], args[2])
    else:
        sys.exit(__doc__)


if __name__ == "__main__":
    main()
