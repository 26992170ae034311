#!/bin/sh
# Builds the libFuzzer harnesses of the chat module with clang-14 (ASan + UBSan) into build-fuzz/ (not part of the
# default g++ build). Usage: tests/fuzz/build.sh [OUT_DIR]; then tests/fuzz/run.sh SECONDS.
set -eu
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
OUT=${1:-$ROOT/build-fuzz}
mkdir -p "$OUT/obj"
CXX=${CXX:-clang++-14}
FLAGS="-std=c++20 -O1 -g -fno-omit-frame-pointer -fsanitize=fuzzer-no-link,address,undefined -fno-sanitize-recover=undefined -I$ROOT/src -DQWEN3_SOURCE_DIR=\"$ROOT\""
OBJS=""
for f in "$ROOT"/src/chat/*.cpp "$ROOT"/src/core/error.cpp "$ROOT"/src/core/file.cpp; do
  o="$OUT/obj/$(basename "$f" .cpp).o"
  if [ ! -f "$o" ] || [ "$f" -nt "$o" ]; then
    echo "compiling $(basename "$f")"
    $CXX $FLAGS -c "$f" -o "$o"
  fi
  OBJS="$OBJS $o"
done
for h in fuzz_jinja fuzz_chat_render fuzz_output_parser; do
  echo "linking $h"
  $CXX $FLAGS -fsanitize=fuzzer,address,undefined "$ROOT/tests/fuzz/$h.cpp" $OBJS -lutf8proc -o "$OUT/$h"
done
