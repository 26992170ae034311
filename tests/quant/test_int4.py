#!/usr/bin/env python3
"""4-bit AWQ and GPTQ safetensors checkpoints (src/model/int4_checkpoints.h) against independent NumPy
computations (tools/int4/int4_numpy.py writes AutoAWQ's "gemm" and AutoGPTQ's layouts, and decodes them the way
AutoAWQ's unpack_awq and AutoGPTQ's dequantisation do):
  1. the tiny synthetic model as AWQ in groups of 64 and of 32 input columns, GPTQ symmetric in the "gptq"
     format (zeros stored minus one) with g_idx, asymmetric "gptq_v2" and one group per row (-1); the small
     one as the first AWQ and the first GPTQ of these. The
     engine against tools/reference/qwen3_ref.py (float64) on the checkpoint's own f32 values, with --dtype
     f32 (every layer decoded at load, exact f32 arithmetic) within 1e-4 of the logit range, and with the q4_1
     layers it converts to by default (the same nibbles and scales; int8 activations per 32 values) on every
     ISA within 2 % of the range (tests/quant/test_legacy.py's bounds for q4_1: the same greedy tokens where the
     reference's top-2 gap is clear, AVX2 and AVX-512 within 1e-5 of the range); the default's logits
     measurably differ from --dtype f32's (the q4_1 path ran);
  2. a checkpoint with a module left unquantised (its F16 "<m>.weight" beside the AWQ layers), and one with
     its settings in AutoGPTQ's quantize_config.json instead of config.json, likewise;
  3. bad input (8-bit AWQ and GPTQ, the "gemv" packing, no zero points, a group of 48 columns, a missing
     qzeros tensor, a misshapen scales tensor, I32 values stored as F32, GPTQ's act order by its config and
     by an interleaved g_idx, bitsandbytes): exit status 1 and one clear line on stderr.
Usage: test_int4.py QWEN3 QWEN3_REF_PY INT4_NUMPY_PY WORK_DIR
"""
import json
import os
import shutil
import subprocess
import sys

import numpy as np

QWEN3, REF, INT4, WORK = sys.argv[1:5]
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import STDIN, bad, check, compare, eval_lines, finish, load, qwen3  # noqa: E402

int4 = load(INT4, "int4_numpy")


def make(name, src, *args):
    d = os.path.join(WORK, name)
    shutil.rmtree(d, ignore_errors=True)
    subprocess.run([sys.executable, INT4, "quantize", src, d, *args], check=True)
    return d


def reference(model_dir):
    deq = model_dir + "-f32"
    shutil.rmtree(deq, ignore_errors=True)
    subprocess.run([sys.executable, INT4, "dequantize", model_dir, deq], check=True)
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
        layers = json.load(open(os.path.join(src, "config.json")))["num_hidden_layers"]
        variants = [("awq-g64", "--group", "64"), ("awq-g32", "--group", "32"),
                    ("gptq-sym-g64", "--format", "gptq", "--sym", "--group", "64", "--g-idx"),
                    ("gptq-v2-g32", "--format", "gptq", "--v2", "--group", "32"),
                    ("gptq-row", "--format", "gptq", "--group", "-1")]
        for name, *args in variants if preset == "tiny" else (variants[0], variants[2]):
            d = make("%s-%s" % (preset, name), src, *args)
            t, _ = int4.load_dir(d)
            check(sum(n.endswith(".qweight") for n in t) == 7 * layers and
                  not any(n.endswith("_proj.weight") for n in t), "%s %s: every linear layer is 4-bit" %
                  (preset, name))
            run("%s %s" % (preset, name), d)
    src = os.path.join(WORK, "tiny")
    run("tiny awq, one module kept", make("tiny-keep", src, "--group", "64", "--keep",
                                          "model.layers.1.mlp.down_proj.weight"))
    # older repos: the settings in AutoGPTQ's quantize_config.json (no quant_method) instead of config.json
    d = make("tiny-gptq-file", src, "--format", "gptq", "--sym", "--group", "32")
    want = reference(d)
    cfg = json.load(open(os.path.join(d, "config.json")))
    qc = cfg.pop("quantization_config")
    del qc["quant_method"]
    json.dump(cfg, open(os.path.join(d, "config.json"), "w"))
    json.dump(qc, open(os.path.join(d, "quantize_config.json"), "w"))
    compare("tiny gptq, quantize_config.json", d, want, 0.02, simd_tol=1e-5)

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
    tensors, meta = int4.load_dir(d)
    scales = "model.layers.1.mlp.up_proj.scales"
    dt, shape, raw = tensors[scales]
    tensors[scales] = (dt, shape[::-1], raw)
    qweight = "model.layers.0.mlp.gate_proj.qweight"
    int4.write_safetensors(os.path.join(d, "model.safetensors"), [(k, *v) for k, v in tensors.items()], meta)
    bad("scales shape", d, "AWQ tensor '%s' has shape [%d, %d]" % (scales, shape[1], shape[0]))
    d = make("f32words", src, "--group", "64")
    tensors, meta = int4.load_dir(d)
    dt, shape, raw = tensors[qweight]
    tensors[qweight] = ("F32", shape, raw)
    int4.write_safetensors(os.path.join(d, "model.safetensors"), [(k, *v) for k, v in tensors.items()], meta)
    bad("F32 qweight", d, "AWQ tensor '%s' has dtype F32; expected I32" % qweight)
    bad("8-bit GPTQ", make("g8", src, "--format", "gptq", "--group", "64", "--config", '{"bits": 8}'),
        "GPTQ with 8-bit weights")
    bad("act order", make("desc", src, "--format", "gptq", "--group", "64", "--config", '{"desc_act": true}'),
        "GPTQ with act order (desc_act true) is not supported")
    d = make("gidx", src, "--format", "gptq", "--group", "32", "--g-idx")
    tensors, meta = int4.load_dir(d)
    gidx = "model.layers.1.self_attn.o_proj.g_idx"
    dt, shape, raw = tensors[gidx]
    g = np.frombuffer(raw, dtype="<i4").copy()
    g[[0, 32]] = g[[32, 0]]  # inputs 0 and 32 swap groups: interleaved, as act order makes them
    tensors[gidx] = (dt, shape, g.astype("<i4").tobytes())
    int4.write_safetensors(os.path.join(d, "model.safetensors"), [(k, *v) for k, v in tensors.items()], meta)
    bad("interleaved g_idx", d, "GPTQ tensor '%s' puts input 0 in group 1, not 0" % gidx)
    bad("bitsandbytes", make("bnb", src, "--group", "64", "--config", '{"quant_method": "bitsandbytes"}'),
        'quant_method "bitsandbytes" is not supported')
    finish()


if __name__ == "__main__":
    main()
