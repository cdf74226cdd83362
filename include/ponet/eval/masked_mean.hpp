// Evaluator of masked_mean: reads the [B, D] mean a backend filled, broadcast over tokens. Its
// adjoint reaches the input as dx[b,i,c] = valid ? dm[b,c] / n_b : 0 (MeanGrad).
// Spec: ref::masked_mean_forward / _backward.  docs/ops.md#masked-mean
#pragma once

#include "ponet/eval/leaf.hpp"

namespace ponet::eval {

template <class T>
struct MeanGrad {
  Mask valid;
  T const* dmean;  // [B, D]
  T const* count;  // [B] valid tokens
  int D;
  template <class V>
  PONET_HD V at(int b, int i, int c) const {
    if (!valid.on(b, i)) return Lane<V>::zero();
    return Lane<V>::load(dmean + (std::int64_t)b * D + c) / Lane<V>::broadcast(count[b]);
  }
  PONET_HD void prefetch(int, int, int) const {}
};

template <class X, class T>
struct MaskedMean {
  X x;
  Mask valid;
  T* mean;   // [B, D]
  T* count;  // [B]
  int D;

  template <class V>
  PONET_HD V at(int b, int, int c) const {
    return Lane<V>::load(mean + (std::int64_t)b * D + c);
  }
  // Its input is read by its own reduction pass, not by the passes that read it.
  PONET_HD void prefetch(int, int, int) const {}
  PONET_HD int segment(int, int) const { return 0; }
  int segments() const { return 1; }
  template <class P>
  auto sinks(P const& path) const {
    return std::make_tuple(ReduceSink<MaskedMean, P>{*this, path});
  }
  MeanGrad<T> input_path(T const* dmean) const { return {valid, dmean, count, D}; }
};

}  // namespace ponet::eval
