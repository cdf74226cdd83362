// LayerNorm over the last dimension on the GPU, the overloads of cpu/layer_norm.hpp for
// Mat<T, cuda_tag> [rows, D]:
//   forward   y = (x - mean) * rstd * gamma + beta,  rstd = 1 / sqrt(var + eps)  (biased var)
//             one warp per row: mean, then the variance of (x - mean) (two passes, as the CPU)
//   backward  xh = (x - mean) * rstd,  g = dy * gamma
//             dx = rstd * (g - mean(g) - xh * mean(g * xh))   one warp per row
//             dgamma += sum dy * xh;  dbeta += sum dy   in row chunks of 256, chunks in order
// Saves mean and rstd per row. Sums by fixed butterflies and chunk orders: the same bits on
// every run. docs/nn.md#layer-norm
#pragma once

#include "ponet/core/matrix.hpp"
#include "ponet/cuda/common.cuh"
#include "ponet/cuda/linalg.cuh"

namespace ponet {

namespace cuda {

// sum over c of f(c), lanes taking c = lane, lane + 32, ... in order, then a butterfly.
template <class T, class F>
__device__ __forceinline__ T row_sum(int D, int lane, F&& f) {
  T s = T(0);
  for (int c = lane; c < D; c += warp) s += f(c);
  return warp_sum(s);
}

template <class T>
__global__ void layer_norm_forward_kernel(Mat<T, cuda_tag> y, Mat<T const, cuda_tag> x,
                                          T const* gamma, T const* beta, T eps, T* mean, T* rstd) {
  int const D = x.cols, lane = threadIdx.x % warp;
  for (std::int64_t r = thread_index() / warp; r < x.rows; r += thread_stride() / warp) {
    T const* xr = x.row(int(r));
    T* yr = y.row(int(r));
    T const mu = row_sum<T>(D, lane, [&](int c) { return xr[c]; }) / T(D);
    T const var = row_sum<T>(D, lane,
                             [&](int c) {
                               T d = xr[c] - mu;
                               return d * d;
                             }) /
                  T(D);
    T const rs = T(1) / sqrt(var + eps);
    if (lane == 0) {
      mean[r] = mu;
      rstd[r] = rs;
    }
    for (int c = lane; c < D; c += warp) yr[c] = (xr[c] - mu) * rs * gamma[c] + beta[c];
  }
}

template <class T>
__global__ void layer_norm_dx_kernel(Mat<T, cuda_tag> dx, Mat<T const, cuda_tag> dy,
                                     Mat<T const, cuda_tag> x, T const* gamma, T const* mean,
                                     T const* rstd) {
  int const D = x.cols, lane = threadIdx.x % warp;
  for (std::int64_t r = thread_index() / warp; r < x.rows; r += thread_stride() / warp) {
    T const *xr = x.row(int(r)), *dyr = dy.row(int(r));
    T* dxr = dx.row(int(r));
    T const mu = mean[r], rs = rstd[r];
    T const mg = row_sum<T>(D, lane, [&](int c) { return dyr[c] * gamma[c]; }) / T(D);
    T const mgx =
        row_sum<T>(D, lane, [&](int c) { return dyr[c] * gamma[c] * ((xr[c] - mu) * rs); }) / T(D);
    for (int c = lane; c < D; c += warp) {
      T const xh = (xr[c] - mu) * rs;
      dxr[c] = rs * (dyr[c] * gamma[c] - mg - xh * mgx);
    }
  }
}

// partial[k, 0:D] = sum over chunk k's rows of dy * xh, partial[k, D:2D] = sum of dy.
template <class T>
__global__ void layer_norm_param_partials_kernel(Mat<T const, cuda_tag> dy,
                                                 Mat<T const, cuda_tag> x, T const* mean,
                                                 T const* rstd, T* partial, int chunks) {
  int const D = x.cols;
  std::int64_t const n = std::int64_t(chunks) * D;
  for (std::int64_t idx = thread_index(); idx < n; idx += thread_stride()) {
    int const k = int(idx / D), c = int(idx % D);
    int const r1 = (k + 1) * sum_rows_chunk < x.rows ? (k + 1) * sum_rows_chunk : x.rows;
    T pg = T(0), pb = T(0);
    for (int r = k * sum_rows_chunk; r < r1; ++r) {
      T const d = dy(r, c);
      pg += d * ((x(r, c) - mean[r]) * rstd[r]);
      pb += d;
    }
    partial[std::int64_t(k) * 2 * D + c] = pg;
    partial[std::int64_t(k) * 2 * D + D + c] = pb;
  }
}

template <class T>
__global__ void layer_norm_param_combine_kernel(T* dgamma, T* dbeta, T const* partial, int chunks,
                                                int D) {
  for (std::int64_t c = thread_index(); c < D; c += thread_stride()) {
    T g = dgamma[c], b = dbeta[c];
    for (int k = 0; k < chunks; ++k) {
      g += partial[std::int64_t(k) * 2 * D + c];
      b += partial[std::int64_t(k) * 2 * D + D + c];
    }
    dgamma[c] = g;
    dbeta[c] = b;
  }
}

}  // namespace cuda

template <class T>
void layer_norm_forward(Mat<T, cuda_tag> y, Mat<T const, cuda_tag> x, T const* gamma, T const* beta,
                        T eps, T* mean, T* rstd) {
  if (y.rows != x.rows || y.cols != x.cols)
    throw Error("layer_norm: y " + mat_shape(y.rows, y.cols) + " but x " +
                mat_shape(x.rows, x.cols));
  cuda::launch("ponet::cuda::layer_norm_forward_kernel", cuda::layer_norm_forward_kernel<T>,
               cuda::grid_for(std::int64_t(x.rows) * cuda::warp), cuda::block_threads, 0, y, x,
               gamma, beta, eps, mean, rstd);
}

// dx overwritten; dgamma and dbeta accumulate.
template <class T>
void layer_norm_backward(Mat<T, cuda_tag> dx, Mat<T const, cuda_tag> dy, Mat<T const, cuda_tag> x,
                         T const* gamma, T const* mean, T const* rstd, T* dgamma, T* dbeta) {
  if (dx.rows != x.rows || dx.cols != x.cols || dy.rows != x.rows || dy.cols != x.cols)
    throw Error("layer_norm backward: dx " + mat_shape(dx.rows, dx.cols) + ", dy " +
                mat_shape(dy.rows, dy.cols) + ", x " + mat_shape(x.rows, x.cols));
  int const D = x.cols, chunks = int(cuda::ceil_div(x.rows, cuda::sum_rows_chunk));
  cuda::launch("ponet::cuda::layer_norm_dx_kernel", cuda::layer_norm_dx_kernel<T>,
               cuda::grid_for(std::int64_t(x.rows) * cuda::warp), cuda::block_threads, 0, dx, dy, x,
               gamma, mean, rstd);
  if (chunks == 0) return;
  struct Partial;
  T* partial = static_cast<T*>(cuda::reusable<Partial>(std::size_t(chunks) * 2 * D * sizeof(T)));
  cuda::launch("ponet::cuda::layer_norm_param_partials_kernel",
               cuda::layer_norm_param_partials_kernel<T>, cuda::grid_for(std::int64_t(chunks) * D),
               cuda::block_threads, 0, dy, x, mean, rstd, partial, chunks);
  cuda::launch("ponet::cuda::layer_norm_param_combine_kernel",
               cuda::layer_norm_param_combine_kernel<T>, cuda::grid_for(D), cuda::block_threads, 0,
               dgamma, dbeta, static_cast<T const*>(partial), chunks, D);
}

}  // namespace ponet
