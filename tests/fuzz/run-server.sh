#!/bin/sh
# Runs the server's fuzz targets (built by `make fuzz-server` into build-fuzz-server/) for SECONDS each (default
# 120) from the seed corpora in tests/fuzz/corpus/, keeping what they find in build-fuzz-server/corpus/. Any
# crash, leak, sanitizer report or slow input (>10 s) stops the run.
set -eu
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
OUT=${OUT:-$ROOT/build-fuzz-server}
SECS=${1:-120}
for h in fuzz_http fuzz_request fuzz_schema fuzz_regex fuzz_gbnf; do
  mkdir -p "$OUT/corpus/$h" "$ROOT/tests/fuzz/corpus/$h"
  echo "== $h for ${SECS}s"
  "$OUT/$h" -max_total_time="$SECS" -timeout=10 -rss_limit_mb=4096 -max_len=65536 -print_final_stats=1 \
    -artifact_prefix="$OUT/$h-" "$OUT/corpus/$h" "$ROOT/tests/fuzz/corpus/$h" 2>&1 | tail -n 12
done
