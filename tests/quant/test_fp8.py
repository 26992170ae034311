#!/usr/bin/env python3
"""FP8 E4M3 safetensors checkpoints (src/model/fp8.h) against independent NumPy computations:
  1. `qwen3 quantize --type fp8` writes Qwen's fine-grained FP8 layout byte for byte as tools/fp8/fp8_numpy.py
     does (its own e4m3 encoder: a nearest-code search, ties to even, saturating): every tensor's name, dtype,
     shape and bytes, and config.json's quantization_config;
  2. the engine on that checkpoint against tools/reference/qwen3_ref.py (float64) on its own f32 dequantization
     (fp8_numpy.py dequantize): with --dtype f32 (the weights decoded at load, exact f32 arithmetic) within
     1e-4 of the logit range; with the native f8_e4m3 kernels (8-bit weights, bf16 activations) on every ISA
     within 1 % of the logit range, the same greedy tokens while the reference's top-2 gap is clear, and the
     SIMD ISAs' logits bit for bit equal;
  3. the compressed-tensors FP8 layout (per-channel BF16 weight_scale) made by fp8_numpy.py, likewise;
  5. --embed-dtype q8_0 (the checkpoint's bf16 embedding table and lm_head converted at load, for a model
     no larger than its q8_0 copy) against the reference on the dequantization with that table rounded
     through q8_0 by NumPy (ggml's q8_0: amax / 127 per 32 values, an f16 scale), within 1 % of the range,
     and the plain fp8 run's logits measurably different from these (the option took effect);
  4. bad input (e5m2, static activation scales, 64 x 64 blocks, a missing or misshapen scale tensor, F8 weights
     without quantization_config, an unsupported quant_method, --type fp8 to a .gguf): exit status 1 and one
     clear line on stderr.
Usage: test_fp8.py QWEN3 QWEN3_REF_PY FP8_NUMPY_PY WORK_DIR
"""
import json
import os
import shutil
import subprocess
import sys

import numpy as np

QWEN3, REF, FP8, WORK = sys.argv[1:5]
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import STDIN, bad, check, compare, eval_lines, finish, load, qwen3  # noqa: E402


fp8 = load(FP8, "fp8_numpy")


def reference(model_dir):
    deq = model_dir + "-f32"
    subprocess.run([sys.executable, FP8, "dequantize", model_dir, deq], check=True)
    out = subprocess.run([sys.executable, REF, deq], input=STDIN, capture_output=True, text=True, check=True)
    return [json.loads(line) for line in out.stdout.splitlines() if line.strip()]


def q8_0_roundtrip(w):
    """ggml's q8_0 (quantize_row_q8_0_reference) and back: per 32 values d = amax / 127 kept as f16."""
    b = w.reshape(-1, 32).astype(np.float32)
    d = np.abs(b).max(axis=1, keepdims=True) / np.float32(127)
    q = np.round(b * np.where(d != 0, np.float32(1) / np.where(d != 0, d, 1), 0))
    return (d.astype(np.float16).astype(np.float32) * q).reshape(w.shape)


def embed_q8(label, eng):
    """5: --embed-dtype q8_0 against the reference on eng's dequantization with a q8_0-rounded table."""
    deq, d = eng + "-f32", eng + "-f32-embq8"
    shutil.rmtree(d, ignore_errors=True)
    shutil.copytree(deq, d)
    t, meta = fp8.load_dir(d)
    for name in ("model.embed_tokens.weight", "lm_head.weight"):  # lm_head: an untied model's
        if name in t:
            dt, shape, raw = t[name]
            t[name] = ("F32", shape, q8_0_roundtrip(fp8.to_f32(dt, shape, raw)).astype("<f4").tobytes())
    for s in [f for f in os.listdir(d) if f.endswith(".safetensors") or f == "model.safetensors.index.json"]:
        os.remove(os.path.join(d, s))
    fp8.write_safetensors(os.path.join(d, "model.safetensors"), [(k, *v) for k, v in t.items()], meta)
    out = subprocess.run([sys.executable, REF, d], input=STDIN, capture_output=True, text=True, check=True)
    want = [json.loads(line) for line in out.stdout.splitlines() if line.strip()]
    got, plain = eval_lines(eng, "--embed-dtype", "q8_0"), eval_lines(eng)
    moved = 0.0
    for i, (g, w, p) in enumerate(zip(got, want, plain)):
        gl, wl, pl = np.array(g["logits"]), np.array(w["logits"]), np.array(p["logits"])
        span, err = wl.max() - wl.min(), np.abs(gl - wl).max()
        moved = max(moved, np.abs(gl - pl).max() / span)
        print("%s --embed-dtype q8_0 request %d: max logit error %.3g = %.4f %% of the range" %
              (label, i, err, 100 * err / span))
        check(err <= 0.01 * span, "%s --embed-dtype q8_0: logits of request %d differ from the reference by "
              "%.3g, above 1 %% of the range %.3g" % (label, i, err, span))
    check(moved > 1e-4, label + ": --embed-dtype q8_0 changed no logit (the option did not take effect)")


def main():
    os.makedirs(WORK, exist_ok=True)
    for preset in ("tiny", "small"):
        src = os.path.join(WORK, preset)
        r = qwen3("synth", "--preset", preset, "--out", src, "--seed", "11")
        assert r.returncode == 0, r.stderr
        # 1. the converter's bytes
        eng, npy = os.path.join(WORK, preset + "-fp8"), os.path.join(WORK, preset + "-fp8-numpy")
        r = qwen3("quantize", "-m", src, "-o", eng, "--type", "fp8")
        check(r.returncode == 0, preset + ": qwen3 quantize --type fp8", r.stderr)
        subprocess.run([sys.executable, FP8, "quantize", src, npy], check=True)
        te, _ = fp8.load_dir(eng)
        tn, _ = fp8.load_dir(npy)
        check(sorted(te) == sorted(tn), preset + ": tensor names differ", sorted(set(te) ^ set(tn)))
        n_f8 = 0
        for name in sorted(set(te) & set(tn)):
            check(te[name][:2] == tn[name][:2], "%s: %s is %s %s, NumPy's %s %s" %
                  (preset, name, te[name][0], te[name][1], tn[name][0], tn[name][1]))
            same = te[name][2] == tn[name][2]
            detail = ""
            if not same and te[name][0] == "F8_E4M3":
                a, b = np.frombuffer(te[name][2], np.uint8), np.frombuffer(tn[name][2], np.uint8)
                detail = "%d of %d bytes differ" % ((a != b).sum(), a.size)
            check(same, "%s: %s bytes differ from NumPy's" % (preset, name), detail)
            n_f8 += te[name][0] == "F8_E4M3"
        check(n_f8 > 0 and all(name.endswith("_proj.weight") for name in te if te[name][0] == "F8_E4M3"),
              preset + ": the F8_E4M3 tensors are the linear layers'")
        ce, cn = (json.load(open(os.path.join(d, "config.json"))) for d in (eng, npy))
        check(ce == cn, preset + ": config.json differs from NumPy's",
              (ce.get("quantization_config"), cn.get("quantization_config")))
        # 2. the engine against the reference on the dequantized weights
        compare(preset + " fp8", eng, reference(eng), 0.01)
        embed_q8(preset + " fp8", eng)
        # 3. compressed-tensors FP8, per channel
        ct = os.path.join(WORK, preset + "-ct")
        subprocess.run([sys.executable, FP8, "quantize", src, ct, "--layout", "compressed-tensors"], check=True)
        compare(preset + " compressed-tensors", ct, reference(ct), 0.01)

    # 4. bad input, made from the tiny model
    src = os.path.join(WORK, "tiny")

    def variant(name, *args):
        d = os.path.join(WORK, "bad-" + name)
        shutil.rmtree(d, ignore_errors=True)
        subprocess.run([sys.executable, FP8, "quantize", src, d, *args], check=True)
        return d

    bad("e5m2", variant("e5m2", "--config", '{"fmt": "e5m2"}'), 'fmt "e5m2" is not supported')
    bad("static", variant("static", "--config", '{"activation_scheme": "static"}'),
        'activation_scheme "static" is not supported')
    bad("block 64", variant("b64", "--config", '{"weight_block_size": [64, 64]}'),
        "weight_block_size [64,64] is not supported")
    bad("bitsandbytes", variant("bnb", "--config", '{"quant_method": "bitsandbytes"}'),
        'quant_method "bitsandbytes" is not supported')
    scale = "model.layers.1.mlp.down_proj.weight_scale_inv"
    bad("missing scale", variant("noscale", "--drop", scale), "has no scale tensor '%s'" % scale)
    d = variant("shape")
    tensors, meta = fp8.read_safetensors(os.path.join(d, "model.safetensors"))
    dt, shape, raw = tensors[scale]
    tensors[scale] = (dt, shape[::-1], raw)  # [1, 2] instead of [2, 1]
    fp8.write_safetensors(os.path.join(d, "model.safetensors"), [(k, *v) for k, v in tensors.items()], meta)
    bad("scale shape", d, "scale tensor '%s' has shape [%d, %d]" % (scale, shape[1], shape[0]))
    d = variant("noconfig")
    cfg = json.load(open(os.path.join(d, "config.json")))
    del cfg["quantization_config"]
    json.dump(cfg, open(os.path.join(d, "config.json"), "w"))
    bad("no quantization_config", d, "no quantization_config")
    d = variant("ct-static", "--layout", "compressed-tensors")
    cfg = json.load(open(os.path.join(d, "config.json")))
    cfg["quantization_config"]["config_groups"]["group_0"]["input_activations"]["dynamic"] = False
    json.dump(cfg, open(os.path.join(d, "config.json"), "w"))
    bad("compressed-tensors static", d, "static input_activations scales are not supported")
    r = qwen3("quantize", "-m", src, "-o", os.path.join(WORK, "x.gguf"), "--type", "fp8")
    check(r.returncode == 1 and "not a .gguf file" in r.stderr, "quantize --type fp8 to a .gguf", r.stderr)

    finish()


if __name__ == "__main__":
    main()
