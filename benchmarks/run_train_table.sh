#!/usr/bin/env bash
# The training-step table of docs/benchmarks.md: runs every train_step case of ponet-bench in its
# own process (so peak_rss_mib is that case's own), then benchmarks/train_table.py writes the
# Markdown tables and the SVG chart.
#   benchmarks/run_train_table.sh BUILD_DIR OUT_DIR [FILTER]
set -euo pipefail
build=${1:?usage: run_train_table.sh BUILD_DIR OUT_DIR [FILTER]}
out=${2:?usage: run_train_table.sh BUILD_DIR OUT_DIR [FILTER]}
filter=${3:-train_step}
bench="$build/benchmarks/ponet-bench"
mkdir -p "$out"
"$bench" --benchmark_list_tests --benchmark_filter="$filter" | while read -r name; do
  file="$out/$(echo "$name" | tr '/:' '__').json"
  echo "== $name"
  "$bench" --benchmark_filter="^${name}\$" --benchmark_out="$file" --benchmark_out_format=json \
    --benchmark_format=console | tail -1
done
python3 "$(dirname "$0")/train_table.py" "$out"
