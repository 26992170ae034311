#!/bin/sh
# Runs each chat fuzzer for SECONDS (default 180) from the seed corpora in tests/fuzz/corpus/, keeping what it
# finds in build-fuzz/corpus/. Any crash, leak, sanitizer report or slow input (>10 s) stops the run.
set -eu
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
OUT=${OUT:-$ROOT/build-fuzz}
SECS=${1:-180}
for h in fuzz_jinja fuzz_chat_render fuzz_output_parser; do
  mkdir -p "$OUT/corpus/$h"
  echo "== $h for ${SECS}s"
  DICT=""; [ "$h" = fuzz_jinja ] && DICT="-dict=$ROOT/tests/fuzz/jinja.dict"
  "$OUT/$h" $DICT -max_total_time="$SECS" -timeout=10 -rss_limit_mb=2048 -max_len=8192 -print_final_stats=1 \
    -artifact_prefix="$OUT/$h-" "$OUT/corpus/$h" "$ROOT/tests/fuzz/corpus/$h" 2>&1 | tail -n 12
done
