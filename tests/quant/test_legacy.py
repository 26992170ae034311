#!/usr/bin/env python3
"""GGUF Q4_1, Q5_0 and Q5_1 (qwen3 quantize --type q4_1|q5_0|q5_1, and files mixing them per tensor) against
independent computations:
  1. the file read by tools/reference/kquants.py (a NumPy GGUF reader and block decoder written from the ggml
     spec): every matrix of the type, f32 norms, general.file_type, each matrix's error from the f32 original;
  2. the engine's decoding: `qwen3 eval --dtype f32` (every block decoded at load, exact f32 matmuls) against
     tools/reference/qwen3_ref.py (float64) on the NumPy-decoded weights: 1e-4 of the logit range;
  3. the native kernels (int8 activations per 32 values) on every ISA the CPU runs: within 2 % of the logit
     range of that reference, the same greedy tokens where its top-2 gap is clear, the same greedy tokens on
     every ISA and the same logits within 1e-5 of the range on the SIMD ones (the matmuls are bitwise equal on
     every ISA, matmul_test.cpp; the prompt attention kernels differ in last bits);
  4. a GGUF file whose tensors are of different types (q5_1, q5_0 and q4_1 layers, a q4_1 embedding), made
     here from the three files, read and run as 2. and 3.;
  5. --dtype q4_1|q5_0|q5_1 converts a bf16 model at load and gives what the GGUF file of that type gives.
Usage: test_legacy.py QWEN3 QWEN3_REF_PY KQUANTS_PY WORK_DIR
"""
import json
import os
import shutil
import struct
import subprocess
import sys

import numpy as np

QWEN3, REF, KQ, WORK = sys.argv[1:5]
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import STDIN, check, eval_lines, finish, load, qwen3  # noqa: E402


kq = load(KQ, "kquants")
ref = load(REF, "qwen3_ref")

TYPES = {"q4_1": 3, "q5_0": 8, "q5_1": 9}  # general.file_type (llama_ftype)
# Relative RMS error bound per type for the synthetic weights (uniform per row; measured at most 0.062,
# 0.032 and 0.030): a decoding or packing error is far above it.
RMS_BOUND = {"q4_1": 0.075, "q5_0": 0.04, "q5_1": 0.036}


def write_mixed_gguf(path, sources, pick):
    """A GGUF file with the metadata of sources[0] and each tensor taken from sources[pick(name)]: the key/value
    section copied byte for byte, the tensor infos and data written anew (general.alignment)."""
    files = []
    for src in sources:
        with open(src, "rb") as f:
            raw = f.read()
        meta, tensors = kq.read_gguf(src)
        files.append((raw, tensors))
    a = kq.read_gguf(sources[0])[0].get("general.alignment", 32)
    data0, tensors0 = files[0]
    name0, shape0, _, _, type_pos0 = tensors0[0]
    kv_end = type_pos0 - (8 + len(name0.encode()) + 4 + 8 * len(shape0))
    out = bytearray(data0[:kv_end])
    blobs, offset = [], 0
    for i, (name, shape, _, _, _) in enumerate(tensors0):
        src_data, src_tensors = files[pick(name)]
        _, _, tname, raw, type_pos = src_tensors[i]
        assert src_tensors[i][0] == name
        ggml_type = struct.unpack_from("<I", src_data, type_pos)[0]
        out += struct.pack("<Q", len(name.encode())) + name.encode()
        out += struct.pack("<I", len(shape)) + b"".join(struct.pack("<Q", n) for n in reversed(shape))
        out += struct.pack("<IQ", ggml_type, offset)
        blobs.append(raw)
        offset += (len(raw) + a - 1) // a * a
    out += b"\0" * ((a - len(out) % a) % a)
    for raw in blobs:
        out += raw + b"\0" * ((a - len(raw) % a) % a)
    with open(path, "wb") as f:
        f.write(out)


def decoded_model(path, f32_dir, name, original=None, expect_type=None):
    """The reference's model directory for a GGUF file: its tensors decoded by kquants.py."""
    meta, tensors = kq.read_gguf(path)
    deq = os.path.join(WORK, "deq-" + name)
    os.makedirs(deq, exist_ok=True)
    for fn in os.listdir(f32_dir):
        if not fn.endswith(".safetensors"):
            shutil.copy(os.path.join(f32_dir, fn), deq)
    arrays = {}
    for tname_gguf, shape, tname, raw, _ in tensors:
        values = kq.decode(tname, raw, int(np.prod(shape))).reshape(shape)
        hf = kq.hf_name(tname_gguf)
        arrays[hf] = values
        if expect_type:
            want = "f32" if tname_gguf.endswith("_norm.weight") else expect_type
            check(tname == want, "%s: %s is %s, expected %s" % (name, tname_gguf, tname, want))
        if original is not None and tname in RMS_BOUND:
            orig = original[hf]
            rel = float(np.sqrt(np.mean((values - orig) ** 2) / np.mean(orig ** 2)))
            check(rel < RMS_BOUND[tname], "%s: %s (%s) relative RMS error %.4f, bound %.4f" %
                  (name, tname_gguf, tname, rel, RMS_BOUND[tname]))
    kq.write_safetensors(os.path.join(deq, "model.safetensors"), arrays)
    return meta, deq


def compare_all(name, path, deq):
    out = subprocess.run([sys.executable, REF, deq], input=STDIN, capture_output=True, text=True, check=True)
    want = [json.loads(line) for line in out.stdout.splitlines() if line.strip()]
    # 2. the engine's decoding, exact f32 arithmetic after it
    for i, (g, w) in enumerate(zip(eval_lines(path, "--dtype", "f32"), want)):
        gl, wl = np.array(g["logits"]), np.array(w["logits"])
        span = wl.max() - wl.min()
        err = np.abs(gl - wl).max()
        check(err <= 1e-4 * span, "%s: --dtype f32 logits of request %d differ from the reference on the "
              "NumPy-decoded weights by %.3g (range %.3g)" % (name, i, err, span))
    # 3. the native kernels: every ISA alike, near the reference
    runs = {}
    for isa in ("scalar", "avx2", "avx512"):
        try:
            runs[isa] = eval_lines(path, env={"QWEN3_ISA": isa})
        except RuntimeError as e:
            if "cannot run it" not in str(e):
                raise
    check("scalar" in runs and len(runs) >= 2, name + ": ISAs run", list(runs))
    for isa, lines in runs.items():
        check([x["greedy"] for x in lines] == [x["greedy"] for x in runs["scalar"]],
              "%s: %s greedy tokens differ from the scalar kernels'" % (name, isa))
    if "avx2" in runs and "avx512" in runs:  # the matmuls are bitwise equal (matmul_test.cpp); the prompt
        # attention kernels of the two ISAs differ in last bits past 32 positions, on f32 weights too
        for a, b in zip(runs["avx2"], runs["avx512"]):
            a, b = np.array(a["logits"]), np.array(b["logits"])
            check(np.abs(a - b).max() <= 1e-5 * (b.max() - b.min()), name + ": avx2 and avx512 logits differ",
                  np.abs(a - b).max())
    for lines in runs.values():
        for i, (g, w) in enumerate(zip(lines, want)):
            gl, wl = np.array(g["logits"]), np.array(w["logits"])
            span = wl.max() - wl.min()
            err = np.abs(gl - wl).max()
            check(err <= 0.02 * span, "%s: native logits of request %d: max error %.3g, range %.3g" %
                  (name, i, err, span))
            for k, (gt, wt, gap) in enumerate(zip(g["greedy"], w["greedy"], w["gaps"])):
                if gap > 0.05 * span:
                    check(gt == wt, "%s: request %d greedy step %d: %d, reference %d (gap %.3g)" %
                          (name, i, k, gt, wt, gap))
                if gt != wt:
                    break
    return runs


def main():
    os.makedirs(WORK, exist_ok=True)
    f32 = os.path.join(WORK, "tiny-f32")
    r = qwen3("synth", "--preset", "tiny", "--out", f32, "--dtype", "f32", "--seed", "7")
    assert r.returncode == 0, r.stderr
    bf16 = os.path.join(WORK, "tiny-bf16")
    r = qwen3("synth", "--preset", "tiny", "--out", bf16, "--dtype", "bf16", "--seed", "7")
    assert r.returncode == 0, r.stderr
    original = ref.load_weights(f32)

    paths = {}
    for t, file_type in TYPES.items():
        path = paths[t] = os.path.join(WORK, "tiny-%s.gguf" % t)
        r = qwen3("quantize", "-m", f32, "-o", path, "--type", t)
        check(r.returncode == 0, t + ": qwen3 quantize", r.stderr)
        meta, deq = decoded_model(path, f32, t, original, t)
        check(meta.get("general.file_type") == file_type, t + ": general.file_type", meta.get("general.file_type"))
        runs = compare_all(t, path, deq)
        # 5. --dtype T at load of the bf16 model: the same matrices as quantising its f32 copy (bf16 weights
        # are exact in f32), so the same logits as the GGUF file
        if "avx512" in runs or "avx2" in runs:
            isa = "avx512" if "avx512" in runs else "avx2"
            got = eval_lines(bf16, "--dtype", t, env={"QWEN3_ISA": isa})
            gguf_bf16 = os.path.join(WORK, "tiny-bf16-%s.gguf" % t)
            r = qwen3("quantize", "-m", bf16, "-o", gguf_bf16, "--type", t)
            check(r.returncode == 0, t + ": quantize the bf16 model", r.stderr)
            check(got == eval_lines(gguf_bf16, env={"QWEN3_ISA": isa}),
                  t + ": --dtype at load differs from the GGUF file of that type")
        print("%s: ok" % t, flush=True)

    # 4. one file, three types: layer 0 q5_1, layer 1 q5_0, the rest (the tied embedding) q4_1
    order = ["q4_1", "q5_1", "q5_0"]

    def pick(name):
        if name.startswith("blk.0."):
            return 1
        if name.startswith("blk.1."):
            return 2
        return 0

    mixed = os.path.join(WORK, "tiny-mixed.gguf")
    write_mixed_gguf(mixed, [paths[t] for t in order], pick)
    _, tensors = kq.read_gguf(mixed)
    types = {name: tname for name, _, tname, _, _ in tensors}
    check(types["blk.0.ffn_up.weight"] == "q5_1" and types["blk.1.attn_q.weight"] == "q5_0" and
          types["token_embd.weight"] == "q4_1", "the mixed file's types", types)
    _, deq = decoded_model(mixed, f32, "mixed")
    compare_all("mixed", mixed, deq)
    print("mixed: ok", flush=True)

    finish()


if __name__ == "__main__":
    main()
