#!/usr/bin/env python3
"""YaRN rope scaling (config.json rope_scaling {"rope_type": "yarn", ...}) against the float64 NumPy reference.
Synthetic tiny models made by `qwen3 synth --rope-scaling JSON` with a small original_max_position_embeddings
(64), so that a prompt of 260 tokens runs well past it and the scaling decides the logits:
  1. `qwen3 eval --dtype f32` logits within 1e-4 of the logit range of tools/reference/qwen3_ref.py (which
     implements transformers' _compute_yarn_parameters independently), for the Qwen form (factor, original
     context), the older "type" key with beta_fast/beta_slow/truncate=false, mscale/mscale_all_dim, and an
     explicit attention_factor; greedy tokens equal where the reference's top-2 gap is clear;
  2. the test can fail: the same weights without YaRN, or with another attention factor, are far off;
  3. GGUF: `qwen3 quantize --type f32` writes llama.cpp's rope.scaling keys and the file gives the same logits;
     what GGUF cannot say (an attention factor) is refused at export;
  4. the context limit grows to factor x original_max_position_embeddings;
  5. bad input: other rope types (linear, dynamic, llama3, longrope) and a bad factor get one line, exit 1.
Usage: test_yarn.py QWEN3 QWEN3_REF_PY WORK_DIR
"""
import json
import os
import shutil
import struct
import subprocess
import sys

import numpy as np

QWEN3, REF, WORK = sys.argv[1:4]
passed = failed = 0

rng = np.random.default_rng(17)
PROMPT = [int(x) for x in rng.integers(0, 151000, 260)]
REQUESTS = [{"ids": PROMPT, "n_predict": 4, "logits": True},
            {"ids": PROMPT[:40], "n_predict": 2, "logits": True}]  # inside the original context
STDIN = "".join(json.dumps(r) + "\n" for r in REQUESTS)

VARIANTS = {
    "qwen": {"rope_type": "yarn", "factor": 4.0, "original_max_position_embeddings": 64},
    "type-betas": {"type": "yarn", "factor": 2.5, "original_max_position_embeddings": 48, "beta_fast": 16,
                   "beta_slow": 2, "truncate": False},
    "mscale": {"rope_type": "yarn", "factor": 8.0, "original_max_position_embeddings": 96, "mscale": 0.707,
               "mscale_all_dim": 1.0},
    "attention": {"rope_type": "yarn", "factor": 4.0, "original_max_position_embeddings": 64,
                  "attention_factor": 1.5},
}


def check(cond, what, detail=""):
    global passed, failed
    if cond:
        passed += 1
    else:
        failed += 1
        print("FAIL: " + what + ("\n  " + str(detail) if detail else ""), flush=True)


def qwen3(*args, stdin=None):
    return subprocess.run([QWEN3, *args], capture_output=True, text=True, input=stdin)


def synth(name, scaling):
    out = os.path.join(WORK, name)
    shutil.rmtree(out, ignore_errors=True)
    args = ["synth", "--preset", "tiny", "--dtype", "f32", "--seed", "7", "--out", out]
    if scaling is not None:
        args += ["--rope-scaling", json.dumps(scaling)]
    r = qwen3(*args)
    assert r.returncode == 0, r.stderr
    return out


def engine(model, stdin=STDIN):
    r = qwen3("eval", "-m", model, "-t", "2", "--dtype", "f32", "--jsonl", stdin=stdin)
    assert r.returncode == 0, "qwen3 eval %s: %s" % (model, r.stderr)
    return [json.loads(line) for line in r.stdout.splitlines() if line.strip()]


def reference(model, stdin=STDIN):
    out = subprocess.run([sys.executable, REF, model], input=stdin, capture_output=True, text=True, check=True)
    return [json.loads(line) for line in out.stdout.splitlines() if line.strip()]


def max_err(a, b):
    a, b = np.array(a["logits"]), np.array(b["logits"])
    return float(np.abs(a - b).max()), float(b.max() - b.min())


def compare(name, got, want, bound=1e-4):
    for i, (g, w) in enumerate(zip(got, want)):
        err, span = max_err(g, w)
        check(err <= bound * span, "%s: request %d logits differ from the reference by %.3g (range %.3g)" %
              (name, i, err, span))
        for k, (gt, wt, gap) in enumerate(zip(g["greedy"], w["greedy"], w["gaps"])):
            if gap > 1e-3 * span:
                check(gt == wt, "%s: request %d greedy step %d: %d, reference %d" % (name, i, k, gt, wt))
            if gt != wt:
                break


def gguf_keys(path):
    """The rope.* metadata of a GGUF file (strings, u32 and f32 values only), read with struct."""
    out = {}
    with open(path, "rb") as f:
        magic, version, n_tensors, n_kv = struct.unpack("<4sIQQ", f.read(24))
        assert magic == b"GGUF", path

        def string():
            (n,) = struct.unpack("<Q", f.read(8))
            return f.read(n).decode()

        def value(t):
            sizes = {0: "B", 1: "b", 2: "H", 3: "h", 4: "I", 5: "i", 6: "f", 7: "?", 10: "Q", 11: "q", 12: "d"}
            if t == 8:
                return string()
            if t == 9:
                et, n = struct.unpack("<IQ", f.read(12))
                return [value(et) for _ in range(n)]
            fmt = "<" + sizes[t]
            return struct.unpack(fmt, f.read(struct.calcsize(fmt)))[0]

        for _ in range(n_kv):
            key = string()
            (t,) = struct.unpack("<I", f.read(4))
            v = value(t)
            if ".rope." in key:
                out[key] = v
    return out


def main():
    os.makedirs(WORK, exist_ok=True)
    base = synth("base", None)
    base_ref = reference(base)
    refs = {}
    for name, scaling in VARIANTS.items():
        model = synth(name, scaling)
        refs[name] = want = reference(model)
        compare(name, engine(model), want)
        # 2. the scaling matters at these positions: without it the logits are far from these
        err, span = max_err(base_ref[0], want[0])
        check(err > 0.05 * span, "%s: YaRN barely changes the reference logits (%.3g of range %.3g)" %
              (name, err, span))
        print("%s: ok" % name, flush=True)
    err, span = max_err(refs["qwen"][0], refs["attention"][0])
    check(err > 0.05 * span, "the attention factor barely changes the logits (%.3g, range %.3g)" % (err, span))

    # 3. GGUF: llama.cpp's keys written, read back, same logits
    gguf = os.path.join(WORK, "qwen.gguf")
    r = qwen3("quantize", "-m", os.path.join(WORK, "qwen"), "-o", gguf, "--type", "f32")
    check(r.returncode == 0, "quantize a YaRN model to GGUF", r.stderr)
    keys = gguf_keys(gguf)
    check(keys.get("qwen3.rope.scaling.type") == "yarn" and keys.get("qwen3.rope.scaling.factor") == 4.0 and
          keys.get("qwen3.rope.scaling.original_context_length") == 64, "GGUF rope.scaling keys", keys)
    compare("qwen.gguf", engine(gguf), refs["qwen"])
    r = qwen3("quantize", "-m", os.path.join(WORK, "attention"), "-o", os.path.join(WORK, "a.gguf"), "--type",
              "f32")
    check(r.returncode == 1 and "attention_factor" in r.stderr and len(r.stderr.strip().splitlines()) == 1,
          "an attention factor GGUF cannot carry is refused in one line", r.stderr)

    # 4. the context: max_position_embeddings 128, YaRN 4 x 64 = 256 allows a 204-token request
    stdin = json.dumps({"ids": PROMPT[:200], "n_predict": 4, "logits": True}) + "\n"
    for name, scaling, ok in (("short-yarn", VARIANTS["qwen"], True), ("short-plain", None, False)):
        model = synth(name, scaling)
        with open(os.path.join(model, "config.json")) as f:
            cfg = json.load(f)
        cfg["max_position_embeddings"] = 128
        with open(os.path.join(model, "config.json"), "w") as f:
            json.dump(cfg, f)
        r = qwen3("eval", "-m", model, "--dtype", "f32", "--jsonl", stdin=stdin)
        check((r.returncode == 0) == ok, "%s: a 204-token context %s" % (name, "runs" if ok else "is refused"),
              r.stderr)
        if ok:
            compare(name, [json.loads(x) for x in r.stdout.splitlines() if x.strip()], reference(model, stdin))

    # 5. bad input: one line, exit 1, naming the problem
    bad = {"linear": ({"rope_type": "linear", "factor": 2.0}, "linear"),
           "dynamic": ({"type": "dynamic", "factor": 2.0}, "dynamic"),
           "llama3": ({"rope_type": "llama3", "factor": 8.0, "low_freq_factor": 1, "high_freq_factor": 4,
                       "original_max_position_embeddings": 8192}, "llama3"),
           "longrope": ({"rope_type": "longrope", "short_factor": [1], "long_factor": [2]}, "longrope"),
           "no-factor": ({"rope_type": "yarn", "original_max_position_embeddings": 64}, "factor"),
           "small-factor": ({"rope_type": "yarn", "factor": 0.5}, "factor"),
           "bad-beta": ({"rope_type": "yarn", "factor": 2, "beta_fast": "x"}, "beta_fast")}
    model = os.path.join(WORK, "qwen")
    with open(os.path.join(model, "config.json")) as f:
        good = json.load(f)
    try:
        for name, (scaling, word) in bad.items():
            cfg = dict(good, rope_scaling=scaling)
            with open(os.path.join(model, "config.json"), "w") as f:
                json.dump(cfg, f)
            r = qwen3("eval", "-m", model, "--jsonl", stdin=STDIN)
            lines = r.stderr.strip().splitlines()
            check(r.returncode == 1 and len(lines) == 1 and word in lines[0] and "rope_scaling" in lines[0],
                  "%s: exit 1 and one line naming %s" % (name, word), (r.returncode, r.stderr))
    finally:
        with open(os.path.join(model, "config.json"), "w") as f:
            json.dump(good, f)

    print("%d passed, %d failed" % (passed, failed))
    sys.exit(1 if failed else 0)


if __name__ == "__main__":
    main()
