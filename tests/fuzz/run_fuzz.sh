#!/usr/bin/env bash
# Builds tests/fuzz/fuzz_safetensors.cpp with libFuzzer, ASan and UBSan (clang++-14) in a temp
# dir and fuzzes a copy of tests/fuzz/corpus/ for SECONDS seconds. Exits non-zero on any crash,
# leak, sanitizer report or uncaught exception, keeping the temp dir (crash-* inputs) for replay.
# Usage: tests/fuzz/run_fuzz.sh SECONDS   (needs: apt-get install clang-14 libclang-rt-14-dev)
set -euo pipefail

seconds=${1:?usage: tests/fuzz/run_fuzz.sh SECONDS}
root=$(cd "$(dirname "$0")/../.." && pwd)
work=$(mktemp -d "${TMPDIR:-/tmp}/ponet-fuzz.XXXXXX")

clang++-14 -std=c++17 -O1 -g -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=all \
  -I "$root/include" "$root/tests/fuzz/fuzz_safetensors.cpp" -o "$work/fuzz_safetensors"
cp -r "$root/tests/fuzz/corpus" "$work/corpus"

cd "$work"
# halt_on_error + -fno-sanitize-recover: a UBSan report ends the run like an ASan one does.
if UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1 ./fuzz_safetensors -max_total_time="$seconds" \
  -max_len=4096 -print_final_stats=1 -artifact_prefix="$work/" corpus; then
  rm -rf "$work"
else
  status=$?
  echo "run_fuzz.sh: fuzzer failed (exit $status); inputs and binary kept in $work" >&2
  exit "$status"
fi
