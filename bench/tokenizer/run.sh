#!/usr/bin/env bash
# Tokenizer benchmark: qwen3.cpp next to the official HF tokenizers npm binding (Rust), one thread each, on the
# same >= 10 MB mixed multilingual text, in the same run. Prints both JSON results and a Markdown table.
#   bench/tokenizer/run.sh [BUILD_DIR] [REPS]     (BUILD_DIR holds libqwen3lib.a; default: build)
# Needs: tools/tokenizer/node_modules (cd tools/tokenizer && npm ci --ignore-scripts), scripts/fetch-tokenizer.
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
build=$(cd "${1:-$root/build}" && pwd)
reps=${2:-5}
model="$root/.cache/qwen3-tokenizer"
corpus="$build/tokenizer_bench_corpus.txt"

[ -f "$corpus" ] || (cd "$root/tools/tokenizer" && node make_goldens.mjs --bench-corpus "$corpus" 12)
c++ -O2 -DNDEBUG -std=c++20 -I"$root/src" "$root/bench/tokenizer/bench_tokenizer.cpp" "$build/libqwen3lib.a" \
  $(pkg-config --libs libutf8proc) -lpthread -o "$build/bench_tokenizer"

ours=$(taskset -c 0 "$build/bench_tokenizer" "$model" "$corpus" "$reps")
ref=$(RAYON_NUM_THREADS=1 TOKENIZERS_PARALLELISM=false taskset -c 0 node "$root/bench/tokenizer/bench_npm.mjs" "$model" "$corpus" "$reps")
echo "$ours"
echo "$ref"
OURS="$ours" REF="$ref" node -e '
const a = JSON.parse(process.env.OURS), b = JSON.parse(process.env.REF);
const same = a.ids_fnv32 === b.ids_fnv32 && a.ids === b.ids && a.ids_many === b.ids_many;
if (!same) console.log("WARNING: the two implementations produced different ids");
const row = (name, k, kb = k) => {
  const r = (x, y) => `${(x / y).toFixed(0)}x`;
  return `| ${name} | ${a[k].toFixed(1)} | ${b[kb].toFixed(2)} | ${r(a[k], b[kb])} | ${a["cpu_" + k].toFixed(1)} | ` +
    `${b["cpu_" + kb].toFixed(2)} | ${r(a["cpu_" + k], b["cpu_" + kb])} |`;
};
console.log(`\ntext: ${(a.bytes / 1e6).toFixed(1)} MB, ${a.lines} lines, ${a.ids} tokens; identical ids from both: ${same}\n`);
console.log("| one thread, MB/s (median) | qwen3.cpp wall | HF wall | ratio | qwen3.cpp CPU | HF CPU | ratio |");
console.log("| --- | ---: | ---: | ---: | ---: | ---: | ---: |");
console.log(row("encode, one document", "encode_doc_mbs"));
console.log(row("encode, many short strings (HF: one encode call each)", "encode_many_mbs"));
console.log(row("encode, many short strings (HF: one encodeBatch call)", "encode_many_mbs", "encode_many_batch_mbs"));
console.log(row("decode, one document", "decode_mbs"));
console.log(`| encode, one document, cold word cache (qwen3.cpp only) | ${a.encode_doc_cold_mbs.toFixed(1)} | | | ` +
  `${a.cpu_encode_doc_cold_mbs.toFixed(1)} | | |`);
console.log(`\nload: ${a.load_s} s (qwen3.cpp) vs ${b.load_s} s (HF)`);
'
