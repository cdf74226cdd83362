// Reference masked mean. m[b,0,c] = sum over valid i of x[b,i,c] / n_b, 0 when n_b = 0.
// docs/ops.md#masked-mean
#pragma once

#include "ponet/ref/common.hpp"

namespace ponet::ref {

template <class T>
Tensor<T> masked_mean_forward(Tensor<T> const& x, Mask const& valid) {  // -> [B, 1, D]
  check_per_token("ref::masked_mean", "valid", valid.shape(), x.shape());
  Tensor<T> m(Shape3{x.B(), 1, x.D()});
  for (int b = 0; b < x.B(); ++b) {
    int n = 0;
    for (int i = 0; i < x.N(); ++i) {
      if (!valid(b, i, 0)) continue;
      ++n;
      for (int c = 0; c < x.D(); ++c) m(b, 0, c) += x(b, i, c);
    }
    for (int c = 0; c < x.D(); ++c) m(b, 0, c) = n > 0 ? m(b, 0, c) / T(n) : T(0);
  }
  return m;
}

// dx[b,i,c] = valid ? dm[b,0,c] / n_b : 0.
template <class T>
Tensor<T> masked_mean_backward(Tensor<T> const& dm, Mask const& valid) {  // dm [B, 1, D]
  Tensor<T> dx(Shape3{dm.B(), valid.N(), dm.D()});
  for (int b = 0; b < dm.B(); ++b) {
    int n = 0;
    for (int i = 0; i < valid.N(); ++i) n += valid(b, i, 0) != 0;
    for (int i = 0; i < valid.N(); ++i)
      for (int c = 0; c < dm.D(); ++c) dx(b, i, c) = valid(b, i, 0) ? dm(b, 0, c) / T(n) : T(0);
  }
  return dx;
}

}  // namespace ponet::ref
