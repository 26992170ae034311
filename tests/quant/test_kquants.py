#!/usr/bin/env python3
"""k-quant GGUF files (qwen3 quantize --type q4_k_m|q5_k_m|q6_k|q3_k_m|q3_k_s|q3_k_l|q2_k) against independent
computations:
  1. the file read by tools/reference/kquants.py (a NumPy GGUF reader and block decoder written from the ggml
     spec): llama.cpp's per-tensor mix (q6_K output/tied embeddings, q6_K attn_v/ffn_down where
     use_more_bits, the q2_k/q3_k mixes' attn_v, ffn_down and attn_output, f32 norms, general.file_type) and
     each matrix's error from the f32 original;
  2. the engine's decoding: `qwen3 eval --dtype f32` of the GGUF (every block decoded at load, exact f32
     matmuls) against tools/reference/qwen3_ref.py (float64) on the NumPy-decoded weights: 1e-4 of the logit
     range;
  3. the native k-quant kernels (int8 activations per 256 values) on every ISA the CPU runs: within 2 % of
     the logit range of that reference, the same greedy tokens where the reference's top-2 gap is clear, the
     same greedy tokens on every ISA and the same logits bit for bit on the SIMD ones (the matmuls are bitwise
     equal on every ISA, matmul_test.cpp; the scalar attention's last-bit differences can flip an activation's
     int8 rounding, so the scalar run is held to the reference's bound only);
  4. the whole model's error: each mix's native logits against the reference on the f32 original, within a
     bound per mix that orders them (q6_k < q5_k_m < q4_k_m < q3_k_* < q2_k);
  5. bad input: a tensor of a type the engine has no kernels for gets one clear line and exit status 1.
Usage: test_kquants.py QWEN3 QWEN3_REF_PY KQUANTS_PY WORK_DIR
"""
import json
import os
import shutil
import subprocess
import sys

import numpy as np

QWEN3, REF, KQ, WORK = sys.argv[1:5]
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import STDIN, check, eval_lines, finish, load, qwen3  # noqa: E402


kq = load(KQ, "kquants")
ref = load(REF, "qwen3_ref")


# Relative RMS error bound per type for the synthetic weights (uniform per row; measured about 0.233, 0.126,
# 0.058, 0.029, 0.021 and 0.0045): a decoding or packing error is far above it.
RMS_BOUND = {"q2_K": 0.29, "q3_K": 0.16, "q4_K": 0.075, "q5_K": 0.038, "q6_K": 0.03, "q8_0": 0.008}
BASE = {"q4_k_m": "q4_K", "q5_k_m": "q5_K", "q6_k": "q6_K", "q3_k_m": "q3_K", "q3_k_s": "q3_K",
        "q3_k_l": "q3_K", "q2_k": "q2_K"}
FILE_TYPE = {"q4_k_m": 15, "q5_k_m": 17, "q6_k": 18, "q3_k_m": 12, "q3_k_s": 11, "q3_k_l": 13, "q2_k": 10}
# Max native logit error against the reference on the f32 original, as a fraction of its logit range (measured
# 0.033, 0.060, 0.106, 0.139, 0.146, 0.220, 0.350 in MODEL_ORDER's order, q3_k_l before q3_k_m), and the mixes
# whose errors must rise in this order.
MODEL_BOUND = {"q6_k": 0.05, "q5_k_m": 0.09, "q4_k_m": 0.16, "q3_k_l": 0.21, "q3_k_m": 0.22, "q3_k_s": 0.33,
               "q2_k": 0.5}
MODEL_ORDER = ["q6_k", "q5_k_m", "q4_k_m", "q3_k_m", "q3_k_s", "q2_k"]


def use_more_bits(i, n):
    return i < n // 8 or i >= 7 * n // 8 or (i - n // 8) % 3 == 2


def expected_type(mix, name, config):
    """llama.cpp's llama_tensor_get_type for a dense, non-Falcon model (src/llama-quant.cpp)."""
    n_layers = config["num_hidden_layers"]
    if name.endswith("_norm.weight"):
        return "f32"
    if name == "token_embd.weight":  # tied: the output matrix
        return "q6_K"
    il = int(name.split(".")[1])
    if ".attn_v." in name:
        if mix == "q2_k":
            return "q4_K" if config["num_attention_heads"] >= 4 * config["num_key_value_heads"] else "q3_K"
        if mix == "q3_k_m":
            return "q5_K" if il < 2 else "q4_K"
        if mix == "q3_k_l":
            return "q5_K"
    if ".ffn_down." in name:
        if mix == "q2_k":
            return "q3_K"
        if mix == "q3_k_m":
            return "q5_K" if il < n_layers // 16 else "q4_K"
        if mix == "q3_k_l":
            return "q5_K"
    if ".attn_output." in name and mix in ("q2_k", "q3_k_m", "q3_k_l"):
        return {"q2_k": "q3_K", "q3_k_m": "q4_K", "q3_k_l": "q5_K"}[mix]
    if mix in ("q4_k_m", "q5_k_m") and (".attn_v." in name or ".ffn_down." in name) and use_more_bits(il, n_layers):
        return "q6_K"
    return BASE[mix]


def main():
    os.makedirs(WORK, exist_ok=True)
    f32 = os.path.join(WORK, "tiny-k-f32")
    r = qwen3("synth", "--preset", "tiny-k", "--out", f32, "--dtype", "f32", "--seed", "7")
    assert r.returncode == 0, r.stderr
    original = ref.load_weights(f32)
    with open(os.path.join(f32, "config.json")) as f:
        config = json.load(f)
    out = subprocess.run([sys.executable, REF, f32], input=STDIN, capture_output=True, text=True, check=True)
    want_f32 = [json.loads(line) for line in out.stdout.splitlines() if line.strip()]
    model_err = {}

    for mix in ("q4_k_m", "q5_k_m", "q6_k", "q3_k_m", "q3_k_s", "q3_k_l", "q2_k"):
        path = os.path.join(WORK, "tiny-k-%s.gguf" % mix)
        r = qwen3("quantize", "-m", f32, "-o", path, "--type", mix)
        check(r.returncode == 0, mix + ": qwen3 quantize", r.stderr)
        meta, tensors = kq.read_gguf(path)
        check(meta.get("general.file_type") == FILE_TYPE[mix], mix + ": general.file_type",
              meta.get("general.file_type"))
        deq = os.path.join(WORK, "deq-" + mix)
        os.makedirs(deq, exist_ok=True)
        for name in os.listdir(f32):
            if not name.endswith(".safetensors"):
                shutil.copy(os.path.join(f32, name), deq)
        arrays = {}
        for name, shape, tname, raw, _ in tensors:
            want = expected_type(mix, name, config)
            check(tname == want, "%s: %s is %s, llama.cpp's mix has %s" % (mix, name, tname, want))
            values = kq.decode(tname, raw, int(np.prod(shape))).reshape(shape)
            hf = kq.hf_name(name)
            arrays[hf] = values
            if tname in RMS_BOUND:
                orig = original[hf]
                rel = np.sqrt(np.mean((values - orig) ** 2) / np.mean(orig ** 2))
                check(rel < RMS_BOUND[tname], "%s: %s (%s) relative RMS error %.4f, bound %.4f" %
                      (mix, name, tname, rel, RMS_BOUND[tname]))
        kq.write_safetensors(os.path.join(deq, "model.safetensors"), arrays)

        # The reference on the NumPy-decoded weights.
        out = subprocess.run([sys.executable, REF, deq], input=STDIN, capture_output=True, text=True, check=True)
        want = [json.loads(line) for line in out.stdout.splitlines() if line.strip()]
        # 2. the engine's decoding, exact f32 arithmetic after it
        got = eval_lines(path, "--dtype", "f32")
        for i, (g, w) in enumerate(zip(got, want)):
            gl, wl = np.array(g["logits"]), np.array(w["logits"])
            span = wl.max() - wl.min()
            err = np.abs(gl - wl).max()
            check(err <= 1e-4 * span, "%s: --dtype f32 logits of request %d differ from the reference on the "
                  "NumPy-decoded weights by %.3g (range %.3g)" % (mix, i, err, span))
        # 3. the native kernels: every ISA alike, near the reference
        isa_runs = {}
        for isa in ("scalar", "avx2", "avx512"):
            try:
                isa_runs[isa] = eval_lines(path, env={"QWEN3_ISA": isa})
            except RuntimeError as e:
                if "cannot run it" not in str(e):
                    raise
        check("scalar" in isa_runs and len(isa_runs) >= 2, mix + ": ISAs run", list(isa_runs))
        base = isa_runs["scalar"]
        for isa, lines in isa_runs.items():
            check([x["greedy"] for x in lines] == [x["greedy"] for x in base],
                  "%s: %s greedy tokens differ from the scalar kernels'" % (mix, isa))
        if "avx2" in isa_runs and "avx512" in isa_runs:
            check(isa_runs["avx2"] == isa_runs["avx512"], mix + ": avx2 and avx512 logits differ")
        for i, (g, w) in ((i, gw) for lines in isa_runs.values() for i, gw in enumerate(zip(lines, want))):
            gl, wl = np.array(g["logits"]), np.array(w["logits"])
            span = wl.max() - wl.min()
            err = np.abs(gl - wl).max()
            check(err <= 0.02 * span, "%s: native logits of request %d: max error %.3g, range %.3g" %
                  (mix, i, err, span))
            for k, (gt, wt, gap) in enumerate(zip(g["greedy"], w["greedy"], w["gaps"])):
                if gap > 0.05 * span:
                    check(gt == wt, "%s: request %d greedy step %d: %d, reference %d (gap %.3g)" %
                          (mix, i, k, gt, wt, gap))
                if gt != wt:
                    break
        # 4. the whole model's error from the f32 original
        model_err[mix] = max(np.abs(np.array(g["logits"]) - np.array(w["logits"])).max() /
                             (np.max(w["logits"]) - np.min(w["logits"]))
                             for g, w in zip(isa_runs["scalar"], want_f32))
        check(model_err[mix] <= MODEL_BOUND[mix], "%s: logits %.4f of the range from the f32 model's, bound %.4f" %
              (mix, model_err[mix], MODEL_BOUND[mix]))
        print("%s: ok (%d tensors), logits within %.4f of the f32 model's range" % (mix, len(tensors),
                                                                                 model_err[mix]), flush=True)
    errs = [model_err[m] for m in MODEL_ORDER]
    check(errs == sorted(errs), "the mixes' errors from the f32 model rise in the order " + " < ".join(MODEL_ORDER),
          model_err)

    # 5. an iq2_xxs tensor (no kernels here): one clear line, exit 1
    path = os.path.join(WORK, "tiny-k-q4_k_m.gguf")
    bad = os.path.join(WORK, "bad-type.gguf")
    _, tensors = kq.read_gguf(path)
    with open(path, "rb") as f:
        data = bytearray(f.read())
    pos = [t[4] for t in tensors if t[0] == "blk.0.ffn_up.weight"][0]
    data[pos:pos + 4] = (16).to_bytes(4, "little")
    with open(bad, "wb") as f:
        f.write(data)
    r = qwen3("eval", "-m", bad, "--jsonl", stdin=STDIN)
    lines = r.stderr.strip().splitlines()
    check(r.returncode == 1 and len(lines) == 1 and "iq2_xxs" in lines[0] and "blk.0.ffn_up.weight" in lines[0],
          "unsupported tensor type: exit 1 and one line naming the tensor and type", (r.returncode, r.stderr))

    finish()


if __name__ == "__main__":
    main()
