// Softmax cross-entropy over class logits [B, C] on the GPU: the overload of
// cpu/cross_entropy.hpp for Mat<T, cuda_tag>. The logits are small (B x classes), so they are
// copied to the host, the CPU function computes the loss, hits and dlogits there (the very same
// arithmetic, so both devices agree bit for bit on the same logits), and dlogits is copied back.
// Waits for the device. docs/nn.md#cross-entropy
#pragma once

#include <vector>

#include "ponet/cpu/cross_entropy.hpp"
#include "ponet/cuda/memory.cuh"

namespace ponet {

template <class T>
double softmax_cross_entropy(Mat<T const, cuda_tag> logits, std::vector<int> const& labels,
                             Mat<T, cuda_tag> dlogits, int* correct = nullptr) {
  int const rows = logits.rows, cols = logits.cols;
  std::vector<T> z(std::size_t(rows) * cols), dz(dlogits.data ? z.size() : 0);
  if (!z.empty())
    PONET_CUDA_CHECK(cudaMemcpy2D(z.data(), sizeof(T) * cols, logits.data, sizeof(T) * logits.ld,
                                  sizeof(T) * cols, rows, cudaMemcpyDeviceToHost));
  Mat<T, cpu_tag> host_dz;
  if (dlogits.data) {
    if (dlogits.rows != rows || dlogits.cols != cols)
      throw Error("cross_entropy: dlogits " + mat_shape(dlogits.rows, dlogits.cols) +
                  " but logits " + mat_shape(rows, cols));
    host_dz = Mat<T, cpu_tag>(dz.data(), rows, cols);
  }
  double const loss =
      softmax_cross_entropy(Mat<T const, cpu_tag>(z.data(), rows, cols), labels, host_dz, correct);
  if (dlogits.data && !dz.empty())
    PONET_CUDA_CHECK(cudaMemcpy2D(dlogits.data, sizeof(T) * dlogits.ld, dz.data(), sizeof(T) * cols,
                                  sizeof(T) * cols, rows, cudaMemcpyHostToDevice));
  return loss;
}

}  // namespace ponet
