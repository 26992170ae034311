#!/usr/bin/env python3
"""LoRA adapters in `qwen3 eval` and `qwen3 perplexity`, checked against the NumPy float64 reference with the
adapters merged into the weights (tools/reference/qwen3_ref.py --lora):
  1. f32 base: an all-linear adapter (f32 tensors) and a q/v-only rsLoRA one with rank_pattern/alpha_pattern
     (bf16 tensors): logits within 1e-3 of the reference's logit range, greedy tokens identical (a divergence
     accepted only where the reference's top-2 gap is below 1e-3); each adapter moves the logits by far more;
  2. two adapters stacked with a multiplier (--lora A:0.5 --lora B, a regex target with layers_to_transform);
  3. the all-linear adapter as llama.cpp's GGUF adapter: the same logits; modules_to_save (embed_tokens,
     lm_head replaced whole), also on a model with tied embeddings;
  4. quantised bases (q8_0, q4_0, bf16): the error against the merged reference stays within the base type's own
     error (that of the same dtype without an adapter, against the reference without one); --lora-dtype: on a
     non-f32 base an f32 adapter is kept as bf16 by default (the same logits, bit for bit, as the adapter the
     script rounded to bf16), as the file has it with `file`, and as bf16 on an f32 base with `bf16`;
  5. qwen3 perplexity --lora against the reference's perplexity;
  6. merged models written by qwen3 quantize --lora (a GGUF f32 file; a q8_0 directory) without --lora;
  7. bad adapters and --lora values: exit 1 with one line naming the problem.
Usage: test_lora.py QWEN3 MODEL_DATA_DIR LORA_DATA_DIR SOURCE_DIR
"""
import json
import os
import subprocess
import sys

import numpy as np

QWEN3, DATA, LORA, SRC = sys.argv[1:5]
REF = os.path.join(SRC, "tools", "reference", "qwen3_ref.py")
SMALL = os.path.join(DATA, "models", "small-f32")
N_PROMPTS, N_PREDICT = 5, 8
passed = failed = 0


def check(cond, what, detail=""):
    global passed, failed
    if cond:
        passed += 1
    else:
        failed += 1
        print("FAIL: " + what + ("\n  " + str(detail) if detail else ""), flush=True)


def prompts():
    rows = []
    with open(os.path.join(DATA, "prompts.jsonl")) as f:
        for line in f:
            r = json.loads(line)
            rows.append({"ids": r["ids"][:40], "n_predict": N_PREDICT, "logits": True})
            if len(rows) == N_PROMPTS:
                break
    return "".join(json.dumps(r) + "\n" for r in rows)


PROMPTS = prompts()
_ref_cache = {}


def reference(loras, model=SMALL):
    key = (model, *loras)
    if key not in _ref_cache:
        args = [sys.executable, REF, model]
        for spec in loras:
            args += ["--lora", spec]
        out = subprocess.run(args, input=PROMPTS, capture_output=True, text=True, check=True).stdout
        _ref_cache[key] = [json.loads(l) for l in out.splitlines()]
    return _ref_cache[key]


def engine(*args, model=SMALL):
    r = subprocess.run([QWEN3, "eval", "-m", model, "-t", "2", "--jsonl", *args], input=PROMPTS,
                       capture_output=True, text=True)
    if r.returncode != 0:
        return None, r.stderr
    return [json.loads(l) for l in r.stdout.splitlines()], r.stderr


def logit_error(got, ref):
    """Max |logit difference| over the prompts, relative to each reference's logit range."""
    worst = 0.0
    for g, f in zip(got, ref):
        a, b = np.array(g["logits"]), np.array(f["logits"])
        worst = max(worst, float(np.abs(a - b).max() / (b.max() - b.min())))
    return worst


def greedy_ok(got, ref):
    for g, f in zip(got, ref):
        for i, (x, y) in enumerate(zip(g["greedy"], f["greedy"])):
            if x != y:
                if f["gaps"][i] >= 1e-3:
                    return False, f"token {i}: {x} vs reference {y} (top-2 gap {f['gaps'][i]})"
                break
    return True, ""


def exact_case(what, engine_args, loras, model=SMALL):
    got, err = engine(*engine_args, model=model)
    check(got is not None, what + ": runs", err)
    if got is None:
        return
    ref = reference(loras, model)
    e = logit_error(got, ref)
    check(e <= 1e-3, f"{what}: logits within 1e-3 of the range (got {e:.2e})")
    ok, why = greedy_ok(got, ref)
    check(ok, what + ": greedy tokens as the reference", why)
    moved = logit_error(reference([], model), ref)
    check(moved > 0.05, f"{what}: the adapter moves the logits ({moved:.3f} of the range)")
    print(f"{what}: max logit error {e:.2e} of the range; the adapter moves them by {moved:.3f}")


def main():
    a_all, a_qv, a_od = (os.path.join(LORA, n) for n in ("small-all", "small-qv", "small-od"))
    # 1, 2, 3: f32 base, exact
    exact_case("all-linear f32", ["--lora", a_all], [a_all])
    exact_case("q/v rsLoRA rank_pattern bf16", ["--lora", a_qv], [a_qv])
    exact_case("stacked A:0.5 + regex/layers f16", ["--lora", a_all + ":0.5", "--lora", a_od],
               [a_all + ":0.5", a_od])
    exact_case("GGUF adapter", ["--lora", a_all + ".gguf"], [a_all])
    # PEFT's modules_to_save: embed_tokens and lm_head replaced whole (bf16), stacked under a q/v adapter; and
    # on the tied tiny model, a replaced embed_tokens alone (lm_head stays the base's, as PEFT's wrapper does)
    a_save = os.path.join(LORA, "small-save")
    exact_case("modules_to_save embed_tokens + lm_head", ["--lora", a_qv, "--lora", a_save], [a_qv, a_save])
    tiny_save = os.path.join(LORA, "tiny-save-embed")
    exact_case("modules_to_save embed_tokens, tied model", ["--lora", tiny_save], [tiny_save],
               model=os.path.join(DATA, "models", "tiny-f32"))
    r = subprocess.run([QWEN3, "quantize", "-m", SMALL, "--lora", a_save, "-o", os.path.join(LORA, "no.gguf"),
                        "--type", "f32"], capture_output=True, text=True)
    check(r.returncode == 1 and "modules_to_save" in r.stderr, "quantize --lora refuses modules_to_save", r.stderr)
    r = subprocess.run([QWEN3, "eval", "-m", SMALL, "--jsonl", "--lora", a_save, "--lora", a_save], input="",
                       capture_output=True, text=True)
    check(r.returncode == 1 and "stack at most one" in r.stderr, "two replacements of one module refused",
          r.stderr)

    # 4: quantised bases, within the base type's own error
    for dtype in ("q8_0", "q4_0", "bf16"):
        base, _ = engine("--dtype", dtype)
        adapted, err = engine("--dtype", dtype, "--lora", a_all)
        check(base is not None and adapted is not None, f"{dtype}: runs", err)
        if base is None or adapted is None:
            continue
        e0, e1 = logit_error(base, reference([])), logit_error(adapted, reference([a_all]))
        check(e1 <= 1.5 * e0 + 1e-3, f"{dtype} + adapter: error {e1:.2e} within the base type's own {e0:.2e}")
        print(f"{dtype}: error without adapter {e0:.2e}, with {e1:.2e} (of the logit range)")

    # 4b: --lora-dtype (small-all-bf16: small-all's matrices rounded to bf16, nearest even, by the script)
    a_bf16 = os.path.join(LORA, "small-all-bf16")
    runs = {
        "q8_0 auto": engine("--dtype", "q8_0", "--lora", a_all)[0],
        "q8_0 bf16 file": engine("--dtype", "q8_0", "--lora", a_bf16)[0],
        "q8_0 file": engine("--dtype", "q8_0", "--lora", a_all, "--lora-dtype", "file")[0],
        "f32 bf16": engine("--lora", a_all, "--lora-dtype", "bf16")[0],
        "f32 bf16 file": engine("--lora", a_bf16)[0],
        "f32 auto": engine("--lora", a_all)[0],
    }
    check(all(v is not None for v in runs.values()), "--lora-dtype runs")
    if all(v is not None for v in runs.values()):
        logits = {k: [g["logits"] for g in v] for k, v in runs.items()}
        check(logits["q8_0 auto"] == logits["q8_0 bf16 file"],
              "q8_0 base: an f32 adapter is kept as bf16 by default (the bf16 file's logits, bit for bit)")
        check(logits["q8_0 file"] != logits["q8_0 auto"], "q8_0 base, --lora-dtype file: the f32 matrices kept")
        e = logit_error(runs["q8_0 file"], reference([a_all]))
        e0 = logit_error(engine("--dtype", "q8_0")[0], reference([]))
        check(e <= 1.5 * e0 + 1e-3, f"q8_0 + adapter as f32: error {e:.2e} within the base type's own {e0:.2e}")
        check(logits["f32 bf16"] == logits["f32 bf16 file"], "f32 base, --lora-dtype bf16: the bf16 file's logits")
        check(logits["f32 auto"] != logits["f32 bf16"], "f32 base: auto keeps the f32 matrices")
    r = subprocess.run([QWEN3, "eval", "-m", SMALL, "--jsonl", "--lora", a_all, "--lora-dtype", "f8"], input="",
                       capture_output=True, text=True)
    check(r.returncode != 0 and "--lora-dtype" in r.stderr, "--lora-dtype f8 refused", r.stderr)

    # 5: perplexity
    text = os.path.join(LORA, "ppl.txt")
    with open(text, "w") as f:
        f.write(" ".join(["the adapter changes what the model predicts for every next word"] * 30))
    r = subprocess.run([QWEN3, "perplexity", "-m", SMALL, "-f", text, "-c", "64", "--chunks", "2", "--kv-type",
                        "f32", "-t", "2", "--json", "--lora", a_qv], capture_output=True, text=True)
    check(r.returncode == 0, "perplexity --lora runs", r.stderr)
    if r.returncode == 0:
        got = json.loads(r.stdout.strip().splitlines()[-1])["ppl"]
        ids = json.loads(subprocess.run([QWEN3, "tokenize", "-m", SMALL, "--jsonl"],
                                        input=json.dumps({"text": open(text).read()}) + "\n",
                                        capture_output=True, text=True, check=True).stdout)["ids"]
        ref = json.loads(subprocess.run([sys.executable, REF, SMALL, "--perplexity", "64", "2", "--lora", a_qv],
                                        input=json.dumps({"ids": ids}), capture_output=True, text=True,
                                        check=True).stdout)["ppl"]
        check(abs(got - ref) <= 1e-3 * ref, f"perplexity --lora {got} vs reference {ref}")

    # 6: merged copies (qwen3 quantize --lora)
    for out, typ, lora, bound in ((os.path.join(LORA, "merged-all.gguf"), "f32", a_all, 1e-3),
                                  (os.path.join(LORA, "merged-qv-q8"), "q8_0", a_qv, None)):
        r = subprocess.run([QWEN3, "quantize", "-m", SMALL, "--lora", lora, "-o", out, "--type", typ],
                           capture_output=True, text=True)
        check(r.returncode == 0, f"quantize --lora {typ} runs", r.stderr)
        got, err = engine(model=out)
        check(got is not None, f"merged {typ} model runs", err)
        if got is None:
            continue
        e = logit_error(got, reference([lora]))
        if bound is None:  # within the runtime adapter's error on the same quantised base
            runtime, _ = engine("--dtype", typ, "--lora", lora)
            bound = 1.5 * logit_error(runtime, reference([lora])) + 1e-3
        check(e <= bound, f"merged {typ}: logit error {e:.2e} within {bound:.2e}")
        print(f"merged {typ}: max logit error {e:.2e} of the range")

    # 7: bad adapters
    cases = [("bad-dora", "DoRA"), ("bad-missing", "missing tensor"), ("bad-module", "lm_head.lora_A"),
             ("bad-target", "c_attn"), ("bad-bias", "bias"), ("bad-save", "only lm_head and embed_tokens"),
             ("bad-save-missing", "missing tensor base_model.model.lm_head.weight"),
             ("bad-rank", "rank 8"), ("bad-peft", "IA3"), ("bad-unselected", "do not select"),
             ("tiny-all", "another model"), ("no-such-dir", "no such adapter"),
             ("small-all.gguf:x", "no such adapter")]
    for name, needle in cases:
        r = subprocess.run([QWEN3, "eval", "-m", SMALL, "--jsonl", "--lora", os.path.join(LORA, name)],
                           input="", capture_output=True, text=True)
        lines = r.stderr.strip().splitlines()
        check(r.returncode == 1 and len(lines) == 1 and needle in lines[0],
              f"{name}: exit 1 with one line naming {needle!r}", f"rc {r.returncode}: {r.stderr.strip()}")
    r = subprocess.run([QWEN3, "eval", "-m", SMALL, "--jsonl", "--lora", "name=" + a_all], input="",
                       capture_output=True, text=True)
    check(r.returncode == 1 and "qwen3 serve" in r.stderr, "NAME=DIR outside serve is refused", r.stderr)

    print(f"{passed} passed, {failed} failed")
    sys.exit(1 if failed else 0)


if __name__ == "__main__":
    main()
