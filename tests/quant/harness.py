"""What the tests/quant scripts share: loading a helper module from a path, pass/fail counting, running qwen3,
and `qwen3 eval` on two fixed requests (a chat-like prompt and a run of digits) with their logits."""
import importlib.util
import json
import os
import subprocess
import sys

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
