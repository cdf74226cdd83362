// Mat<T, Dev>: a row-major matrix view (rows x cols, leading dimension ld >= cols) on memory of
// device Dev, the operand type of the GEMM entry point. A [B, N, D] view whose rows are evenly
// spaced is the matrix [B*N, D] (as_mat); a Linear weight [out, in] is Mat{w, out, in, in}.
#pragma once

#include <cstdint>
#include <string>

#include "ponet/core/view.hpp"

namespace ponet {

template <class T, class Dev = cpu_tag>
struct Mat {
  T* data = nullptr;
  int rows = 0, cols = 0;
  std::int64_t ld = 0;

  Mat() = default;
  PONET_HD Mat(T* p, int r, int c, std::int64_t lead) : data(p), rows(r), cols(c), ld(lead) {}
  PONET_HD Mat(T* p, int r, int c) : Mat(p, r, c, c) {}
  template <class U, class = std::enable_if_t<std::is_same_v<T, U const> && !std::is_same_v<T, U>>>
  PONET_HD Mat(Mat<U, Dev> const& o) : Mat(o.data, o.rows, o.cols, o.ld) {}

  PONET_HD T* row(int r) const { return data + r * ld; }
  PONET_HD T& operator()(int r, int c) const { return data[r * ld + c]; }
};

inline std::string mat_shape(int rows, int cols) {
  return "[" + std::to_string(rows) + "x" + std::to_string(cols) + "]";
}

// The matrix [B*N, D] of a view whose token rows are evenly spaced (sb == N * sn).
template <class T, class Dev>
Mat<T, Dev> as_mat(View<T, Dev> v) {
  if (v.B > 1 && v.sb != std::int64_t(v.N) * v.sn)
    throw Error("as_mat: view " + to_string(v.shape()) + " has batch stride " +
                std::to_string(v.sb) + ", not N * token stride " +
                std::to_string(std::int64_t(v.N) * v.sn));
  return Mat<T, Dev>(v.data, v.B * v.N, v.D, v.sn);
}

}  // namespace ponet
