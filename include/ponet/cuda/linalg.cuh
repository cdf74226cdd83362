// Dense linear algebra on the GPU, the overloads of cpu/linalg.hpp for Mat<T, cuda_tag>:
//   gemm(C, A, ta, B, tb, alpha, beta)   C = alpha op(A) op(B) + beta C       (cuBLAS)
//   add_row(C, v)                        every row of C += v                  (a bias)
//   gemm_add_row(C, A, ta, B, tb, v)     C = op(A) op(B) + v in every row     (a biased Linear)
//   add_column_sums(v, A)                v += the sum of A's rows             (a bias gradient)
// Row-major Mat to column-major cuBLAS: a row-major [m, n] matrix is its column-major transpose,
// so C^T = op(B)^T op(A)^T is one column-major GEMM with the operands swapped. cuBLAS runs in its
// default math mode (FP32 stays FP32: no TF32) with atomics off, which the cuBLAS documentation
// says gives the same bits on every run on one GPU model. Column sums go in row chunks of 256,
// combined in chunk order, as on the CPU. Spec: the obvious loops (tests/nn/).
#pragma once

#include <cublas_v2.h>

#include <climits>
#include <string>

#include "ponet/core/matrix.hpp"
#include "ponet/cuda/common.cuh"
#include "ponet/cuda/memory.cuh"

namespace ponet {

namespace cuda {

inline void check_blas(cublasStatus_t st, char const* what) {
  if (st == CUBLAS_STATUS_SUCCESS) return;
  throw CudaError(std::string(what) + " failed: cuBLAS status " + std::to_string(int(st)));
}

// The process's cuBLAS handle for the current device, made on first use and kept until exit (a
// handle destroyed after the CUDA runtime shuts down at exit would crash). One per host thread.
inline cublasHandle_t blas() {
  thread_local cublasHandle_t handle = [] {
    cublasHandle_t h = nullptr;
    check_blas(cublasCreate(&h), "cublasCreate");
    check_blas(cublasSetStream(h, stream()), "cublasSetStream");
    check_blas(cublasSetMathMode(h, CUBLAS_DEFAULT_MATH), "cublasSetMathMode");
    check_blas(cublasSetAtomicsMode(h, CUBLAS_ATOMICS_NOT_ALLOWED), "cublasSetAtomicsMode");
    return h;
  }();
  return handle;
}

inline cublasStatus_t gemm_call(cublasHandle_t h, cublasOperation_t ta, cublasOperation_t tb, int m,
                                int n, int k, float const* alpha, float const* A, int lda,
                                float const* B, int ldb, float const* beta, float* C, int ldc) {
  return cublasSgemm(h, ta, tb, m, n, k, alpha, A, lda, B, ldb, beta, C, ldc);
}
inline cublasStatus_t gemm_call(cublasHandle_t h, cublasOperation_t ta, cublasOperation_t tb, int m,
                                int n, int k, double const* alpha, double const* A, int lda,
                                double const* B, int ldb, double const* beta, double* C, int ldc) {
  return cublasDgemm(h, ta, tb, m, n, k, alpha, A, lda, B, ldb, beta, C, ldc);
}

inline int checked_ld(std::int64_t ld, char const* what) {
  if (ld > INT_MAX) throw Error(std::string("gemm: ") + what + " leading dimension too large");
  return int(ld < 1 ? 1 : ld);
}

inline constexpr int sum_rows_chunk = 256;  // rows per partial of a column sum

// partial[k, c] = sum over rows r of chunk k of A[r, c], rows in order.
template <class T>
__global__ void column_partials_kernel(Mat<T const, cuda_tag> A, T* partial, int chunks) {
  std::int64_t const n = std::int64_t(chunks) * A.cols;
  for (std::int64_t idx = thread_index(); idx < n; idx += thread_stride()) {
    int const k = int(idx / A.cols), c = int(idx % A.cols);
    int const r1 = (k + 1) * sum_rows_chunk < A.rows ? (k + 1) * sum_rows_chunk : A.rows;
    T acc = T(0);
    for (int r = k * sum_rows_chunk; r < r1; ++r) acc += A(r, c);
    partial[idx] = acc;
  }
}

// v[c] += partial[k, c] for k in order (the CPU's combine: one += per chunk).
template <class T>
__global__ void add_partials_kernel(T* v, T const* partial, int chunks, int cols) {
  for (std::int64_t c = thread_index(); c < cols; c += thread_stride()) {
    T acc = v[c];
    for (int k = 0; k < chunks; ++k) acc += partial[std::int64_t(k) * cols + c];
    v[c] = acc;
  }
}

template <class T>
__global__ void add_row_kernel(Mat<T, cuda_tag> C, T const* v) {
  std::int64_t const n = std::int64_t(C.rows) * C.cols;
  for (std::int64_t idx = thread_index(); idx < n; idx += thread_stride()) {
    int const r = int(idx / C.cols), c = int(idx % C.cols);
    C(r, c) += v[c];
  }
}

}  // namespace cuda

// C = alpha op(A) op(B) + beta C on the GPU (cuBLAS). Throws ponet::Error on mismatched shapes.
template <class T>
void gemm(Mat<T, cuda_tag> C, Mat<T const, cuda_tag> A, bool trans_a, Mat<T const, cuda_tag> B,
          bool trans_b, T alpha = T(1), T beta = T(0)) {
  int const m = trans_a ? A.cols : A.rows, k = trans_a ? A.rows : A.cols;
  int const kb = trans_b ? B.cols : B.rows, n = trans_b ? B.rows : B.cols;
  if (k != kb || C.rows != m || C.cols != n)
    throw Error("gemm: C " + mat_shape(C.rows, C.cols) + " = op(A) " + mat_shape(m, k) +
                " x op(B) " + mat_shape(kb, n));
  if (m == 0 || n == 0) return;
  // Column-major: C^T [n x m] = op(B)^T [n x k] * op(A)^T [k x m]; a row-major operand's storage
  // read column-major is its transpose, so op(B)^T is B's storage with B's own transposition.
  cuda::check_blas(cuda::gemm_call(cuda::blas(), trans_b ? CUBLAS_OP_T : CUBLAS_OP_N,
                                   trans_a ? CUBLAS_OP_T : CUBLAS_OP_N, n, m, k, &alpha, B.data,
                                   cuda::checked_ld(B.ld, "B"), A.data, cuda::checked_ld(A.ld, "A"),
                                   &beta, C.data, cuda::checked_ld(C.ld, "C")),
                   std::is_same_v<T, float> ? "cublasSgemm" : "cublasDgemm");
}

template <class T>
void add_row(Mat<T, cuda_tag> C, T const* v) {
  cuda::launch("ponet::cuda::add_row_kernel", cuda::add_row_kernel<T>,
               cuda::grid_for(std::int64_t(C.rows) * C.cols), cuda::block_threads, 0, C, v);
}

// C = op(A) op(B) + v in every row (the CPU's fused form, here as two launches).
template <class T>
void gemm_add_row(Mat<T, cuda_tag> C, Mat<T const, cuda_tag> A, bool trans_a,
                  Mat<T const, cuda_tag> B, bool trans_b, T const* v) {
  gemm(C, A, trans_a, B, trans_b);
  add_row(C, v);
}

// v[c] += sum over rows of A[r, c]: row chunks of 256 summed in order, then combined in chunk
// order (the same bits on every run).
template <class T>
void add_column_sums(T* v, Mat<T const, cuda_tag> A) {
  int const chunks = int(cuda::ceil_div(A.rows, cuda::sum_rows_chunk));
  if (chunks == 0 || A.cols == 0) return;
  struct Partial;
  T* partial = static_cast<T*>(cuda::reusable<Partial>(std::size_t(chunks) * A.cols * sizeof(T)));
  cuda::launch("ponet::cuda::column_partials_kernel", cuda::column_partials_kernel<T>,
               cuda::grid_for(std::int64_t(chunks) * A.cols), cuda::block_threads, 0, A, partial,
               chunks);
  cuda::launch("ponet::cuda::add_partials_kernel", cuda::add_partials_kernel<T>,
               cuda::grid_for(A.cols), cuda::block_threads, 0, v, static_cast<T const*>(partial),
               chunks, A.cols);
}

}  // namespace ponet
