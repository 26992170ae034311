#!/bin/bash
# The GGUF weight types of issue 17 side by side with llama.cpp, for docs/BENCHMARKS.md:
#   bench/llamacpp/kquants.sh QWEN3_BIN MODEL_F32_DIR TEXT BASE_KLD OUT_DIR [ROUNDS] [P] [N]
# Writes OUT_DIR/m-TYPE.gguf for TYPE in q4_k_m q5_k_m q6_k q4_0 q8_0 once (qwen3 quantize from the f32 model);
# per round and type, alternating, `qwen3 bench` and bench.mjs (llama.cpp) on the same file (-p P -n N -r 3
# -t 2 --json: OUT_DIR/{q,l}-TYPE-ROUND.json); then qwen3 perplexity's KL divergence of each file from the f32
# model's logits in BASE_KLD (made by `qwen3 perplexity -m MODEL_F32_DIR -f TEXT -c 512 --chunks 4
# --kl-divergence-base BASE_KLD`): OUT_DIR/kld-TYPE.json; and llama.cpp's KL divergence of the same file from the
# same base (kld.mjs, about 6 min per type on 2 cores; LLAMA_KLD=0 skips it): OUT_DIR/lkld-TYPE.json.
# Time it on a quiet machine only (README.md).
set -euo pipefail
bin=$1 src=$2 text=$3 base=$4 out=$5 rounds=${6:-3} p=${7:-512} n=${8:-128}
here=$(cd "$(dirname "$0")" && pwd)
types=(q4_k_m q5_k_m q6_k q4_0 q8_0)
mkdir -p "$out"
for t in "${types[@]}"; do
  [[ -e $out/m-$t.gguf ]] || "$bin" quantize -m "$src" -o "$out/m-$t.gguf" --type $t
done
for round in $(seq 1 "$rounds"); do
  for t in "${types[@]}"; do
    "$bin" bench -m "$out/m-$t.gguf" -p "$p" -n "$n" -r 3 -t 2 --json >"$out/q-$t-$round.json"
    node "$here/bench.mjs" -m "$out/m-$t.gguf" -p "$p" -n "$n" -r 3 -t 2 --json >"$out/l-$t-$round.json"
  done
done
for t in "${types[@]}"; do
  "$bin" perplexity -m "$out/m-$t.gguf" -f "$text" -c 512 --chunks 4 -t 2 --kl-divergence-base "$base" \
    --kl-divergence --json | tail -1 >"$out/kld-$t.json"
  if [[ ${LLAMA_KLD:-1} != 0 ]]; then
    node "$here/kld.mjs" -m "$out/m-$t.gguf" --kl-divergence-base "$base" -t 2 --json | tail -1 >"$out/lkld-$t.json"
  fi
done
python3 - "$out" "${types[@]}" <<'PY'
import json, os, statistics, sys
out, types = sys.argv[1], sys.argv[2:]
def runs(prefix, t):
    import glob
    return [json.load(open(f)) for f in sorted(glob.glob("%s/%s-%s-*.json" % (out, prefix, t)))]
print("| type | qwen3 pp | llama.cpp pp | ratio | qwen3 tg | llama.cpp tg | ratio | mean KLD | same top "
      "| llama.cpp mean KLD | llama.cpp same top |")
print("| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |")
for t in types:
    def med(prefix, prompt):
        xs = [r["avg_ts"] for run in runs(prefix, t) for r in run if (r["n_prompt"] > 0) == prompt]
        return statistics.median(xs)
    qp, lp, qt, lt = med("q", True), med("l", True), med("q", False), med("l", False)
    k = json.load(open("%s/kld-%s.json" % (out, t)))
    lk_path = "%s/lkld-%s.json" % (out, t)
    lk = json.load(open(lk_path)) if os.path.exists(lk_path) else None
    lcols = "%.5f | %.2f %%" % (lk["kld_mean"], 100 * lk["top1_agree"]) if lk else "- | -"
    print("| %s | %.1f | %.1f | %.2fx | %.1f | %.1f | %.2fx | %.5f | %.2f %% | %s |" %
          (t, qp, lp, qp / lp, qt, lt, qt / lt, k["kld_mean"], 100 * k["top1_agree"], lcols))
PY
