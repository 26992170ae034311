#!/usr/bin/env bash
# CTest fixture: the synthetic models and NumPy reference results the model tests compare with.
# Usage: make_reference_data.sh QWEN3_BINARY SOURCE_DIR OUT_DIR
# Skips the work when OUT_DIR/stamp matches the inputs (binary's synth code, reference, prompts, this script).
set -euo pipefail
bin=$1 src=$2 out=$3
py=/usr/bin/python3
stamp=$(cat "$0" "$src/tools/reference/qwen3_ref.py" "$src/tools/reference/make_prompts.py" \
  "$src/src/model/synth.cpp" "$src/src/formats/safetensors_writer.cpp" | sha256sum | cut -c1-16)
if [ -f "$out/stamp" ] && [ "$(cat "$out/stamp")" = "$stamp" ]; then
  echo "reference data up to date in $out"
  exit 0
fi
rm -rf "$out"
mkdir -p "$out/models" "$out/ref"
$py "$src/tools/reference/make_prompts.py" 32 >"$out/prompts.jsonl"
for preset in tiny small qwen3-0.6b; do
  for dtype in f32 bf16; do
    "$bin" synth --preset "$preset" --dtype "$dtype" --seed 7 --out "$out/models/$preset-$dtype"
  done
done
"$bin" synth --preset tiny --dtype f32 --seed 7 --shards 3 --out "$out/models/tiny-f32-sharded"
"$bin" synth --preset small --dtype bf16 --seed 7 --shards 2 --out "$out/models/small-bf16-sharded"
for m in tiny-f32 tiny-bf16 small-f32 small-bf16 qwen3-0.6b-f32 qwen3-0.6b-bf16; do
  echo "reference: $m" >&2
  $py "$src/tools/reference/qwen3_ref.py" "$out/models/$m" <"$out/prompts.jsonl" >"$out/ref/$m.jsonl"
done
echo "$stamp" >"$out/stamp"
