// Shared GPU benchmark helpers (the twin of benchmarks/bench_common.hpp): device inputs filled
// once by a kernel, and manual timing with CUDA events that pairs every timed iteration with one
// device-to-device copy of a tensor of the same shape, so bw_fraction compares the operation with
// a copy measured in the same binary, on the same device, at the same moment. Compiled by nvcc.
#pragma once

#include <benchmark/benchmark.h>

#include <cstdint>

#include <ponet/ponet.hpp>  // includes ponet/cuda/ponet.cuh under nvcc

namespace bench_cuda {

using ponet::cuda_tag;

template <class T>
__global__ void fill_kernel(T* p, std::int64_t n, std::uint64_t seed) {
  for (std::int64_t k = ponet::cuda::thread_index(); k < n; k += ponet::cuda::thread_stride()) {
    std::uint64_t x = (std::uint64_t(k) + seed * 0x9E3779B97F4A7C15ull) * 0xBF58476D1CE4E5B9ull;
    x ^= x >> 31;
    x *= 0x94D049BB133111EBull;
    x ^= x >> 29;
    p[k] = T(double(x >> 11) * (2.0 / 9007199254740992.0) - 1.0);  // [-1, 1), as bench::fill
  }
}

inline void fill(ponet::Tensor<float, cuda_tag>& t, std::uint64_t seed) {
  ponet::cuda::launch("bench_cuda::fill_kernel", fill_kernel<float>,
                      ponet::cuda::grid_for(t.size()), ponet::cuda::block_threads, 0, t.data(),
                      std::int64_t(t.size()), seed);
}

// Seconds between two events around f() on the stream (waits for the device).
class EventTimer {
 public:
  EventTimer() {
    PONET_CUDA_CHECK(cudaEventCreate(&start_));
    PONET_CUDA_CHECK(cudaEventCreate(&stop_));
  }
  ~EventTimer() {
    cudaEventDestroy(start_);
    cudaEventDestroy(stop_);
  }
  EventTimer(EventTimer const&) = delete;
  EventTimer& operator=(EventTimer const&) = delete;

  template <class F>
  double seconds(F&& f) {
    PONET_CUDA_CHECK(cudaEventRecord(start_, ponet::cuda::stream()));
    f();
    PONET_CUDA_CHECK(cudaEventRecord(stop_, ponet::cuda::stream()));
    PONET_CUDA_CHECK(cudaEventSynchronize(stop_));
    float ms = 0;
    PONET_CUDA_CHECK(cudaEventElapsedTime(&ms, start_, stop_));
    return double(ms) * 1e-3;
  }

 private:
  cudaEvent_t start_{}, stop_{};
};

// One device-to-device copy of src into dst (same contiguous shape), timed.
inline double copy_seconds(EventTimer& timer, ponet::View<float const, cuda_tag> src,
                           ponet::View<float, cuda_tag> dst) {
  return timer.seconds([&] {
    PONET_CUDA_CHECK(cudaMemcpyAsync(dst.data, src.data, sizeof(float) * src.shape().numel(),
                                     cudaMemcpyDeviceToDevice, ponet::cuda::stream()));
  });
}

// Times `step` with events (manual time); bytes/s and tokens/s from `least_bytes` (inputs read
// once, outputs written once) and `tokens`; bw_fraction = its bytes/s over the copy's (bytes read
// + written per second), the copy timed right after each iteration.
template <class F>
void timed(benchmark::State& state, double least_bytes, double tokens,
           ponet::View<float const, cuda_tag> src, ponet::View<float, cuda_tag> dst, F&& step) {
  EventTimer timer;
  timer.seconds(step);  // warm-up: workspaces reach their final size outside the timed loop
  copy_seconds(timer, src, dst);
  double total = 0, copy_total = 0;
  for (auto _ : state) {
    double const s = timer.seconds(step);
    state.SetIterationTime(s);
    total += s;
    copy_total += copy_seconds(timer, src, dst);
  }
  double const copy_bytes = 2.0 * double(src.shape().numel()) * sizeof(float);
  state.SetBytesProcessed(std::int64_t(least_bytes * double(state.iterations())));
  state.SetItemsProcessed(std::int64_t(tokens * double(state.iterations())));
  state.counters["bw_fraction"] = (least_bytes / total) / (copy_bytes / copy_total);
  state.counters["copy_GBps"] = copy_bytes * double(state.iterations()) / copy_total / 1e9;
}

// Device memory in use now, MiB: ponet's own allocations (exact, with their peak since the last
// ponet::cuda::reset_peak()) and the whole device's (cudaMemGetInfo: context, cuBLAS, cuFFT and
// other processes included).
inline double mib(std::size_t bytes) { return double(bytes) / (1024.0 * 1024.0); }
inline double device_used_mib() {
  std::size_t free = 0, total = 0;
  PONET_CUDA_CHECK(cudaMemGetInfo(&free, &total));
  return mib(total - free);
}

}  // namespace bench_cuda
