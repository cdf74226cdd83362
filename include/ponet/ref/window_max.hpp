// Reference local max-pooling (PONET.md LMP): l[b,i,c] = max of x[b,j,c] over |j - i| <= k/2,
// 0 <= j < N. Saves each window's winner (first token with the max). Backward in gather form:
// dx[j] = sum over windows i (ascending) that j won of dout[i]. docs/ops.md#window-max
#pragma once

#include <algorithm>

#include "ponet/ref/common.hpp"

namespace ponet::ref {

template <class T>
struct WindowMaxForward {
  Tensor<T> out;  // [B, N, D]
  Index argmax;   // [B, N, D] winner token j
};

template <class T>
WindowMaxForward<T> window_max_forward(Tensor<T> const& x, int k) {
  int const B = x.B(), N = x.N(), D = x.D(), half = k / 2;
  WindowMaxForward<T> r{Tensor<T>(x.shape()), Index(x.shape())};
  for (int b = 0; b < B; ++b)
    for (int i = 0; i < N; ++i)
      for (int c = 0; c < D; ++c) {
        int w = std::max(0, i - half);
        for (int j = w + 1; j <= std::min(N - 1, i + half); ++j)
          if (x(b, j, c) > x(b, w, c)) w = j;
        r.out(b, i, c) = x(b, w, c);
        r.argmax(b, i, c) = w;
      }
  return r;
}

template <class T>
Tensor<T> window_max_backward(Tensor<T> const& dout, int k, Index const& argmax) {
  int const B = dout.B(), N = dout.N(), D = dout.D(), half = k / 2;
  Tensor<T> dx(dout.shape());
  for (int b = 0; b < B; ++b)
    for (int j = 0; j < N; ++j)
      for (int c = 0; c < D; ++c) {
        T sum = 0;
        for (int i = std::max(0, j - half); i <= std::min(N - 1, j + half); ++i)
          if (argmax(b, i, c) == j) sum += dout(b, i, c);
        dx(b, j, c) = sum;
      }
  return dx;
}

}  // namespace ponet::ref
