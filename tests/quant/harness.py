"""What the tests/quant scripts share: loading a helper module from a path, pass/fail counting, running qwen3,
and `qwen3 eval` on two fixed requests (a chat-like prompt and a run of digits) with their logits, compared with
the reference's."""
import importlib.util
import json
import os
import subprocess
import sys

import numpy as np

QWEN3 = sys.argv[1]  # every script's first argument is the qwen3 binary
passed = failed = 0


def load(path, name):
    spec = importlib.util.spec_from_file_location(name, path)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def check(cond, what, detail=""):
    global passed, failed
    if cond:
        passed += 1
    else:
        failed += 1
        print("FAIL: " + what + ("\n  " + str(detail) if detail else ""), flush=True)


def finish():
    print("%d passed, %d failed" % (passed, failed))
    sys.exit(1 if failed else 0)


def qwen3(*args, stdin=None, env=None):
    return subprocess.run([QWEN3, *args], capture_output=True, text=True, input=stdin,
                          env=dict(os.environ, **(env or {})))


REQUESTS = [{"ids": [9707, 11, 1879, 0, 151644, 872, 198, 3838], "n_predict": 4, "logits": True},
            {"ids": [16, 17, 18, 19, 20, 21, 22, 23, 24, 25, 26, 27, 28, 29, 30, 31, 32, 33], "n_predict": 3,
             "logits": True}]
STDIN = "".join(json.dumps(r) + "\n" for r in REQUESTS)


def eval_lines(model, *extra, env=None):
    r = qwen3("eval", "-m", model, "-t", "2", "--jsonl", *extra, stdin=STDIN, env=env)
    if r.returncode != 0:
        raise RuntimeError("qwen3 eval %s failed: %s" % (model, r.stderr))
    return [json.loads(line) for line in r.stdout.splitlines() if line.strip()]


def compare(label, model_dir, want, bound, simd_tol=0.0):
    """A checkpoint read by the engine against the float64 reference's results `want` on its own f32 values:
    with --dtype f32 (decoded at load, exact f32 arithmetic) within 1e-4 of the logit range; with the native
    kernels on every ISA the CPU runs within `bound` of the range, the same greedy tokens while the reference's
    top-2 gap is clear of that, and the two SIMD ISAs' results equal (the same greedy tokens and logits within
    simd_tol of the range where their prompt kernels round differently)."""
    got = eval_lines(model_dir, "--dtype", "f32")
    for i, (g, w) in enumerate(zip(got, want)):
        gl, wl = np.array(g["logits"]), np.array(w["logits"])
        span, err = wl.max() - wl.min(), np.abs(gl - wl).max()
        check(err <= 1e-4 * span, "%s: --dtype f32 logits of request %d differ from the reference by %.3g "
              "(range %.3g)" % (label, i, err, span))
    runs = {}
    for isa in ("scalar", "avx2", "avx512"):
        try:
            runs[isa] = eval_lines(model_dir, env={"QWEN3_ISA": isa})
        except RuntimeError as e:
            if "cannot run it" in str(e):  # this CPU lacks the ISA
                continue
            raise
    for isa, got in runs.items():
        for i, (g, w) in enumerate(zip(got, want)):
            gl, wl = np.array(g["logits"]), np.array(w["logits"])
            span, err = wl.max() - wl.min(), np.abs(gl - wl).max()
            print("%s %s request %d: max logit error %.3g = %.4f %% of the range" % (label, isa, i, err,
                                                                                     100 * err / span))
            check(err <= bound * span, "%s (%s): logits of request %d differ from the reference by %.3g, above "
                  "%g %% of the range %.3g" % (label, isa, i, err, 100 * bound, span))
            # greedy tokens: equal while the reference's top-2 gap is clear of the measured error
            for step, (a, b) in enumerate(zip(g["greedy"], w["greedy"])):
                if w["gaps"][step] <= 2 * bound * span:
                    break
                check(a == b, "%s (%s): request %d greedy token %d is %d, the reference's %d (gap %.3g)" %
                      (label, isa, i, step, a, b, w["gaps"][step]))
                if a != b:
                    break
    simd = [runs[i] for i in ("avx2", "avx512") if i in runs]
    if len(simd) == 2 and simd_tol == 0:
        check(simd[0] == simd[1], label + ": avx2 and avx512 results differ")
    elif len(simd) == 2:
        for i, (a, b) in enumerate(zip(*simd)):
            al, bl = np.array(a["logits"]), np.array(b["logits"])
            check(a["greedy"] == b["greedy"] and np.abs(al - bl).max() <= simd_tol * (al.max() - al.min()),
                  "%s: avx2 and avx512 results of request %d differ beyond %g of the range" % (label, i, simd_tol))


def bad(label, model_dir, expect):
    """`qwen3 generate` on a model that must be refused: exit status 1, one line on stderr saying `expect`."""
    r = qwen3("generate", "-m", model_dir, "-p", "hi", "-n", "1")
    lines = r.stderr.strip().splitlines()
    check(r.returncode == 1 and len(lines) == 1 and expect in r.stderr and r.stdout == "",
          "%s: expected exit status 1 and one line with '%s'" % (label, expect),
          "status %d, stderr: %s" % (r.returncode, r.stderr.strip()))
