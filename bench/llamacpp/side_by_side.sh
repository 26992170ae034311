#!/bin/bash
# qwen3 bench and llama.cpp (bench.mjs) on the same weights, alternating, for docs/BENCHMARKS.md:
#   bench/llamacpp/side_by_side.sh QWEN3_BIN MODEL_BF16_DIR OUT_DIR [ROUNDS]
# Makes the q8_0/q4_0 directories and the bf16/q8_0/q4_0 GGUF files next to OUT_DIR once (qwen3 quantize),
# then per round runs `qwen3 bench` and `bench.mjs` (-p 512 -n 128 -r 3 -t 2 --json) for each weight type and
# writes OUT_DIR/{q,l}-TYPE-ROUND.json; then the same at depth 4096 with q8_0 weights (qwen3: q8_0 cache);
# then prints the summary table of summarize.py (medians over the rounds, ratios, qwen3's shares of the limits).
# QWEN3_KV_TYPE=bf16 (or f32, q8_0) runs qwen3's depth-0 tests with that KV cache instead of its default f16
# (llama.cpp keeps its f16 cache). QWEN3_DEPTH_ROUNDS=N runs N rounds of the depth-4096 tests instead of ROUNDS
# (0: none; on a slow core they take several times the depth-0 ones). Time it on a quiet machine only
# (README.md).
set -euo pipefail
bin=$1 src=$2 out=$3 rounds=${4:-3}
kv=${QWEN3_KV_TYPE:-f16}
here=$(cd "$(dirname "$0")" && pwd)
mkdir -p "$out"
for t in bf16 q8_0 q4_0; do
  [[ -e $out/model-$t.gguf ]] || "$bin" quantize -m "$src" -o "$out/model-$t.gguf" --type $t
  [[ $t == bf16 || -e $out/model-$t ]] || "$bin" quantize -m "$src" -o "$out/model-$t" --type $t
done
dir_of() { [[ $1 == bf16 ]] && echo "$src" || echo "$out/model-$1"; }
for round in $(seq 1 "$rounds"); do
  for t in bf16 q8_0 q4_0; do
    "$bin" bench -m "$(dir_of $t)" -p 512 -n 128 -r 3 -t 2 --kv-type "$kv" --json >"$out/q-$t-$round.json"
    node "$here/bench.mjs" -m "$out/model-$t.gguf" -p 512 -n 128 -r 3 -t 2 --json >"$out/l-$t-$round.json"
  done
done
for round in $(seq 1 "${QWEN3_DEPTH_ROUNDS:-$rounds}"); do
  "$bin" bench -m "$(dir_of q8_0)" -p 512 -n 128 -d 4096 --kv-type q8_0 -r 3 -t 2 --json >"$out/qd-$round.json"
  node "$here/bench.mjs" -m "$out/model-q8_0.gguf" -p 512 -n 128 -d 4096 -r 3 -t 2 --json >"$out/ld-$round.json"
done
python3 "$here/summarize.py" "$out"
