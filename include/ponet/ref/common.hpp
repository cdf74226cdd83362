// Shared pieces of the scalar reference: host tensors by value, per-token masks [B, N, 1],
// per-batch vectors [B, 1, D]. ref/ is the spec: plain loops, no SIMD, no threads, any T.
#pragma once

#include <cstdint>

#include "ponet/core/tensor.hpp"

namespace ponet::ref {

using Mask = Tensor<std::uint8_t>;   // [B, N, 1], nonzero = on
using Ids = Tensor<std::int32_t>;    // [B, N, 1] segment ids
using Index = Tensor<std::int32_t>;  // saved argmax indices

// x where mask is on, else value.  docs/ops.md#masked-fill
template <class T>
Tensor<T> masked_fill_forward(Tensor<T> const& x, Mask const& mask, T value) {
  check_per_token("ref::masked_fill", "mask", mask.shape(), x.shape());
  Tensor<T> y(x.shape());
  for (int b = 0; b < x.B(); ++b)
    for (int i = 0; i < x.N(); ++i)
      for (int c = 0; c < x.D(); ++c) y(b, i, c) = mask(b, i, 0) ? x(b, i, c) : value;
  return y;
}

// dx = dy where mask is on, else 0.
template <class T>
Tensor<T> masked_fill_backward(Tensor<T> const& dy, Mask const& mask) {
  return masked_fill_forward(dy, mask, T(0));
}

// out[b,i,c] = v[b,0,c]: a per-batch vector [B, 1, D] broadcast over N tokens.
template <class T>
Tensor<T> broadcast_tokens(Tensor<T> const& v, int N) {
  Tensor<T> y(Shape3{v.B(), N, v.D()});
  for (int b = 0; b < v.B(); ++b)
    for (int i = 0; i < N; ++i)
      for (int c = 0; c < v.D(); ++c) y(b, i, c) = v(b, 0, c);
  return y;
}

// out[b,0,c] = sum over i of x[b,i,c]: the adjoint of broadcast_tokens.
template <class T>
Tensor<T> sum_tokens(Tensor<T> const& x) {
  Tensor<T> y(Shape3{x.B(), 1, x.D()});
  for (int b = 0; b < x.B(); ++b)
    for (int i = 0; i < x.N(); ++i)
      for (int c = 0; c < x.D(); ++c) y(b, 0, c) += x(b, i, c);
  return y;
}

}  // namespace ponet::ref
