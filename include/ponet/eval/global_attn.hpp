// Evaluator of global_attn: reads the [B, D] vector g a backend filled, broadcast over tokens. It
// keeps the query (a MaskedMean evaluator), the key and each head's softmax max and sum, which is
// all its backward needs. Spec: ref::global_attn_forward / _backward.
// docs/ops.md#global-attention
#pragma once

#include "ponet/eval/leaf.hpp"

namespace ponet::eval {

// The key's adjoint for the current token, computed row by row by the backend (the softmax
// couples the channels of a head, so it is not a per-element formula).
template <class T>
struct RowPath {
  T const* row;  // [D]
  template <class V>
  PONET_HD V at(int, int, int c) const {
    return Lane<V>::load(row + c);
  }
};

template <class Q, class K, class T>
struct GlobalAttn {
  Q q;  // MaskedMean evaluator: the query, [B, D]
  K k;  // [B, N, D]
  Mask valid;
  T* g;     // [B, D]
  T* smax;  // [B, H] softmax max of each head's scores
  T* ssum;  // [B, H] softmax sum, relative to smax
  int H, D;

  template <class V>
  PONET_HD V at(int b, int, int c) const {
    return Lane<V>::load(g + (std::int64_t)b * D + c);
  }
  PONET_HD int segment(int, int) const { return 0; }
  int segments() const { return 1; }
  template <class P>
  auto sinks(P const& path) const {
    return std::make_tuple(ReduceSink<GlobalAttn, P>{*this, path});
  }
};

}  // namespace ponet::eval
