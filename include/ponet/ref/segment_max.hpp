// Reference segment max-pooling (PONET.md SMP): s[b,i,c] = max of x[b,j,c] over the tokens j of
// i's segment. Saves each segment's winner (the first token with the max: strict >, scanning
// upward). Backward in gather form: dx[j] = sum of dout over the segment if j is its winner.
// docs/ops.md#segment-max
#pragma once

#include "ponet/ref/common.hpp"

namespace ponet::ref {

template <class T>
struct SegmentMaxForward {
  Tensor<T> out;  // [B, N, D]
  Index argmax;   // [B, S, D] winner token, -1 for an empty segment
};

template <class T>
SegmentMaxForward<T> segment_max_forward(Tensor<T> const& x, Ids const& ids, int S) {
  int const B = x.B(), N = x.N(), D = x.D();
  SegmentMaxForward<T> r{Tensor<T>(x.shape()), Index(Shape3{B, S, D})};
  r.argmax.fill(-1);
  for (int b = 0; b < B; ++b)
    for (int i = 0; i < N; ++i)
      for (int c = 0; c < D; ++c) {
        std::int32_t& w = r.argmax(b, ids(b, i, 0), c);
        if (w < 0 || x(b, i, c) > x(b, w, c)) w = i;
      }
  for (int b = 0; b < B; ++b)
    for (int i = 0; i < N; ++i)
      for (int c = 0; c < D; ++c) r.out(b, i, c) = x(b, r.argmax(b, ids(b, i, 0), c), c);
  return r;
}

template <class T>
Tensor<T> segment_max_backward(Tensor<T> const& dout, Ids const& ids, int S, Index const& argmax) {
  int const B = dout.B(), N = dout.N(), D = dout.D();
  Tensor<T> dtable(Shape3{B, S, D}), dx(dout.shape());
  for (int b = 0; b < B; ++b)
    for (int i = 0; i < N; ++i)
      for (int c = 0; c < D; ++c) dtable(b, ids(b, i, 0), c) += dout(b, i, c);
  for (int b = 0; b < B; ++b)
    for (int j = 0; j < N; ++j)
      for (int c = 0; c < D; ++c) {
        int s = ids(b, j, 0);
        dx(b, j, c) = argmax(b, s, c) == j ? dtable(b, s, c) : T(0);
      }
  return dx;
}

}  // namespace ponet::ref
