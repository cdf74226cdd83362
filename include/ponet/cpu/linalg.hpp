// Dense linear algebra on the CPU, through Eigen 3.4 (which hands large products to a BLAS when
// built with EIGEN_USE_BLAS, see the PONET_BLAS CMake option):
//   gemm(C, A, ta, B, tb, alpha, beta)   C = alpha op(A) op(B) + beta C  (deterministic blocks)
//   add_row(C, v)                        every row of C += v          (a bias)
//   gemm_add_row(C, A, ta, B, tb, v)     C = op(A) op(B) + v in every row (a biased Linear)
//   add_column_sums(v, A)                v += the sum of A's rows     (a bias gradient)
// Shapes are checked; errors name both operands. Spec: the obvious loops (tests/test_nn_*).
#pragma once

#include <algorithm>

#include <Eigen/Core>

#include "ponet/core/matrix.hpp"
#include "ponet/cpu/chunks.hpp"
#include "ponet/cpu/parallel.hpp"

namespace ponet {

namespace cpu {
template <class T>
using RowMajor = Eigen::Matrix<T, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>;
template <class T>
using EigenMap = Eigen::Map<RowMajor<T>, Eigen::Unaligned, Eigen::OuterStride<>>;
template <class T>
using EigenConstMap = Eigen::Map<RowMajor<T> const, Eigen::Unaligned, Eigen::OuterStride<>>;

template <class T>
EigenMap<T> eigen(Mat<T, cpu_tag> m) {
  return EigenMap<T>(m.data, m.rows, m.cols, Eigen::OuterStride<>(m.ld));
}
template <class T>
EigenConstMap<T> eigen(Mat<T const, cpu_tag> m) {
  return EigenConstMap<T>(m.data, m.rows, m.cols, Eigen::OuterStride<>(m.ld));
}
}  // namespace cpu

namespace cpu::detail {
// One single-threaded Eigen product: C = alpha op(A) op(B) + beta C. Inside an OpenMP parallel
// region Eigen does not start threads of its own.
template <class T>
void gemm_serial(Mat<T, cpu_tag> C, Mat<T const, cpu_tag> A, bool trans_a, Mat<T const, cpu_tag> B,
                 bool trans_b, T alpha, T beta) {
  auto c = eigen(C);
  auto a = eigen(A);
  auto b = eigen(B);
  if (beta == T(0)) {
    if (!trans_a && !trans_b) c.noalias() = alpha * a * b;
    if (!trans_a && trans_b) c.noalias() = alpha * a * b.transpose();
    if (trans_a && !trans_b) c.noalias() = alpha * a.transpose() * b;
    if (trans_a && trans_b) c.noalias() = alpha * a.transpose() * b.transpose();
    return;
  }
  if (beta != T(1)) c *= beta;
  if (!trans_a && !trans_b) c.noalias() += alpha * a * b;
  if (!trans_a && trans_b) c.noalias() += alpha * a * b.transpose();
  if (trans_a && !trans_b) c.noalias() += alpha * a.transpose() * b;
  if (trans_a && trans_b) c.noalias() += alpha * a.transpose() * b.transpose();
}

// Rows [r0, r0 + n) of op(M) as a matrix of its own.
template <class T>
Mat<T const, cpu_tag> op_rows(Mat<T const, cpu_tag> M, bool trans, int r0, int n) {
  return trans ? Mat<T const, cpu_tag>(M.data + r0, M.rows, n, M.ld)
               : Mat<T const, cpu_tag>(M.data + r0 * M.ld, n, M.cols, M.ld);
}

template <class T>
void check_gemm_shapes(Mat<T, cpu_tag> C, Mat<T const, cpu_tag> A, bool trans_a,
                       Mat<T const, cpu_tag> B, bool trans_b) {
  int const m = trans_a ? A.cols : A.rows, k = trans_a ? A.rows : A.cols;
  int const kb = trans_b ? B.cols : B.rows, n = trans_b ? B.rows : B.cols;
  if (k != kb || C.rows != m || C.cols != n)
    throw Error("gemm: C " + mat_shape(C.rows, C.cols) + " = op(A) " + mat_shape(m, k) +
                " x op(B) " + mat_shape(kb, n));
}

// Rows [r0, r1) of C set to v.
template <class T>
void fill_rows(Mat<T, cpu_tag> C, T const* v, int r0, int r1) {
  for (int r = r0; r < r1; ++r) std::copy(v, v + C.cols, C.row(r));
}

inline constexpr int gemm_row_block = 256;     // rows of C per task (tall products)
inline constexpr int gemm_inner_block = 2048;  // inner-dimension chunk (weight gradients)
}  // namespace cpu::detail

// C = alpha op(A) op(B) + beta C, parallel over fixed blocks (never over threads), so the same
// inputs give the same bits on any number of threads: a tall C is cut into row blocks; a small C
// with a long inner dimension (a weight gradient dW = dY^T X) into inner chunks whose partial
// products are added in chunk order. Each block is one single-threaded Eigen product (Eigen's own
// threading spin-waits badly when cores are shared, and splits these shapes poorly).
template <class T>
void gemm(Mat<T, cpu_tag> C, Mat<T const, cpu_tag> A, bool trans_a, Mat<T const, cpu_tag> B,
          bool trans_b, T alpha = T(1), T beta = T(0)) {
  namespace d = cpu::detail;
  d::check_gemm_shapes(C, A, trans_a, B, trans_b);
  int const m = C.rows, n = C.cols, k = trans_a ? A.rows : A.cols;
  if (m >= 2 * d::gemm_row_block) {
    int const blocks = (m + d::gemm_row_block - 1) / d::gemm_row_block;
    cpu::parallel_for(blocks, [&](int blk) {
      int const r0 = blk * d::gemm_row_block, rows = std::min(d::gemm_row_block, m - r0);
      d::gemm_serial(Mat<T, cpu_tag>(C.row(r0), rows, n, C.ld), d::op_rows(A, trans_a, r0, rows),
                     trans_a, B, trans_b, alpha, beta);
    });
    return;
  }
  if (k >= 2 * d::gemm_inner_block) {
    int const chunks = (k + d::gemm_inner_block - 1) / d::gemm_inner_block;
    struct Partials;
    T* partial = cpu::reusable<Partials, T>(std::size_t(chunks) * m * n);
    cpu::parallel_for(chunks, [&](int ch) {
      int const k0 = ch * d::gemm_inner_block, len = std::min(d::gemm_inner_block, k - k0);
      // op(A)[:, k0:k0+len] is rows k0.. of A when transposed, columns otherwise; same for B.
      Mat<T const, cpu_tag> a = trans_a ? Mat<T const, cpu_tag>(A.row(k0), len, A.cols, A.ld)
                                        : Mat<T const, cpu_tag>(A.data + k0, A.rows, len, A.ld);
      Mat<T const, cpu_tag> b = trans_b ? Mat<T const, cpu_tag>(B.data + k0, B.rows, len, B.ld)
                                        : Mat<T const, cpu_tag>(B.row(k0), len, B.cols, B.ld);
      d::gemm_serial(Mat<T, cpu_tag>(partial + std::size_t(ch) * m * n, m, n), a, trans_a, b,
                     trans_b, alpha, T(0));
    });
    cpu::parallel_for(m, [&](int r) {
      T* c = C.row(r);
      for (int j = 0; j < n; ++j) {
        T sum = beta == T(0) ? T(0) : beta * c[j];
        for (int ch = 0; ch < chunks; ++ch) sum += partial[(std::size_t(ch) * m + r) * n + j];
        c[j] = sum;
      }
    });
    return;
  }
  d::gemm_serial(C, A, trans_a, B, trans_b, alpha, beta);
}

// C = op(A) op(B) + v in every row. Each row block starts from the bias and accumulates the
// product onto it while the block is in cache, instead of a second pass over C for the bias.
template <class T>
void gemm_add_row(Mat<T, cpu_tag> C, Mat<T const, cpu_tag> A, bool trans_a, Mat<T const, cpu_tag> B,
                  bool trans_b, T const* v) {
  namespace d = cpu::detail;
  d::check_gemm_shapes(C, A, trans_a, B, trans_b);
  int const blocks = (C.rows + d::gemm_row_block - 1) / d::gemm_row_block;
  cpu::parallel_for(blocks, [&](int blk) {
    int const r0 = blk * d::gemm_row_block, rows = std::min(d::gemm_row_block, C.rows - r0);
    d::fill_rows(C, v, r0, r0 + rows);
    d::gemm_serial(Mat<T, cpu_tag>(C.row(r0), rows, C.cols, C.ld), d::op_rows(A, trans_a, r0, rows),
                   trans_a, B, trans_b, T(1), T(1));
  });
}

template <class T>
void add_row(Mat<T, cpu_tag> C, T const* v) {
  using V = cpu::Batch<T>;
  constexpr int W = cpu::simd_width<T>;
  cpu::parallel_for((C.rows + 63) / 64, [&](int blk) {
    for (int r = blk * 64; r < std::min(C.rows, blk * 64 + 64); ++r) {
      T* row = C.row(r);
      int c = 0;
      for (; c + W <= C.cols; c += W)
        Lane<V>::store(row + c, Lane<V>::load(row + c) + Lane<V>::load(v + c));
      for (; c < C.cols; ++c) row[c] += v[c];
    }
  });
}

// v[c] += sum over rows of A[r, c]: rows in blocks of 256 in parallel, partial sums combined in
// block order (the same bits on any thread count).
template <class T>
void add_column_sums(T* v, Mat<T const, cpu_tag> A) {
  int const blocks = (A.rows + 255) / 256;
  struct Partial;
  T* partial = cpu::reusable<Partial, T>((std::size_t)blocks * A.cols);
  cpu::parallel_for(blocks, [&](int blk) {
    T* p = partial + (std::size_t)blk * A.cols;
    cpu::for_each_chunk<T>(0, A.cols, [&](auto tag, auto kc, int c0) {
      using L = cpu::lane_of_t<decltype(tag)>;
      constexpr int K = decltype(kc)::value, w = Lane<L>::width;
      L acc[K];
      for (int k = 0; k < K; ++k) acc[k] = Lane<L>::zero();
      for (int r = blk * 256; r < std::min(A.rows, blk * 256 + 256); ++r)
        for (int k = 0; k < K; ++k) acc[k] = acc[k] + Lane<L>::load(A.row(r) + c0 + k * w);
      for (int k = 0; k < K; ++k) Lane<L>::store(p + c0 + k * w, acc[k]);
    });
  });
  for (int blk = 0; blk < blocks; ++blk)
    for (int c = 0; c < A.cols; ++c) v[c] += partial[(std::size_t)blk * A.cols + c];
}

}  // namespace ponet
