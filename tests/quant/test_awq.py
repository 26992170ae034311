#!/usr/bin/env python3
"""AWQ 4-bit safetensors checkpoints (src/model/awq.h) against independent NumPy computations
(tools/awq/awq_numpy.py writes AutoAWQ's "gemm" layout, and decodes it the way AutoAWQ's unpack_awq does):
  1. the tiny and small synthetic models quantised in groups of 64 and of 32 input columns: the engine
     against tools/reference/qwen3_ref.py (float64) on the checkpoint's own f32 values, with --dtype f32 (every
     layer decoded at load, exact f32 arithmetic) within 1e-4 of the logit range, and with the q4_1 layers it
     converts to by default (the same nibbles and scales; int8 activations per 32 values) on every ISA within
     2 % of the range (tests/quant/test_legacy.py's bounds for q4_1: the same greedy tokens where the
     reference's top-2 gap is clear, AVX2 and AVX-512 within 1e-5 of the range); the default's logits measurably differ from --dtype f32's (the q4_1 path
     ran);
  2. a checkpoint with a module left unquantised (its F16 "<m>.weight" beside the AWQ layers), likewise;
  3. bad input (8-bit AWQ, the "gemv" packing, no zero points, a group of 48 columns, a missing qzeros tensor,
     a misshapen scales tensor, I32 values stored as F32, GPTQ): exit status 1 and one clear line on stderr.
Usage: test_awq.py QWEN3 QWEN3_REF_PY AWQ_NUMPY_PY WORK_DIR
"""
import json
import os
import shutil
import subprocess
import sys

import numpy as np

QWEN3, REF, AWQ, WORK = sys.argv[1:5]
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import STDIN, bad, check, compare, eval_lines, finish, load, qwen3  # noqa: E402

awq = load(AWQ, "awq_numpy")


def make(name, src, *args):
    d = os.path.join(WORK, name)
    shutil.rmtree(d, ignore_errors=True)
    subprocess.run([sys.executable, AWQ, "quantize", src, d, *args], check=True)
    return d


def reference(model_dir):
    deq = model_dir + "-f32"
    shutil.rmtree(deq, ignore_errors=True)
    subprocess.run([sys.executable, AWQ, "dequantize", model_dir, deq], check=True)
    out = subprocess.run([sys.executable, REF, deq], input=STDIN, capture_output=True, text=True, check=True)
    return [json.loads(line) for line in out.stdout.splitlines() if line.strip()]


def run(label, model_dir):
    compare(label, model_dir, reference(model_dir), 0.02, simd_tol=1e-5)
    exact, native = eval_lines(model_dir, "--dtype", "f32"), eval_lines(model_dir)
    moved = max(np.abs(np.array(a["logits"]) - np.array(b["logits"])).max() for a, b in zip(exact, native))
    check(moved > 1e-4, label + ": the default load gave --dtype f32's logits (no q4_1 conversion?)")


def main():
    os.makedirs(WORK, exist_ok=True)
    for preset in ("tiny", "small"):
        src = os.path.join(WORK, preset)
        r = qwen3("synth", "--preset", preset, "--out", src, "--seed", "12")
        assert r.returncode == 0, r.stderr
        for g in (64, 32):
            d = make("%s-awq-g%d" % (preset, g), src, "--group", str(g))
            t, _ = awq.load_dir(d)
            layers = json.load(open(os.path.join(src, "config.json")))["num_hidden_layers"]
            check(sum(name.endswith(".qweight") for name in t) == 7 * layers and
                  not any(name.endswith("_proj.weight") for name in t), preset + ": every linear layer is AWQ")
            run("%s awq g%d" % (preset, g), d)
    src = os.path.join(WORK, "tiny")
    run("tiny awq, one module kept", make("tiny-keep", src, "--group", "64", "--keep",
                                          "model.layers.1.mlp.down_proj.weight"))

    # 3. bad input
    bad("8-bit", make("b8", src, "--group", "64", "--config", '{"bits": 8}'), "AWQ with 8-bit weights")
    bad("gemv", make("gemv", src, "--group", "64", "--config", '{"version": "gemv"}'),
        'AWQ version "gemv" is not supported')
    bad("no zero point", make("nozp", src, "--group", "64", "--config", '{"zero_point": false}'),
        "without zero points")
    bad("group 48", make("g48", src, "--group", "64", "--config", '{"group_size": 48}'),
        "AWQ group_size 48 is not supported")
    zeros = "model.layers.0.self_attn.k_proj.qzeros"
    bad("missing qzeros", make("noz", src, "--group", "64", "--drop", zeros), "has no tensor '%s'" % zeros)
    d = make("shape", src, "--group", "64")
    tensors, meta = awq.load_dir(d)
    scales = "model.layers.1.mlp.up_proj.scales"
    dt, shape, raw = tensors[scales]
    tensors[scales] = (dt, shape[::-1], raw)
    qweight = "model.layers.0.mlp.gate_proj.qweight"
    awq.write_safetensors(os.path.join(d, "model.safetensors"), [(k, *v) for k, v in tensors.items()], meta)
    bad("scales shape", d, "AWQ tensor '%s' has shape [%d, %d]" % (scales, shape[1], shape[0]))
    d = make("f32words", src, "--group", "64")
    tensors, meta = awq.load_dir(d)
    dt, shape, raw = tensors[qweight]
    tensors[qweight] = ("F32", shape, raw)
    awq.write_safetensors(os.path.join(d, "model.safetensors"), [(k, *v) for k, v in tensors.items()], meta)
    bad("F32 qweight", d, "AWQ tensor '%s' has dtype F32; expected I32" % qweight)
    bad("gptq", make("gptq", src, "--group", "64", "--config", '{"quant_method": "gptq"}'),
        'quant_method "gptq" is not supported')
    finish()


if __name__ == "__main__":
    main()
