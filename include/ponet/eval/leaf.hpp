// Evaluators of leaves, constants and masks, and the two kinds of gradient sink. An evaluator is
// a trivially copyable struct of pointers and ints with `at<V>(b, i, c)`, the node's value at
// token i, channels [c, c + width(V)); V is a scalar or a SIMD batch (core/lane.hpp), and CUDA
// threads call the same `at<T>`. Backward is "pull": each leaf gets a sink holding a *path*, an
// evaluator of the leaf's adjoint at any (b, i, c), composed from the local derivatives of the
// nodes above it. docs/design.md#backward
#pragma once

#include <cstdint>
#include <tuple>
#include <type_traits>

#include "ponet/core/lane.hpp"

namespace ponet::eval {

// Writes a leaf's gradient: dx = adjoint, or dx += adjoint for a leaf used more than once.
template <class T, class P>
struct LeafSink {
  T* dx;  // null: this gradient was not asked for
  std::int64_t sb, sn;
  bool accumulate;
  bool stream;  // non-temporal stores (large, aligned, written once)
  P path;

  PONET_HD void prefetch(int b, int i, int D) const { path.prefetch(b, i, D); }
  template <class V>
  PONET_HD void consume(int b, int i, int c) const {
    if (!dx) return;
    T* p = dx + b * sb + i * sn + c;
    V g = path.template at<V>(b, i, c);
    if (accumulate)
      Lane<V>::store(p, g + Lane<V>::load(p));
    else if (stream)
      Lane<V>::stream(p, g);
    else
      Lane<V>::store(p, g);
  }
};

// Collects the adjoint of a reduce node (a [B, D] or [B, S, D] term broadcast over tokens):
// dR[b, segment(b, i), c] = sum over i of path(b, i, c). The backend runs the sum, then the
// node's own backward.
template <class Ev, class P>
struct ReduceSink {
  Ev ev;
  P path;
  PONET_HD void prefetch(int b, int i, int D) const { path.prefetch(b, i, D); }
};

template <class S>
struct is_reduce_sink : std::false_type {};
template <class Ev, class P>
struct is_reduce_sink<ReduceSink<Ev, P>> : std::true_type {};

// Reads x[b, i, c]; spec: the leaf itself.
template <class T>
struct Leaf {
  T const* x;
  std::int64_t sb, sn;
  // Backward only: where the gradient goes.
  T* dx = nullptr;
  std::int64_t dsb = 0, dsn = 0;
  bool accumulate = false;
  bool stream = false;

  template <class V>
  PONET_HD V at(int b, int i, int c) const {
    return Lane<V>::load(x + b * sb + i * sn + c);
  }
  PONET_HD void prefetch(int b, int i, int D) const {
    prefetch_bytes(x + b * sb + i * sn, std::int64_t(D) * sizeof(T));
  }
  template <class P>
  auto sinks(P const& path) const {
    return std::make_tuple(LeafSink<T, P>{dx, dsb, dsn, accumulate, stream, path});
  }
};

template <class T>
struct Constant {
  T value;

  template <class V>
  PONET_HD V at(int, int, int) const {
    return Lane<V>::broadcast(value);
  }
  PONET_HD void prefetch(int, int, int) const {}
  template <class P>
  auto sinks(P const&) const {
    return std::tuple<>();
  }
};

// A per-token mask [B, N, 1].
struct Mask {
  std::uint8_t const* m;
  std::int64_t sb, sn;
  PONET_HD bool on(int b, int i) const { return m[b * sb + i * sn] != 0; }
};

// Adjoint through masked_fill: passes where the mask is on, 0 elsewhere.
template <class P>
struct MaskedPath {
  P p;
  Mask mask;
  template <class V>
  PONET_HD V at(int b, int i, int c) const {
    return mask.on(b, i) ? p.template at<V>(b, i, c) : Lane<V>::zero();
  }
  PONET_HD void prefetch(int b, int i, int D) const { p.prefetch(b, i, D); }
};

// x where mask is on, else fill. Spec: ref::masked_fill_forward.
template <class X, class T>
struct MaskedFill {
  X x;
  Mask mask;
  T fill;

  template <class V>
  PONET_HD V at(int b, int i, int c) const {
    return mask.on(b, i) ? x.template at<V>(b, i, c) : Lane<V>::broadcast(fill);
  }
  PONET_HD void prefetch(int b, int i, int D) const { x.prefetch(b, i, D); }
  template <class P>
  auto sinks(P const& path) const {
    return x.sinks(MaskedPath<P>{path, mask});
  }
};

}  // namespace ponet::eval
