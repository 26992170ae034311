#!/usr/bin/python3
"""An independent NumPy reader of GGUF files and decoder of ggml's block types (q8_0, q4_0, q4_1, q5_0, q5_1,
q2_K, q3_K, q4_K, q5_K, q6_K).

Written from the ggml block specification (ggml-common.h's structs and the dequantize_row_* rules of
ggml-quants.c), sharing no code with the engine. The arithmetic is float32 in ggml's order, so a correct
decoder elsewhere gives the same bits. Used by tests/quant/test_kquants.py and
tests/quant/test_legacy.py.

Usage as a tool:
  kquants.py FILE.gguf --to-safetensors DIR   writes DIR/model.safetensors with every tensor decoded to F32
                                             under its Hugging Face name (DIR/config.json must be given by
                                             the caller), and prints {"types": {name: ggml type}} as JSON.
"""
import json
import struct
import sys

import numpy as np

GGML_TYPES = {0: "f32", 1: "f16", 2: "q4_0", 3: "q4_1", 6: "q5_0", 7: "q5_1", 8: "q8_0", 10: "q2_K", 11: "q3_K",
              12: "q4_K", 13: "q5_K", 14: "q6_K", 30: "bf16"}
# (values per block, bytes per block)
BLOCK = {"f32": (1, 4), "f16": (1, 2), "bf16": (1, 2), "q4_0": (32, 18), "q8_0": (32, 34),
         "q4_1": (32, 20), "q5_0": (32, 22), "q5_1": (32, 24),
         "q2_K": (256, 84), "q3_K": (256, 110), "q4_K": (256, 144), "q5_K": (256, 176), "q6_K": (256, 210)}


def _f16(blocks, off):
    return np.ascontiguousarray(blocks[:, off:off + 2]).view(np.float16)[:, 0].astype(np.float32)


def _scale_min_k4(sc12):
    """ggml's get_scale_min_k4 for j = 0..7: two [n_blocks, 8] uint8 arrays (6-bit scales, mins)."""
    sc = np.zeros((sc12.shape[0], 8), np.uint8)
    mn = np.zeros((sc12.shape[0], 8), np.uint8)
    for j in range(8):
        if j < 4:
            sc[:, j] = sc12[:, j] & 63
            mn[:, j] = sc12[:, j + 4] & 63
        else:
            sc[:, j] = (sc12[:, j + 4] & 0xF) | ((sc12[:, j - 4] >> 6) << 4)
            mn[:, j] = (sc12[:, j + 4] >> 4) | ((sc12[:, j] >> 6) << 4)
    return sc, mn


def decode(type_name, raw, n_values):
    """The n_values float32 values of a tensor stored as `raw` bytes of ggml type `type_name`."""
    per, size = BLOCK[type_name]
    data = np.frombuffer(raw, np.uint8)
    if type_name == "f32":
        return data.view(np.float32).copy()
    if type_name == "f16":
        return data.view(np.float16).astype(np.float32)
    if type_name == "bf16":
        return (data.view(np.uint16).astype(np.uint32) << 16).view(np.float32)
    b = data.reshape(-1, size)
    n = b.shape[0]
    y = np.zeros((n, per), np.float32)
    if type_name == "q8_0":
        d = _f16(b, 0)
        y[:] = d[:, None] * b[:, 2:].view(np.int8).astype(np.float32)
    elif type_name == "q4_0":
        d = _f16(b, 0)
        qs = b[:, 2:18]
        y[:, :16] = d[:, None] * ((qs & 0xF).astype(np.float32) - 8)
        y[:, 16:] = d[:, None] * ((qs >> 4).astype(np.float32) - 8)
    elif type_name in ("q4_1", "q5_0", "q5_1"):
        # d (f16), then m (f16) for the _1 types, qh (uint32: bit j = the fifth bit of value j) for the 5-bit
        # ones, then 16 bytes: value j in the low nibble of byte j, value j + 16 in its high nibble
        d = _f16(b, 0)
        off = 4 if type_name != "q5_0" else 2
        m = _f16(b, 2) if type_name != "q5_0" else None
        q = np.concatenate([b[:, size - 16:] & 0xF, b[:, size - 16:] >> 4], axis=1).astype(np.int32)
        if type_name != "q4_1":
            qh = np.ascontiguousarray(b[:, off:off + 4]).view("<u4")[:, 0].astype(np.int64)
            q = q + (((qh[:, None] >> np.arange(32)[None, :]) & 1) * 16).astype(np.int32)
        if type_name == "q5_0":
            y[:] = (q - 16).astype(np.float32) * d[:, None]
        else:
            y[:] = q.astype(np.float32) * d[:, None] + m[:, None]
    elif type_name in ("q4_K", "q5_K"):
        d, dmin = _f16(b, 0), _f16(b, 2)
        sc, mn = _scale_min_k4(b[:, 4:16])
        q5 = type_name == "q5_K"
        qh = b[:, 16:48] if q5 else None
        qs = b[:, 48:176] if q5 else b[:, 16:144]
        for j in range(8):
            nib = qs[:, 32 * (j // 2):32 * (j // 2) + 32]
            q = (nib & 0xF) if j % 2 == 0 else (nib >> 4)
            q = q.astype(np.int32)
            if q5:
                q = q + ((qh >> j) & 1).astype(np.int32) * 16
            dl = d * sc[:, j].astype(np.float32)
            ml = dmin * mn[:, j].astype(np.float32)
            y[:, 32 * j:32 * j + 32] = dl[:, None] * q.astype(np.float32) - ml[:, None]
    elif type_name in ("q2_K", "q3_K"):
        # 16 groups of 16 values. Value 128h + 32s + l: bits 2s, 2s+1 of qs[32h + l]; q3_K's third bit is bit
        # 4h + s of hmask[l] (set: value q, clear: q - 4).
        q2 = type_name == "q2_K"
        qs = b[:, 16:80] if q2 else b[:, 32:96]
        if q2:  # scales[16]: low nibble the scale, high nibble the min; then d, dmin
            sc, mn = (b[:, 0:16] & 0xF).astype(np.float32), (b[:, 0:16] >> 4).astype(np.float32)
            d, dmin = _f16(b, 80), _f16(b, 82)
        else:  # 12 bytes of 6-bit scales: low 4 bits in bytes 0-7 (low then high nibbles), top 2 in bytes 8-11
            packed = b[:, 96:108].astype(np.int32)
            sc = np.zeros((n, 16), np.float32)
            for j in range(16):
                low = packed[:, j] & 0xF if j < 8 else packed[:, j - 8] >> 4
                top = (packed[:, 8 + j % 4] >> (2 * (j // 4))) & 3
                sc[:, j] = (low | (top << 4)) - 32
            d = _f16(b, 108)
        for h in range(2):
            for s in range(4):
                q = ((qs[:, 32 * h:32 * h + 32] >> (2 * s)) & 3).astype(np.int32)
                if not q2:
                    q = q - 4 * (1 - ((b[:, 0:32] >> (4 * h + s)) & 1).astype(np.int32))
                for half in range(2):
                    g = 8 * h + 2 * s + half
                    cols = slice(16 * g, 16 * g + 16)
                    vals = q[:, 16 * half:16 * half + 16].astype(np.float32)
                    if q2:
                        y[:, cols] = (d * sc[:, g])[:, None] * vals - (dmin * mn[:, g])[:, None]
                    else:
                        y[:, cols] = (d * sc[:, g])[:, None] * vals
    elif type_name == "q6_K":
        ql, qh = b[:, 0:128], b[:, 128:192]
        scales = b[:, 192:208].view(np.int8).astype(np.float32)
        d = _f16(b, 208)
        for h in range(2):
            for s in range(4):
                lo = ql[:, 64 * h + 32 * (s & 1):64 * h + 32 * (s & 1) + 32]
                nib = (lo & 0xF) if s < 2 else (lo >> 4)
                hb = (qh[:, 32 * h:32 * h + 32] >> (2 * s)) & 3
                q = (nib.astype(np.int32) | (hb.astype(np.int32) << 4)) - 32
                for half in range(2):  # 16 values per scale
                    sc = scales[:, 8 * h + 2 * s + half]
                    cols = slice(128 * h + 32 * s + 16 * half, 128 * h + 32 * s + 16 * half + 16)
                    y[:, cols] = (d * sc)[:, None] * q[:, 16 * half:16 * half + 16].astype(np.float32)
    else:
        raise ValueError("no decoder for " + type_name)
    return y.reshape(-1)[:n_values]


def read_gguf(path):
    """(metadata dict, [(name, shape outermost first, type name, raw bytes, file offset of the type field)])."""
    with open(path, "rb") as f:
        data = f.read()
    pos = 0

    def take(fmt):
        nonlocal pos
        v = struct.unpack_from("<" + fmt, data, pos)
        pos += struct.calcsize("<" + fmt)
        return v[0]

    def string():
        nonlocal pos
        n = take("Q")
        s = data[pos:pos + n].decode("utf-8")
        pos += n
        return s

    scalar = {0: "B", 1: "b", 2: "H", 3: "h", 4: "I", 5: "i", 6: "f", 7: "?", 10: "Q", 11: "q", 12: "d"}

    def value(t):
        if t in scalar:
            return take(scalar[t])
        if t == 8:
            return string()
        if t == 9:
            et, n = take("I"), take("Q")
            return [value(et) for _ in range(n)]
        raise ValueError("bad GGUF value type %d" % t)

    assert take("I") == 0x46554747, "not a GGUF file"
    version = take("I")
    assert version == 3, version
    n_tensors, n_kv = take("Q"), take("Q")
    meta = {}
    for _ in range(n_kv):
        key = string()
        meta[key] = value(take("I"))
    infos = []
    for _ in range(n_tensors):
        name = string()
        ne = [take("Q") for _ in range(take("I"))]
        type_pos = pos
        infos.append((name, ne, take("I"), take("Q"), type_pos))
    align = meta.get("general.alignment", 32)
    base = (pos + align - 1) // align * align
    tensors = []
    for name, ne, t, off, type_pos in infos:
        tname = GGML_TYPES.get(t, "type %d" % t)
        count = int(np.prod(ne))
        per, size = BLOCK.get(tname, (1, 0))
        n_bytes = count // per * size
        tensors.append((name, list(reversed(ne)), tname, data[base + off:base + off + n_bytes], type_pos))
    return meta, tensors


HF_NAMES = {"token_embd": "model.embed_tokens", "output_norm": "model.norm", "output": "lm_head"}
LAYER = {"attn_norm": "input_layernorm", "attn_q": "self_attn.q_proj", "attn_k": "self_attn.k_proj",
         "attn_v": "self_attn.v_proj", "attn_output": "self_attn.o_proj", "attn_q_norm": "self_attn.q_norm",
         "attn_k_norm": "self_attn.k_norm", "ffn_norm": "post_attention_layernorm", "ffn_gate": "mlp.gate_proj",
         "ffn_up": "mlp.up_proj", "ffn_down": "mlp.down_proj"}


def hf_name(gguf_name):
    base = gguf_name[:-len(".weight")]
    if base in HF_NAMES:
        return HF_NAMES[base] + ".weight"
    _, il, what = base.split(".", 2)
    return "model.layers.%s.%s.weight" % (il, LAYER[what])


def write_safetensors(path, arrays):
    header, offset, blobs = {}, 0, []
    for name, a in arrays.items():
        raw = np.ascontiguousarray(a, np.float32).tobytes()
        header[name] = {"dtype": "F32", "shape": list(a.shape), "data_offsets": [offset, offset + len(raw)]}
        blobs.append(raw)
        offset += len(raw)
    h = json.dumps(header).encode()
    h += b" " * ((8 - len(h) % 8) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(h)))
        f.write(h)
        for raw in blobs:
            f.write(raw)


def main():
    if len(sys.argv) != 4 or sys.argv[2] != "--to-safetensors":
        sys.exit(__doc__)
    _, tensors = read_gguf(sys.argv[1])
    arrays, types = {}, {}
    for name, shape, tname, raw, _ in tensors:
        arrays[hf_name(name)] = decode(tname, raw, int(np.prod(shape))).reshape(shape)
        types[name] = tname
    write_safetensors(sys.argv[3] + "/model.safetensors", arrays)
    print(json.dumps({"types": types}))


if __name__ == "__main__":
    main()
