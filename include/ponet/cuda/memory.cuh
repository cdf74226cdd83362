// Memory<cuda_tag>: device memory for Tensor<T, cuda_tag>, Buffer<cuda_tag> and
// Workspace<cuda_tag> (cudaMalloc, cudaFree, cudaMemcpy, cudaMemset on the one stream of
// cuda/common.cuh), with a count of the bytes ponet holds and their peak (benchmarks report it).
// Host <-> device copies: to_device(Tensor<T>), to_host(Tensor<T, cuda_tag>), to_host(View),
// to_device(Segments). Uploads and downloads block the host; device-side copies and fills are
// queued on the stream. docs/cuda.md#memory
#pragma once

#include <atomic>
#include <cstddef>
#include <mutex>
#include <unordered_map>

#include "ponet/core/segments.hpp"
#include "ponet/core/tensor.hpp"
#include "ponet/cuda/common.cuh"

namespace ponet {

namespace cuda {

// Bytes of device memory ponet's allocations hold now, and the most they held since the last
// reset_peak(). Counts ponet's own cudaMalloc calls only (not cuBLAS's or cuFFT's workspaces,
// nor the CUDA context): benchmarks add cudaMemGetInfo for the whole device.
struct MemoryStats {
  std::size_t live = 0;
  std::size_t peak = 0;
};

namespace detail {
struct AllocationLog {
  std::mutex mutex;
  std::unordered_map<void*, std::size_t> sizes;
  std::size_t live = 0, peak = 0;
  static AllocationLog& instance() {
    static AllocationLog* log = new AllocationLog;  // never destroyed: frees may run at exit
    return *log;
  }
};
}  // namespace detail

inline MemoryStats memory_stats() {
  auto& log = detail::AllocationLog::instance();
  std::lock_guard<std::mutex> lock(log.mutex);
  return {log.live, log.peak};
}
inline void reset_peak() {
  auto& log = detail::AllocationLog::instance();
  std::lock_guard<std::mutex> lock(log.mutex);
  log.peak = log.live;
}

}  // namespace cuda

template <>
struct Memory<cuda_tag> {
  static constexpr std::size_t alignment = 256;  // what cudaMalloc guarantees

  static void* allocate(std::size_t bytes) {
    if (bytes == 0) return nullptr;
    void* p = nullptr;
    cuda::check(cudaMalloc(&p, bytes), "cudaMalloc of " + std::to_string(bytes) + " bytes");
    auto& log = cuda::detail::AllocationLog::instance();
    std::lock_guard<std::mutex> lock(log.mutex);
    log.sizes[p] = bytes;
    log.live += bytes;
    if (log.live > log.peak) log.peak = log.live;
    return p;
  }
  // Called from destructors: never throws. cudaFree waits for the device, so memory that queued
  // kernels still read is never handed out again before they finish.
  static void release(void* p) {
    if (!p) return;
    {
      auto& log = cuda::detail::AllocationLog::instance();
      std::lock_guard<std::mutex> lock(log.mutex);
      auto it = log.sizes.find(p);
      if (it != log.sizes.end()) {
        log.live -= it->second;
        log.sizes.erase(it);
      }
    }
    cudaFree(p);
  }
  static void copy(void* dst, void const* src, std::size_t bytes) {
    if (bytes)
      PONET_CUDA_CHECK(cudaMemcpyAsync(dst, src, bytes, cudaMemcpyDeviceToDevice, cuda::stream()));
  }
  static void zero(void* dst, std::size_t bytes) {
    if (bytes) PONET_CUDA_CHECK(cudaMemsetAsync(dst, 0, bytes, cuda::stream()));
  }
  // Blocking: the host buffer may be reused as soon as these return.
  static void upload(void* dst, void const* host, std::size_t bytes) {
    if (bytes) PONET_CUDA_CHECK(cudaMemcpy(dst, host, bytes, cudaMemcpyHostToDevice));
  }
  static void download(void* host, void const* src, std::size_t bytes) {
    if (bytes) PONET_CUDA_CHECK(cudaMemcpy(host, src, bytes, cudaMemcpyDeviceToHost));
  }
};

// A device copy of a host tensor.
template <class T>
Tensor<T, cuda_tag> to_device(Tensor<T, cpu_tag> const& host) {
  Tensor<T, cuda_tag> d(host.shape(), uninitialized);
  Memory<cuda_tag>::upload(d.data(), host.data(), host.bytes());
  return d;
}

// A host copy of a device tensor (waits for every queued kernel).
template <class T>
Tensor<T, cpu_tag> to_host(Tensor<T, cuda_tag> const& dev) {
  Tensor<T, cpu_tag> h(dev.shape(), uninitialized);
  Memory<cuda_tag>::download(h.data(), dev.data(), dev.bytes());
  return h;
}

// A contiguous host copy of a device view of any strides (channel slices included).
template <class T>
Tensor<std::remove_const_t<T>, cpu_tag> to_host(View<T, cuda_tag> v) {
  using U = std::remove_const_t<T>;
  Tensor<U, cpu_tag> h(v.shape(), uninitialized);
  if (h.size() == 0) return h;
  if (v.contiguous()) {
    Memory<cuda_tag>::download(h.data(), v.data, h.bytes());
    return h;
  }
  for (int b = 0; b < v.B; ++b)
    PONET_CUDA_CHECK(cudaMemcpy2D(h.data() + std::int64_t(b) * v.N * v.D, sizeof(U) * v.D,
                                  v.data + b * v.sb, sizeof(U) * v.sn, sizeof(U) * v.D, v.N,
                                  cudaMemcpyDeviceToHost));
  return h;
}

// Writes host values into a device view of any strides (same shape).
template <class T>
void upload(View<T, cuda_tag> dst, View<T const, cpu_tag> src) {
  check_same_shape("upload", "destination", dst.shape(), "source", src.shape());
  if (dst.shape().numel() == 0) return;
  for (int b = 0; b < dst.B; ++b)
    PONET_CUDA_CHECK(cudaMemcpy2D(dst.data + b * dst.sb, sizeof(T) * dst.sn, src.data + b * src.sb,
                                  sizeof(T) * src.sn, sizeof(T) * dst.D, dst.N,
                                  cudaMemcpyHostToDevice));
}

namespace cuda {

// Segment ids on the device, built from validated host Segments; view() is what expressions take.
struct DeviceSegments {
  Tensor<std::int32_t, cuda_tag> ids;  // [B, N, 1]
  int S = 0;
  SegmentsView<cuda_tag> view() const { return {ids.view(), S}; }
};

// Device scratch that persists per calling thread and per Tag (the device twin of
// cpu::reusable): for the index arrays of library calls that take no workspace.
template <class Tag>
void* reusable(std::size_t bytes) {
  thread_local Buffer<cuda_tag> buffer;
  buffer.reserve(bytes);
  return buffer.get();
}

}  // namespace cuda

inline cuda::DeviceSegments to_device(Segments const& s) { return {to_device(s.ids()), s.S()}; }

}  // namespace ponet
