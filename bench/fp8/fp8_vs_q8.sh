#!/bin/sh
# FP8 (Qwen's fine-grained layout) beside q8_0 on one model, side by side: both written from the same bf16/f32
# model by qwen3 quantize, then `qwen3 bench` alternating between the two for ROUNDS rounds (each a run of
# -r 3 repetitions), and the peak RSS of a short run of each (/usr/bin/time -v). Prints one JSON line per run
# and the medians. A third model, fp8-embq8, has fp8 layers and q8_0's embedding table.
# Usage: bench/fp8/fp8_vs_q8.sh QWEN3 MODEL OUT_DIR [ROUNDS] [P] [N]
set -eu
QWEN3=$1 MODEL=$2 OUT=$3 ROUNDS=${4:-3} P=${5:-128} N=${6:-32}
mkdir -p "$OUT"
[ -d "$OUT/fp8" ] || "$QWEN3" quantize -m "$MODEL" -o "$OUT/fp8" --type fp8
[ -d "$OUT/q8_0" ] || "$QWEN3" quantize -m "$MODEL" -o "$OUT/q8_0" --type q8_0
# fp8 layers with q8_0's embedding table: the same bytes as q8_0 outside the layers (bench/fp8/embed_q8.py)
[ -d "$OUT/fp8-embq8" ] || /usr/bin/python3 "$(dirname "$0")/embed_q8.py" "$OUT/fp8" "$OUT/q8_0" "$OUT/fp8-embq8"
date -u
lscpu | grep -E 'Model name|CPU family|^CPU\(s\)'
uptime
: > "$OUT/runs.jsonl"
for round in $(seq "$ROUNDS"); do
  for t in fp8 q8_0 fp8-embq8; do
    "$QWEN3" bench -m "$OUT/$t" -p "$P" -n "$N" -r 3 -t 2 --no-limits --json |
      python3 -c "import json,sys; [print(json.dumps({'model': '$t', 'round': $round, 'test': 'pp' if r['n_prompt'] else 'tg', 'ts': r['avg_ts']})) for r in json.load(sys.stdin)]" |
      tee -a "$OUT/runs.jsonl"
  done
done
uptime
python3 - "$OUT/runs.jsonl" <<'PY'
import json, statistics, sys
runs = [json.loads(l) for l in open(sys.argv[1])]
for test in ("pp", "tg"):
    med = {m: statistics.median(r["ts"] for r in runs if r["model"] == m and r["test"] == test)
           for m in ("fp8", "q8_0", "fp8-embq8")}
    print("%s: fp8 %.1f tok/s, q8_0 %.1f tok/s, fp8-embq8 %.1f tok/s; fp8/q8_0 %.2f, fp8-embq8/q8_0 %.2f" %
          (test, med["fp8"], med["q8_0"], med["fp8-embq8"], med["fp8"] / med["q8_0"], med["fp8-embq8"] / med["q8_0"]))
PY
for t in fp8 q8_0 fp8-embq8; do
  /usr/bin/time -v "$QWEN3" bench -m "$OUT/$t" -p 16 -n 4 -r 1 -t 2 --no-limits 2>&1 >/dev/null | sed -n "s/Maximum resident set size (kbytes)/$t peak RSS (KiB)/p"
done
du -b "$OUT/fp8/model.safetensors" "$OUT/q8_0/model.safetensors" "$OUT/fp8-embq8/model.safetensors"
