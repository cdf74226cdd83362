// Evaluator of global_attn: reads the [B, D] vector g a backend filled, broadcast over tokens. It
// keeps the query (a MaskedMean evaluator), the key and each head's softmax max and sum, which is
// all its backward needs. Spec: ref::global_attn_forward / _backward.
// docs/ops.md#global-attention
#pragma once

#include "ponet/eval/leaf.hpp"

namespace ponet::eval {

// The key's adjoint: dk[b,i,c] = a[b,i,h] dg[b,c] + dz[b,i,h] q[b,c] with h = c / dh, from
// per-token, per-head coefficients a (softmax weight) and dz (score adjoint over sqrt(dh)).
template <class T>
struct KeyGrad {
  T const* a;   // [B, N, H]
  T const* dz;  // [B, N, H]
  T const* dg;  // [B, D]
  T const* q;   // [B, D]
  int N, H, D, dh;

  template <class V>
  PONET_HD V coef(T const* per_head, int c) const {
    constexpr int w = Lane<V>::width;
    if constexpr (w == 1) {
      return per_head[c / dh];
    } else {
      if (dh % w == 0) return Lane<V>::broadcast(per_head[c / dh]);
      T lanes[w];  // the packet straddles heads
      for (int k = 0; k < w; ++k) lanes[k] = per_head[(c + k) / dh];
      return Lane<V>::load(lanes);
    }
  }
  template <class V>
  PONET_HD V at(int b, int i, int c) const {
    std::int64_t t = ((std::int64_t)b * N + i) * H, r = (std::int64_t)b * D + c;
    return coef<V>(a + t, c) * Lane<V>::load(dg + r) + coef<V>(dz + t, c) * Lane<V>::load(q + r);
  }
  PONET_HD void prefetch(int, int, int) const {}
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
  // Its input is read by its own reduction pass, not by the passes that read it.
  PONET_HD void prefetch(int, int, int) const {}
  PONET_HD int segment(int, int) const { return 0; }
  int segments() const { return 1; }
  template <class P>
  auto sinks(P const& path) const {
    return std::make_tuple(ReduceSink<GlobalAttn, P>{*this, path});
  }
};

}  // namespace ponet::eval
