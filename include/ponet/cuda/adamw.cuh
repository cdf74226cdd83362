// cuda::AdamW<T>: nn::AdamW (ponet/nn/adamw.hpp) over a flat parameter buffer in device memory,
// with the same schedule, clipping and update formula, the moments on the device.
//   global norm  squares summed in double: a block of 256 threads per slice of 65536 elements
//                (threads stride, then a shared-memory tree), slices summed in order by one
//                thread; the norm comes back to the host (the step returns it)
//   update       one thread per element, nn::AdamW's expression in the same types
// No atomics: the same bits on every run. docs/nn.md#optimizer, docs/cuda.md
#pragma once

#include <cmath>
#include <cstdint>
#include <vector>

#include "ponet/cuda/common.cuh"
#include "ponet/cuda/memory.cuh"
#include "ponet/nn/adamw.hpp"

namespace ponet::cuda {

inline constexpr int adamw_slice = 65536;  // elements per partial sum of squares

template <class T>
__global__ void squares_kernel(T const* g, std::size_t n, double* partial) {
  __shared__ double s[block_threads];
  std::size_t const lo = std::size_t(blockIdx.x) * adamw_slice;
  std::size_t const hi = lo + adamw_slice < n ? lo + adamw_slice : n;
  double acc = 0;
  for (std::size_t k = lo + threadIdx.x; k < hi; k += blockDim.x)
    acc += double(g[k]) * double(g[k]);
  s[threadIdx.x] = acc;
  __syncthreads();
  for (int half = block_threads / 2; half > 0; half /= 2) {
    if (int(threadIdx.x) < half) s[threadIdx.x] += s[threadIdx.x + half];
    __syncthreads();
  }
  if (threadIdx.x == 0) partial[blockIdx.x] = s[0];
}

template <class Unused = void>
__global__ void sum_in_order_kernel(double const* partial, int n, double* out) {
  if (thread_index() != 0) return;
  double s = 0;
  for (int k = 0; k < n; ++k) s += partial[k];
  *out = s;
}

template <class T>
__global__ void adamw_update_kernel(T* params, T const* grads, T* m, T* v, std::size_t n,
                                    double clip, double lr, double weight_decay, double eps,
                                    double bc1, double bc2, T b1, T b2) {
  for (std::int64_t k = thread_index(); k < std::int64_t(n); k += thread_stride()) {
    T const g = T(double(grads[k]) * clip);
    m[k] = b1 * m[k] + (1 - b1) * g;
    v[k] = b2 * v[k] + (1 - b2) * g * g;
    double const update = (m[k] / bc1) / (sqrt(v[k] / bc2) + eps);
    params[k] = T(double(params[k]) * (1 - lr * weight_decay) - lr * update);
  }
}

template <class T>
class AdamW {
 public:
  AdamW(nn::AdamWConfig c, std::size_t n)
      : cfg_(c),
        m_(Shape3{1, 1, int(n)}),
        v_(Shape3{1, 1, int(n)}),
        partial_(Shape3{1, 1, int(ceil_div(n, std::size_t(adamw_slice))) + 1}) {}

  // One update of params (device memory) from grads (device memory). Returns the gradient's
  // global norm before clipping (waits for the device).
  double step(T* params, T* grads, std::size_t n) {
    if (n != std::size_t(m_.size()))
      throw Error("AdamW: " + std::to_string(n) + " parameters, state for " +
                  std::to_string(m_.size()));
    int const slices = int(ceil_div(n, std::size_t(adamw_slice)));
    double* partial = partial_.data();
    launch("ponet::cuda::squares_kernel", squares_kernel<T>, slices, block_threads, 0,
           static_cast<T const*>(grads), n, partial);
    launch("ponet::cuda::sum_in_order_kernel", sum_in_order_kernel<>, 1, 1, 0,
           static_cast<double const*>(partial), slices, partial + slices);
    double sq = 0;
    Memory<cuda_tag>::download(&sq, partial + slices, sizeof(double));
    double const norm = std::sqrt(sq);
    double const clip = cfg_.clip_norm > 0 && norm > cfg_.clip_norm ? cfg_.clip_norm / norm : 1.0;
    double const lr = nn::learning_rate(cfg_, step_);
    ++step_;
    double const bc1 = 1 - std::pow(cfg_.beta1, double(step_));
    double const bc2 = 1 - std::pow(cfg_.beta2, double(step_));
    launch("ponet::cuda::adamw_update_kernel", adamw_update_kernel<T>, grid_for(std::int64_t(n)),
           block_threads, 0, params, static_cast<T const*>(grads), m_.data(), v_.data(), n, clip,
           lr, cfg_.weight_decay, cfg_.eps, bc1, bc2, T(cfg_.beta1), T(cfg_.beta2));
    return norm;
  }

  std::int64_t steps() const { return step_; }
  void set_steps(std::int64_t s) { step_ = s; }
  nn::AdamWConfig const& config() const { return cfg_; }
  // The moments on the device, [1, 1, n]; to_host / Memory<cuda_tag>::upload move them for
  // checkpoints.
  Tensor<T, cuda_tag>& first_moment() { return m_; }
  Tensor<T, cuda_tag>& second_moment() { return v_; }

 private:
  nn::AdamWConfig cfg_;
  std::int64_t step_ = 0;
  Tensor<T, cuda_tag> m_, v_;  // zero-filled
  Tensor<double, cuda_tag> partial_;
};

}  // namespace ponet::cuda
