// ponet-bench-cuda's main: without a CUDA device it prints "SKIPPED: no CUDA device (<reason>)"
// and exits 77; with one, Google Benchmark runs the cases of bench_*.cu (flags as usual:
// --benchmark_filter, --benchmark_out=<file>.json, --benchmark_out_format=json).
#include <benchmark/benchmark.h>

#include <cstdio>
#include <string>

#include <ponet/cuda/common.cuh>

int main(int argc, char** argv) {
  std::string reason;
  if (ponet::cuda::device_count(&reason) == 0) {
    std::printf("SKIPPED: no CUDA device (%s)\n", reason.c_str());
    return 77;
  }
  cudaDeviceProp prop{};
  if (cudaGetDeviceProperties(&prop, 0) == cudaSuccess)
    benchmark::AddCustomContext("cuda_device", prop.name);
  benchmark::Initialize(&argc, argv);
  if (benchmark::ReportUnrecognizedArguments(argc, argv)) return 1;
  benchmark::RunSpecifiedBenchmarks();
  benchmark::Shutdown();
  return 0;
}
