#!/usr/bin/env bash
# LoRA training throughput beside the forward prompt speed, side by side (issue 19): for each base dtype,
# rounds alternating `qwen3 bench -p 512 -n 0` (prompt tok/s) and `qwen3 finetune` on 512-token {"text"}
# examples (one per step: --batch-tokens 512 --max-len 512, rank 16 all-linear, activation checkpointing),
# each under /usr/bin/time -v for its peak RSS. Prints one line per run and the medians and ratios per dtype.
# Training tok/s is over all of a run's steps, the first included, which pays the buffers' first touches once:
# STEPS of 12 or more keep that near what a long run sees.
#   bench/train/finetune_bench.sh QWEN3_BIN MODEL_DIR [ROUNDS=3] [STEPS=12] [DTYPES="bf16 q8_0"]
set -euo pipefail
bin=${1:?qwen3 binary}
model=${2:?model directory (e.g. a qwen3 synth --preset qwen3-0.6b model)}
rounds=${3:-3}
steps=${4:-12}
dtypes=${5:-"bf16 q8_0"}
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
python3 - "$work/train.jsonl" "$steps" <<'PY'
import json, random, sys
random.seed(1)
words = ("the of and to in is was for on that with as by at from his her it an are were which be this has had "
         "not but its they their one have new first two after who been also all more other can than into would "
         "when only over most some such time about three there then these years during many may made used").split()
with open(sys.argv[1], "w") as f:
    for _ in range(int(sys.argv[2])):  # ~700 words: more than 512 tokens, cut to --max-len 512
        f.write(json.dumps({"text": " ".join(random.choice(words) for _ in range(700))}) + "\n")
PY
echo "cpu: $(lscpu | sed -n 's/^Model name: *//p'), $(nproc) cpus; load average: $(cut -d' ' -f1-3 /proc/loadavg)"
rss() { sed -n 's/.*Maximum resident set size (kbytes): //p' "$1"; }
for dt in $dtypes; do
  pp=() tr=() pr=() trr=()
  for r in $(seq 1 "$rounds"); do
    /usr/bin/time -v "$bin" bench -m "$model" --dtype "$dt" -p 512 -n 0 -r 3 -t 2 --no-limits --json \
      >"$work/pp.json" 2>"$work/pp.time"
    p=$(python3 -c 'import json,sys; print("%.2f" % json.load(open(sys.argv[1]))[0]["avg_ts"])' "$work/pp.json")
    /usr/bin/time -v "$bin" finetune -m "$model" --dtype "$dt" --data "$work/train.jsonl" --out "$work/adapter" \
      --steps "$steps" --batch-tokens 512 --max-len 512 --rank 16 --alpha 32 --target all-linear -t 2 --json \
      >"$work/ft.json" 2>"$work/ft.time"
    t=$(python3 -c 'import json,sys; print("%.2f" % json.loads(open(sys.argv[1]).read().strip().splitlines()[-1])["tokens_per_s"])' "$work/ft.json")
    pp+=("$p") tr+=("$t") pr+=("$(rss "$work/pp.time")") trr+=("$(rss "$work/ft.time")")
    echo "$dt round $r: prompt $p tok/s (peak RSS ${pr[-1]} kB), training $t tok/s (peak RSS ${trr[-1]} kB)," \
      "load $(cut -d' ' -f1 /proc/loadavg)"
  done
  python3 - "$dt" "${pp[*]}" "${tr[*]}" "${pr[*]}" "${trr[*]}" <<'PY'
import statistics as st, sys
dt, pp, tr, pr, trr = sys.argv[1], *[list(map(float, a.split())) for a in sys.argv[2:]]
ratios = [t / p for p, t in zip(pp, tr)]
mem = [t / p for p, t in zip(pr, trr)]
print(f"{dt}: median prompt {st.median(pp):.1f} tok/s, training {st.median(tr):.1f} tok/s, ratio per round "
      f"{', '.join('%.3f' % x for x in ratios)} (median {st.median(ratios):.3f}; goal >= 0.25); peak RSS "
      f"{st.median(pr) / 1024:.0f} MB inference, {st.median(trr) / 1024:.0f} MB training (ratio "
      f"{st.median(mem):.2f}; goal <= 1.5)")
PY
done
