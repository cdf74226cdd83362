#!/usr/bin/env bash
# The GPU session's checks, in one run that fits in about 8 minutes on one H200:
#   1. the machine: nvidia-smi, nvcc, the binaries' libraries          -> OUT/env.txt
#   2. build with CUDA (-DPONET_CUDA=ON), unless BUILD already holds the binaries
#                                                                       -> OUT/build.log
#   3. ponet-cuda-tests (CPU <-> GPU parity, determinism), every launch synchronised
#      (PONET_CUDA_SYNC=1) so a failing kernel names itself           -> OUT/cuda_tests.{txt,xml}
#   4. ponet-bench-cuda: training steps of PoNet, Transformer and FNet at the LRA Text setting,
#      N = 512 ... 16384 (steps/s, peak memory)                        -> OUT/bench_train.json
#   5. ponet-bench-cuda: the mixing, fused and unfused, against a device-to-device copy
#                                                                       -> OUT/bench_mixing.json
#   6. the same PoNet training step in PyTorch, eager and torch.compile, where PyTorch is
#      installed                                                        -> OUT/torch.json
#   7. ponet-train-listops-cuda, 60 quick steps (the trainer on the GPU learns at all)
#                                                                       -> OUT/trainer.{txt,json}
#   8. compute-sanitizer memcheck over the expression tests, if time is left
#                                                                       -> OUT/memcheck.txt
# Every step has a timeout inside a global deadline (PONET_GPU_CHECKS_SECONDS, default 450);
# a step that does not fit is skipped and says so. OUT/summary.txt lists each step's status.
#
# Usage: benchmarks/run_gpu_checks.sh OUT [BUILD]
#   OUT    folder for the results (created); through the device tool: "$OUT"
#   BUILD  build folder (default build-gpu); if BUILD/tests/ponet-cuda-tests and
#          BUILD/benchmarks/ponet-bench-cuda exist they are used as they are (carry a folder
#          built elsewhere; BUILD/examples/ponet-train-listops-cuda too, optionally), otherwise
#          it is configured and built here for sm_90 only
# Exit status: 0 when the tests passed, 1 when they failed or did not run, 77 without a device.
set -uo pipefail
cd "$(dirname "$0")/.."
out=${1:?usage: benchmarks/run_gpu_checks.sh OUT [BUILD]}
build=${2:-build-gpu}
mkdir -p "$out"
out=$(cd "$out" && pwd)
start=$SECONDS
deadline=$((start + ${PONET_GPU_CHECKS_SECONDS:-450}))
summary=$out/summary.txt
: >"$summary"
note() { printf '%s\n' "$*" | tee -a "$summary"; }
left() { echo $((deadline - SECONDS)); }

# run NAME MAX_SECONDS LOG CMD...: runs CMD with a timeout of min(MAX, time left - 10 s).
run() {
  local name=$1 max=$2 log=$3
  shift 3
  local budget=$(($(left) - 10))
  ((budget > max)) && budget=$max
  if ((budget < 15)); then
    note "$name: SKIPPED (no time left)"
    return 124
  fi
  local t0=$SECONDS
  timeout --kill-after=5 "$budget" "$@" >"$log" 2>&1
  local rc=$?
  local what=ok
  ((rc == 124 || rc == 137)) && what="TIMEOUT after ${budget}s"
  ((rc == 77)) && what=skipped
  ((rc != 0 && rc != 124 && rc != 137 && rc != 77)) && what="FAILED (exit $rc)"
  note "$name: $what in $((SECONDS - t0)) s (log: $(basename "$log"))"
  return $rc
}

# 1. the machine
{
  echo "date: $(date -u +%FT%TZ)"
  echo "host: $(uname -a)"
  echo "cpus: $(nproc)"
  nvidia-smi 2>&1 || echo "nvidia-smi: not available"
  nvidia-smi --query-gpu=name,memory.total,clocks.max.sm,clocks.max.mem --format=csv 2>&1 || true
  /usr/local/cuda/bin/nvcc --version 2>&1 || echo "nvcc: not available"
  git log -1 --oneline 2>/dev/null || true
} >"$out/env.txt"
note "gpu checks: $(head -c 200 <(nvidia-smi -L 2>/dev/null || echo 'no nvidia-smi'))"

# 2. build
tests_bin=$build/tests/ponet-cuda-tests
bench_bin=$build/benchmarks/ponet-bench-cuda
if [[ -x $tests_bin && -x $bench_bin ]]; then
  note "build: using the binaries in $build"
else
  jobs=$(nproc)
  run "configure" 120 "$out/configure.log" cmake -S . -B "$build" -DCMAKE_BUILD_TYPE=Release \
    -DPONET_CUDA=ON -DCMAKE_CUDA_ARCHITECTURES=90
  run "build" 300 "$out/build.log" cmake --build "$build" -j"$jobs" \
    --target ponet-cuda-tests ponet-bench-cuda ponet-train-listops-cuda
fi
{
  echo "== ldd $tests_bin"
  ldd "$tests_bin" 2>&1
  echo "== ldd $bench_bin"
  ldd "$bench_bin" 2>&1
} >>"$out/env.txt"
if [[ ! -x $tests_bin ]]; then
  note "tests: NOT RUN (no $tests_bin)"
  exit 1
fi

# 3. the tests
run "cuda tests" 120 "$out/cuda_tests.txt" env PONET_CUDA_SYNC=1 "$tests_bin" --durations yes \
  --reporter junit --out "$out/cuda_tests.xml"
tests_rc=$?
# The junit reporter writes to the file; keep a readable copy of failures too.
if ((tests_rc != 0 && tests_rc != 77)); then
  run "cuda tests (console, failures)" 60 "$out/cuda_tests_console.txt" \
    env PONET_CUDA_SYNC=1 "$tests_bin" --reporter console
fi
if ((tests_rc == 77)); then
  note "result: SKIPPED (no CUDA device)"
  exit 77
fi

# 4. and 5. the benchmarks (JSON); the console tables go to the logs.
if [[ -x $bench_bin ]]; then
  run "bench: training steps" 200 "$out/bench_train.txt" "$bench_bin" \
    --benchmark_filter='cuda_train_step' --benchmark_out="$out/bench_train.json" \
    --benchmark_out_format=json
  run "bench: mixing vs copy" 100 "$out/bench_mixing.txt" "$bench_bin" \
    --benchmark_filter='cuda_copy|cuda_mixing' --benchmark_out="$out/bench_mixing.json" \
    --benchmark_out_format=json
else
  note "benchmarks: NOT RUN (no $bench_bin)"
fi

# 6. PyTorch, where it is installed
if python3 -c 'import torch' >/dev/null 2>&1; then
  run "torch: PoNet training step" 100 "$out/torch.txt" python3 benchmarks/cuda/torch_ponet_step.py \
    --out "$out/torch.json" --lengths 512 1024 2048 4096 8192 16384 --compile \
    --compile-lengths 1024 4096
else
  note "torch: SKIPPED (PyTorch is not installed)"
fi

# 7. the trainer on the GPU: 60 quick steps on freshly generated ListOps
trainer_bin=$build/examples/ponet-train-listops-cuda
if [[ -x $trainer_bin ]]; then
  run "trainer: 60 quick ListOps steps" 60 "$out/trainer.txt" "$trainer_bin" --quick \
    --data "$out/listops-quick" --train-size 3000 --steps 60 --warmup 10 --eval-every 60 \
    --log-every 10 --metrics-out "$out/trainer.json"
  rm -rf "$out/listops-quick"
else
  note "trainer: NOT RUN (no $trainer_bin)"
fi

# 8. memcheck, if time is left
sanitizer=/usr/local/cuda/bin/compute-sanitizer
if [[ -x $sanitizer ]]; then
  run "memcheck: expression tests" 90 "$out/memcheck.txt" "$sanitizer" --tool memcheck \
    --error-exitcode 3 "$tests_bin" '[expr]'
else
  note "memcheck: SKIPPED (no compute-sanitizer)"
fi

note "total: $((SECONDS - start)) s"
if ((tests_rc == 0)); then
  note "result: the CUDA tests PASSED"
  exit 0
fi
note "result: the CUDA tests FAILED or did not finish (see cuda_tests.*)"
exit 1
