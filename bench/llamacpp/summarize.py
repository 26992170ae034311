#!/usr/bin/env python3
"""Summarises a side_by_side.sh run: bench/llamacpp/summarize.py OUT_DIR

For each weight type and test (pp512, tg128; then pp512/tg128 at depth 4096), the median over the rounds of
each engine's mean tok/s, every round's figure in brackets, the ratio qwen3 / llama.cpp, and qwen3's own share
of the machine's limits (median of the rounds: against the run's start probe and, for decode, against the
read probes taken right before and after each repetition)."""
import glob
import json
import os
import statistics
import sys


def load(path):
    with open(path) as f:
        return json.load(f)


def pick(results, depth, prompt):
    return [r for r in results if r["n_depth"] == depth and (r["n_prompt"] > 0) == prompt]


def rounds(out, prefix):
    files = sorted(glob.glob(os.path.join(out, prefix + "-*.json")), key=lambda p: int(p.rsplit("-", 1)[1][:-5]))
    return [load(p) for p in files]


def fmt(xs):
    return "%.1f (%s)" % (statistics.median(xs), ", ".join("%.1f" % x for x in xs))


def pct(xs):
    xs = [x for x in xs if x is not None]
    return "%.1f %%" % (100 * statistics.median(xs)) if xs else "-"


def row(label, q_runs, l_runs, depth, prompt):
    q = [r for run in q_runs for r in pick(run, depth, prompt)]
    l = [r for run in l_runs for r in pick(run, depth, prompt)]
    if not q or not l:
        return
    qt, lt = [r["avg_ts"] for r in q], [r["avg_ts"] for r in l]
    share = pct([r.get("limit_share") for r in q])
    adj = "-" if prompt else pct([r.get("adjacent_share_median") for r in q])
    ratio = statistics.median(qt) / statistics.median(lt)
    kv = q[0].get("type_k", "f16")
    if kv != "f16" and depth == 0:
        label += f" (qwen3 {kv} cache)"
    print(f"| {label} | {fmt(qt)} | {fmt(lt)} | {ratio:.2f}x | {share} | {adj} |")


def main():
    out = sys.argv[1]
    print("| test | qwen3 tok/s | llama.cpp tok/s | ratio | qwen3 share of limit | share of adjacent read |")
    print("| --- | ---: | ---: | ---: | ---: | ---: |")
    for t in ("bf16", "q8_0", "q4_0"):
        q_runs, l_runs = rounds(out, "q-" + t), rounds(out, "l-" + t)
        row(f"{t} pp512", q_runs, l_runs, 0, True)
        row(f"{t} tg128", q_runs, l_runs, 0, False)
    qd, ld = rounds(out, "qd"), rounds(out, "ld")
    row("q8_0 pp512 @ d4096", qd, ld, 4096, True)
    row("q8_0 tg128 @ d4096", qd, ld, 4096, False)


if __name__ == "__main__":
    main()
