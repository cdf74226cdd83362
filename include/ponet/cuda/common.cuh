// What every CUDA header of ponet shares: PONET_CUDA_CHECK (throws ponet::CudaError naming the
// runtime call or kernel that failed), ceil_div, the stream every kernel runs on, and launch(),
// which sizes nothing itself but checks the launch and names the kernel. Needs nvcc.
// Compiled in CI, never run there (no GPU): see docs/cuda.md.
#pragma once

#include <cuda_runtime.h>

#include <cstdint>
#include <cstdlib>
#include <string>
#include <type_traits>
#include <utility>

#include "ponet/config.hpp"
#include "ponet/core/error.hpp"

namespace ponet::cuda {

// Throws ponet::CudaError "<what> failed: <error name> (<message>)[ at <file>:<line>]".
inline void check(cudaError_t err, std::string const& what, char const* file = nullptr,
                  int line = 0) {
  if (err == cudaSuccess) return;
  std::string where = file ? std::string(" at ") + file + ":" + std::to_string(line) : "";
  throw CudaError(what + " failed: " + cudaGetErrorName(err) + " (" + cudaGetErrorString(err) +
                  ")" + where);
}

}  // namespace ponet::cuda

// Wraps a CUDA runtime call: PONET_CUDA_CHECK(cudaMalloc(&p, bytes)).
#define PONET_CUDA_CHECK(call) ::ponet::cuda::check((call), #call, __FILE__, __LINE__)

namespace ponet::cuda {

// Every ponet kernel, copy and library call (cuBLAS, cuFFT) runs on the legacy default stream,
// so they run in the order issued and a blocking copy to the host waits for all of them. There
// is no stream parameter: one stream keeps the reductions' fixed combine order trivially safe.
inline cudaStream_t stream() { return cudaStream_t(0); }

// PONET_CUDA_SYNC=1 in the environment makes every launch wait for its kernel, so an error in a
// kernel is reported by that kernel's launch instead of a later call (for debugging; slow).
inline bool sync_each_launch() {
  static bool const on = [] {
    char const* v = std::getenv("PONET_CUDA_SYNC");
    return v != nullptr && v[0] != '\0' && v[0] != '0';
  }();
  return on;
}

// Checks the launch just made of kernel `name`.
inline void launched(char const* name) {
  check(cudaGetLastError(), std::string("kernel ") + name);
  if (sync_each_launch()) check(cudaDeviceSynchronize(), std::string("kernel ") + name);
}

template <class A, class B>
PONET_HD constexpr auto ceil_div(A a, B b) {
  return (a + b - 1) / b;
}

inline constexpr int block_threads = 256;  // threads per block of the elementwise kernels
inline constexpr int warp = 32;

// Blocks for `total` threads at `threads` per block; grid-stride loops cover any excess, so the
// grid is capped (2^31 - 1 blocks is the hardware's x limit; far fewer saturate any GPU).
inline unsigned grid_for(std::int64_t total, int threads = block_threads) {
  std::int64_t const blocks = ceil_div(total, std::int64_t(threads));
  std::int64_t const cap = std::int64_t(1) << 20;
  return unsigned(blocks < 1 ? 1 : (blocks > cap ? cap : blocks));
}

// kernel<<<grid, block, smem, stream()>>>(args...), then launched(name). Empty grids launch
// nothing. Kernel arguments are copied by value: evaluators must be trivially copyable.
template <class... Params, class... Args>
void launch(char const* name, void (*kernel)(Params...), dim3 grid, dim3 block, std::size_t smem,
            Args&&... args) {
  if (grid.x == 0 || grid.y == 0 || grid.z == 0) return;
  kernel<<<grid, block, smem, stream()>>>(std::forward<Args>(args)...);
  launched(name);
}

// The flat index of this thread and the grid's stride, for grid-stride loops.
__device__ __forceinline__ std::int64_t thread_index() {
  return std::int64_t(blockIdx.x) * blockDim.x + threadIdx.x;
}
__device__ __forceinline__ std::int64_t thread_stride() {
  return std::int64_t(gridDim.x) * blockDim.x;
}

// (b, i, c) of flat element `idx` of a [B, N, D] index space, c fastest (coalesced along rows).
struct Coord {
  int b, i, c;
};
PONET_HD Coord unflatten(std::int64_t idx, int N, int D) {
  std::int64_t const row = idx / D;
  return {int(row / N), int(row % N), int(idx % D)};
}

// Warp-wide sum and max by an xor butterfly: every lane ends with the same bits (each step adds
// the same two operands on both partners, and + is commutative), in the same order on every run.
template <class T>
__device__ __forceinline__ T warp_sum(T v) {
  for (int o = warp / 2; o > 0; o /= 2) v += __shfl_xor_sync(0xffffffffu, v, o);
  return v;
}
template <class T>
__device__ __forceinline__ T warp_max(T v) {
  for (int o = warp / 2; o > 0; o /= 2) {
    T other = __shfl_xor_sync(0xffffffffu, v, o);
    v = other > v ? other : v;
  }
  return v;
}

// How many CUDA devices this process sees; 0 with `reason` set when there are none or the runtime
// cannot tell (no driver, no device node). Tests and benchmarks skip on 0.
inline int device_count(std::string* reason = nullptr) {
  int n = 0;
  cudaError_t err = cudaGetDeviceCount(&n);
  if (err != cudaSuccess) {
    if (reason) *reason = std::string(cudaGetErrorName(err)) + ": " + cudaGetErrorString(err);
    cudaGetLastError();  // clear the sticky-free error so later calls start clean
    return 0;
  }
  if (n == 0 && reason) *reason = "cudaGetDeviceCount returned 0";
  return n;
}

}  // namespace ponet::cuda
