#!/usr/bin/env python3
"""qwen3 perplexity on a tiny synthetic model, checked against independent computations:
  1. ppl against tools/reference/qwen3_ref.py --perplexity (NumPy, float64, the same chunks), 1e-3 relative;
  2. the KL base file (llama.cpp's --kl-divergence-base format) parsed here and its log-probabilities compared
     with the reference's log-softmax;
  3. the KL divergence and top-1 agreement of a q8_0 run recomputed here, with llama.cpp's formula, from the base
     file and logits that `qwen3 eval` gives for each scored position;
  4. bad input: one line, exit 1.
Usage: test_perplexity.py QWEN3 MODEL_DIR QWEN3_REF_PY WORK_DIR
"""
import json
import os
import random
import struct
import subprocess
import sys

import numpy as np

QWEN3, MODEL, REF, WORK = sys.argv[1:5]
N_CTX, CHUNKS = 64, 3
passed = failed = 0


def check(cond, what, detail=""):
    global passed, failed
    if cond:
        passed += 1
    else:
        failed += 1
        print("FAIL: " + what + ("\n  " + str(detail) if detail else ""), flush=True)


def qwen3(*args, stdin=None):
    return subprocess.run([QWEN3, *args], capture_output=True, text=True, input=stdin)


def last_json(out):
    return json.loads(out.strip().splitlines()[-1])


def read_base(path):
    with open(path, "rb") as f:
        data = f.read()
    assert data[:8] == b"_logits_", data[:8]
    n_ctx, n_vocab, n_chunk = struct.unpack("<3i", data[8:20])
    tokens = np.frombuffer(data, "<i4", n_ctx * n_chunk, 20)
    nv = 2 * ((n_vocab + 1) // 2) + 4
    first = n_ctx // 2
    n_rows = n_chunk * (n_ctx - 1 - first)
    off = 20 + 4 * len(tokens)
    assert len(data) == off + n_rows * nv * 2, (len(data), off + n_rows * nv * 2)
    raw = np.frombuffer(data, "<u2", n_rows * nv, off).reshape(n_rows, nv)
    head = raw[:, :4].copy().view("<f4")  # scale, min_log_prob
    logp = head[:, :1].astype(np.float64) * raw[:, 4:4 + n_vocab] + head[:, 1:2]
    return n_ctx, n_vocab, n_chunk, tokens, logp


def main():
    os.makedirs(WORK, exist_ok=True)
    rng = random.Random(5)
    words = ("the model reads a long text and predicts every next word of it while the cache holds what came "
             "before , small numbers grow into large ones when the weights are random .").split()
    text = " ".join(rng.choice(words) for _ in range(400))
    text_path = os.path.join(WORK, "text.txt")
    with open(text_path, "w") as f:
        f.write(text)
    ids = json.loads(qwen3("tokenize", "-m", MODEL, "--jsonl", stdin=json.dumps({"text": text}) + "\n").stdout)["ids"]
    assert len(ids) >= N_CTX * CHUNKS, len(ids)

    # 1. ppl against the float64 reference.
    ref_rows = os.path.join(WORK, "ref_logprobs.npy")
    ref = json.loads(subprocess.run([sys.executable, REF, MODEL, "--perplexity", str(N_CTX), str(CHUNKS),
                                     "--logprobs-out", ref_rows], input=json.dumps({"ids": ids}),
                                    capture_output=True, text=True, check=True).stdout)
    base = os.path.join(WORK, "f32.kld")
    common = ["-m", MODEL, "-c", str(N_CTX), "--chunks", str(CHUNKS), "--kv-type", "f32", "--json", "-t", "2"]
    r = qwen3("perplexity", "-f", text_path, *common)
    check(r.returncode == 0, "perplexity runs", r.stderr)
    got = last_json(r.stdout)
    check(got["positions"] == CHUNKS * (N_CTX // 2 - 1) == ref["positions"], "scored positions", (got, ref))
    check(abs(got["ppl"] / ref["ppl"] - 1) < 1e-3, "ppl within 1e-3 of the float64 reference", (got["ppl"], ref["ppl"]))
    check(got["kld_mean"] is None and got["top1_agree"] is None, "no KL without a base")
    check(1.0 < ref["ppl"], "a real perplexity", ref)

    # 2. The base file: llama.cpp's layout, log-probabilities as the reference's.
    r = qwen3("perplexity", "-f", text_path, "--kl-divergence-base", base, *common)
    check(r.returncode == 0 and abs(last_json(r.stdout)["ppl"] / got["ppl"] - 1) < 1e-6, "writing the base", r.stderr)
    n_ctx, n_vocab, n_chunk, tokens, logp = read_base(base)
    check((n_ctx, n_chunk) == (N_CTX, CHUNKS) and list(tokens) == ids[:N_CTX * CHUNKS], "base header and tokens")
    want = np.load(ref_rows)
    mask = want > -15
    err = np.abs(logp - want)[mask].max()
    check(logp.shape == want.shape and err < 2e-3, "base log-probabilities match the reference", err)

    # 3. KL divergence: itself ~0 and top-1 all agreeing; q8_0 recomputed from `qwen3 eval` logits.
    r = qwen3("perplexity", "--kl-divergence-base", base, "--kl-divergence", *common)
    same = last_json(r.stdout)
    check(r.returncode == 0 and same["kld_mean"] < 1e-6 and same["top1_agree"] == 1.0, "KL of a run from itself", same)
    kl_chunks = 2
    r = qwen3("perplexity", "--kl-divergence-base", base, "--kl-divergence", *common[:4], "--chunks", str(kl_chunks),
              "--dtype", "q8_0", "--kv-type", "f32", "--json", "-t", "2")
    q8 = last_json(r.stdout)
    check(r.returncode == 0 and q8["positions"] == kl_chunks * (N_CTX // 2 - 1), "KL run of q8_0", r.stderr)
    first = N_CTX // 2
    reqs = []
    for c in range(kl_chunks):
        chunk = ids[c * N_CTX:(c + 1) * N_CTX]
        for j in range(first, N_CTX - 1):
            reqs.append(json.dumps({"ids": chunk[:j + 1], "n_predict": 0, "logits": True}))
    r = qwen3("eval", "-m", MODEL, "--dtype", "q8_0", "--jsonl", "-t", "2", stdin="\n".join(reqs) + "\n")
    rows = np.array([json.loads(l)["logits"] for l in r.stdout.splitlines()], dtype=np.float64)
    m = rows.max(axis=1, keepdims=True)
    lq = rows - (m + np.log(np.exp(rows - m).sum(axis=1, keepdims=True)))
    lb = logp[:len(rows)]
    kl = np.where(lb > -16, np.exp(lb) * (lb - lq), 0).sum(axis=1)
    top = np.mean(rows.argmax(axis=1) == lb.argmax(axis=1))
    check(abs(q8["kld_mean"] - kl.mean()) <= 2e-2 * kl.mean() + 1e-7, "q8_0 KL as recomputed", (q8["kld_mean"], kl.mean()))
    check(abs(q8["top1_agree"] - top) <= 1.0 / len(rows) + 1e-9, "q8_0 top-1 agreement as recomputed", (q8["top1_agree"], top))
    check(q8["kld_mean"] > 0, "q8_0 differs from f32", q8)
    check(abs(q8["kld_p99"] - np.sort(kl)[int(round(0.99 * (len(kl) - 1)))]) <= 0.05 * kl.max() + 1e-7, "99th percentile", q8)

    # 4. Bad input: one clear line, exit 1.
    short = os.path.join(WORK, "short.txt")
    with open(short, "w") as f:
        f.write("too short")
    bad_base = os.path.join(WORK, "bad.kld")
    with open(bad_base, "wb") as f:
        f.write(b"not a base file at all")
    for args, want_text in [
        (["-f", short], "at least 128 are needed"),
        (["-f", os.path.join(WORK, "missing.txt")], "cannot open"),
        (["--kl-divergence", "-f", text_path], "--kl-divergence needs --kl-divergence-base"),
        (["--kl-divergence", "--kl-divergence-base", bad_base], "not a KL divergence base file"),
        (["--kl-divergence", "--kl-divergence-base", base, "-c", "32"], "was made with -c 64"),
        ([], "give the text with -f"),
    ]:
        r = qwen3("perplexity", "-m", MODEL, "-c", "64", *args) if "-c" not in args else qwen3("perplexity", "-m", MODEL, *args)
        check(r.returncode == 1 and want_text in r.stderr and r.stderr.count("\n") == 1, "bad input: " + want_text,
              r.stderr)
    print("%d passed, %d failed" % (passed, failed))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
