// Evaluator of window_max: the max over the window, scanning upward with a strict > so the first
// token wins ties; a training forward stores the winner's offset j - i as int8. Its adjoint path
// is the gather form of the backward: dx[j] = sum over windows i that j won of dl[i], i ascending
// (one writer per element, no atomics). Spec: ref::window_max_forward / _backward.
// docs/ops.md#window-max
#pragma once

#include "ponet/eval/leaf.hpp"

namespace ponet::eval {

template <class P>
struct WindowGather {
  P p;
  std::int8_t const* argmax;  // [B, N, D] offsets
  std::int64_t asb, asn;
  int N, half;

  template <class V>
  PONET_HD V at(int b, int j, int c) const {
    int lo = j - half < 0 ? 0 : j - half;
    int hi = j + half > N - 1 ? N - 1 : j + half;
    V sum = Lane<V>::zero();
    for (int i = lo; i <= hi; ++i)
      sum = sum + Lane<V>::select(Lane<V>::offset_is(argmax + b * asb + i * asn + c, j - i),
                                  p.template at<V>(b, i, c), Lane<V>::zero());
    return sum;
  }
  PONET_HD void prefetch(int b, int j, int D) const {
    int i = j + half > N - 1 ? N - 1 : j + half;  // the newest window this token reads
    p.prefetch(b, i, D);
    prefetch_bytes(argmax + b * asb + i * asn, D);
  }
};

template <class X>
struct WindowMax {
  X x;
  int N, half;
  std::int8_t* argmax;  // [B, N, D] winner offsets; null when nothing is saved
  std::int64_t asb, asn;
  bool save;  // training forward: write argmax

  template <class V>
  PONET_HD V at(int b, int i, int c) const {
    using S = scalar_of_t<V>;
    int lo = i - half < 0 ? 0 : i - half;
    int hi = i + half > N - 1 ? N - 1 : i + half;
    V m = x.template at<V>(b, lo, c);
    if (!save) {
      for (int j = lo + 1; j <= hi; ++j) {
        V v = x.template at<V>(b, j, c);
        m = Lane<V>::select(v > m, v, m);
      }
      return m;
    }
    V idx = Lane<V>::broadcast(S(lo - i));
    for (int j = lo + 1; j <= hi; ++j) {
      V v = x.template at<V>(b, j, c);
      auto gt = v > m;
      m = Lane<V>::select(gt, v, m);
      idx = Lane<V>::select(gt, Lane<V>::broadcast(S(j - i)), idx);
    }
    Lane<V>::store_offset(argmax + b * asb + i * asn + c, idx);
    return m;
  }
  PONET_HD void prefetch(int b, int i, int D) const {
    x.prefetch(b, i + half > N - 1 ? N - 1 : i + half, D);
  }
  template <class P>
  auto sinks(P const& path) const {
    return x.sinks(WindowGather<P>{path, argmax, asb, asn, N, half});
  }
};

}  // namespace ponet::eval
