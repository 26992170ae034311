#!/usr/bin/python3
"""4-bit AWQ and GPTQ checkpoints in NumPy, written independently of the engine (no code shared with src/):

  int4_numpy.py quantize IN_DIR OUT_DIR [--format awq|gptq] [--group G] [--sym] [--v2] [--g-idx]
                [--config JSON] [--drop NAME] [--keep NAME]
      IN_DIR (a bf16/f16/f32 Hugging Face-layout Qwen3 model) with every decoder linear weight W [out, in] (but
      --keep's, left as F16 "<m>.weight") quantised per group of G input columns (default 128; -1: the whole
      row) of each output row, by round to nearest:
        asymmetric (AWQ's rule; GPTQ without --sym): s = max(max - min, 1e-5) / 15 rounded to f16,
          z = clamp(round(-min / s), 0, 15);  symmetric (GPTQ --sym): s = max(|w|) / 7.5 (1e-5 at least)
          rounded to f16, z = 8;  q = clamp(round(w / s) + z, 0, 15)
      and stored as
        awq:  <m>.qweight I32 [in, out / 8]: eight output columns per word, the nibbles from the low bits up
              holding columns 0, 2, 4, 6, 1, 3, 5, 7 (AutoAWQ's gemm order); <m>.qzeros I32 [in / G, out / 8]
              alike; <m>.scales F16 [in / G, out]; quantization_config {"quant_method": "awq", "bits": 4,
              "group_size": G, "zero_point": true, "version": "gemm", "modules_to_not_convert": null}
        gptq: <m>.qweight I32 [in / 8, out]: input rows 8r .. 8r + 7 in the nibbles of word [r, o] from the low
              bits up; <m>.qzeros I32 [in / G, out / 8]: columns in order, holding z - 1 (AutoGPTQ's "gptq"
              format; --v2: "gptq_v2", z itself; z = 0 is clamped to 1 in the "gptq" format, which cannot store
              it); <m>.scales F16 [in / G, out]; with --g-idx <m>.g_idx I32 [in] = i / G;
              quantization_config {"quant_method": "gptq", "bits": 4, "group_size": G, "desc_act": false,
              "sym": ..., "checkpoint_format": "gptq" | "gptq_v2"}
      Everything else is written as F16 (torch_dtype float16). --config merges a JSON object into
      quantization_config and --drop leaves a tensor out (the tests' bad inputs).
  int4_numpy.py dequantize DIR OUT_DIR
      Every tensor as F32: W[o, i] = (q[i, o] - z[g(i), o]) * s[g(i), o] with g(i) = g_idx[i] or i / G, unpacked
      the way AutoAWQ's unpack_awq / reverse_awq_order (a shift per nibble, then columns reordered by
      0, 4, 1, 5, 2, 6, 3, 7) and AutoGPTQ's dequantisation (a shift per nibble, zeros + 1 in the "gptq"
      format) do; config.json without quantization_config: the checkpoint's own f32 values for
      tools/reference/qwen3_ref.py.
"""
import json
import os
import sys

import numpy as np

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "fp8"))
# (load_dir and write_safetensors are also what tests/quant/test_int4.py edits checkpoints with)
from fp8_numpy import is_linear, load_dir, to_f32, write_model, write_safetensors  # noqa: E402, F401

AWQ_ORDER = [0, 2, 4, 6, 1, 3, 5, 7]  # column (within eight) held by nibble 0, 1, ..., 7
AWQ_REVERSE_ORDER = [0, 4, 1, 5, 2, 6, 3, 7]  # nibble holding column 0, 1, ..., 7


def pack_columns(v, order):
    """[rows, cols] ints 0..15 -> int32 [rows, cols / 8], nibble n of word p holding column 8p + order[n]."""
    out = np.zeros((v.shape[0], v.shape[1] // 8), dtype=np.uint32)
    for nibble, col in enumerate(order):
        out |= (v[:, col::8].astype(np.uint32) & 15) << np.uint32(4 * nibble)
    return out.view(np.int32)


def pack_rows(v):
    """[rows, cols] ints 0..15 -> int32 [rows / 8, cols], nibble j of word [r, c] holding row 8r + j."""
    out = np.zeros((v.shape[0] // 8, v.shape[1]), dtype=np.uint32)
    for j in range(8):
        out |= (v[j::8, :].astype(np.uint32) & 15) << np.uint32(4 * j)
    return out.view(np.int32)


def nibbles(words):
    """int32 [..., n] -> [..., n, 8] ints, nibble j = bits 4j .. 4j + 3."""
    shifts = np.arange(0, 32, 4, dtype=np.uint32)
    return ((words.view(np.uint32)[..., None] >> shifts) & 15).astype(np.int64)


def unpack_awq(words):
    """AutoAWQ's unpack_awq then reverse_awq_order: [rows, n] -> [rows, 8 n]."""
    nib = nibbles(words).reshape(words.shape[0], -1)
    idx = np.arange(nib.shape[1]).reshape(-1, 8)[:, AWQ_REVERSE_ORDER].reshape(-1)
    return nib[:, idx]


def quantize_layer(w, g, sym, v1):
    """W [out, in] float32 -> q [in, out], stored zeros [in / g, out], scales f16 [in / g, out]."""
    out_f, in_f = w.shape
    wg = w.reshape(out_f, in_f // g, g).astype(np.float32)
    if sym:
        s = (np.maximum(np.abs(wg).max(axis=2), np.float32(1e-5)) / np.float32(7.5)).astype(np.float16)
        z = np.full(s.shape, 8.0, dtype=np.float32)
    else:
        mx, mn = wg.max(axis=2), wg.min(axis=2)
        s = (np.maximum(mx - mn, np.float32(1e-5)) / np.float32(15)).astype(np.float16)
        z = np.clip(np.round(-mn / s.astype(np.float32)), 1 if v1 else 0, 15)
    sf = s.astype(np.float32)
    q = np.clip(np.round(wg / sf[:, :, None]) + z[:, :, None], 0, 15).astype(np.int64).reshape(out_f, in_f)
    stored = z.astype(np.int64) - (1 if v1 else 0)
    return q.T, stored.T, s.T.copy()


def quantize(in_dir, out_dir, fmt, g, sym, v2, g_idx, extra, drop, keep):
    tensors, metadata = load_dir(in_dir)
    out = []
    for name, (dtype, shape, raw) in tensors.items():
        if name in drop:
            continue
        w = to_f32(dtype, shape, raw)
        if is_linear(name) and name not in keep:
            gs = w.shape[1] if g == -1 else g
            q, z, s = quantize_layer(w, gs, sym and fmt == "gptq", fmt == "gptq" and not v2)
            parts = [(".qweight", "I32", pack_columns(q, AWQ_ORDER) if fmt == "awq" else pack_rows(q)),
                     (".qzeros", "I32", pack_columns(z, AWQ_ORDER if fmt == "awq" else range(8))),
                     (".scales", "F16", s)]
            if g_idx:
                parts.append((".g_idx", "I32", (np.arange(w.shape[1]) // gs).astype(np.int32)))
            base = name[:-len(".weight")]
            for part, dt, a in parts:
                if base + part not in drop:
                    out.append((base + part, dt, a.shape, a.astype("<i4" if dt == "I32" else "<f2").tobytes()))
        else:
            out.append((name, "F16", shape, w.astype("<f2").tobytes()))
    cfg = json.load(open(os.path.join(in_dir, "config.json")))
    cfg["torch_dtype"] = "float16"
    if fmt == "awq":
        qc = {"bits": 4, "group_size": g, "modules_to_not_convert": None, "quant_method": "awq",
              "version": "gemm", "zero_point": True}
    else:
        qc = {"bits": 4, "group_size": g, "desc_act": False, "sym": sym, "true_sequential": True,
              "quant_method": "gptq", "checkpoint_format": "gptq_v2" if v2 else "gptq"}
    qc.update(extra)
    cfg["quantization_config"] = qc
    write_model(in_dir, out_dir, cfg, out, metadata)


def dequantize(in_dir, out_dir):
    tensors, metadata = load_dir(in_dir)
    cfg = json.load(open(os.path.join(in_dir, "config.json")))
    qc = cfg.pop("quantization_config")
    awq = qc["quant_method"] == "awq"
    out = []
    for name, (dtype, shape, raw) in tensors.items():
        if name.endswith((".qzeros", ".scales", ".g_idx")):
            continue
        if name.endswith(".qweight"):
            base = name[:-len(".qweight")]
            words = np.frombuffer(raw, dtype="<i4").reshape(shape)
            if awq:
                q = unpack_awq(words)  # [in, out]
            else:
                q = nibbles(words).transpose(0, 2, 1).reshape(shape[0] * 8, shape[1])  # row 8r + j
            zd, zs, zr = tensors[base + ".qzeros"]
            zw = np.frombuffer(zr, dtype="<i4").reshape(zs)
            z = unpack_awq(zw) if awq else nibbles(zw).reshape(zs[0], -1)  # [groups, out]
            if not awq and qc.get("checkpoint_format", "gptq") == "gptq":
                z = z + 1
            sd, ss, sr = tensors[base + ".scales"]
            s = to_f32(sd, ss, sr)  # [groups, out]
            n_in = q.shape[0]
            if base + ".g_idx" in tensors:
                gi = np.frombuffer(tensors[base + ".g_idx"][2], dtype="<i4").astype(np.int64)
            else:
                gs = n_in if qc["group_size"] == -1 else qc["group_size"]
                gi = np.arange(n_in) // gs
            w = ((q - z[gi]).astype(np.float32) * s[gi]).T
            out.append((base + ".weight", "F32", list(w.shape), np.ascontiguousarray(w).astype("<f4").tobytes()))
        else:
            out.append((name, "F32", shape, to_f32(dtype, shape, raw).astype("<f4").tobytes()))
    cfg["torch_dtype"] = "float32"
    write_model(in_dir, out_dir, cfg, out, metadata)


def main():
    args = sys.argv[1:]
    if len(args) >= 3 and args[0] == "quantize":
        opts = {"fmt": "awq", "g": 128, "sym": False, "v2": False, "g_idx": False, "extra": {}, "drop": [],
                "keep": []}
        rest = args[3:]
        while rest:
            flag = rest.pop(0)
            if flag == "--format":
                opts["fmt"] = rest.pop(0)
            elif flag == "--group":
                opts["g"] = int(rest.pop(0))
            elif flag in ("--sym", "--v2", "--g-idx"):
                opts[flag[2:].replace("-", "_")] = True
            elif flag == "--config":
                opts["extra"].update(json.loads(rest.pop(0)))
            elif flag in ("--drop", "--keep"):
                opts[flag[2:]].append(rest.pop(0))
            else:
                sys.exit(f"unknown option {flag}")
        quantize(args[1], args[2], **opts)
    elif len(args) == 3 and args[0] == "dequantize":
        dequantize(args[1], args[2])
    else:
        sys.exit(__doc__)


if __name__ == "__main__":
    main()
