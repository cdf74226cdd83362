// Evaluators of gelu, relu, tanh and dropout, with their local derivatives as adjoint paths.
// Spec: ref/activation.hpp.  docs/nn.md#activations
#pragma once

#include <cstdint>

#include "ponet/eval/leaf.hpp"
#include "ponet/expr/activation.hpp"

namespace ponet::eval {

template <class Op>
struct UnaryRule;

template <>
struct UnaryRule<expr::Gelu> {
  template <class V>
  PONET_HD static V apply(V x) {
    using S = scalar_of_t<V>;
    return Lane<V>::broadcast(S(0.5)) * x *
           (Lane<V>::broadcast(S(1)) +
            Lane<V>::erf(x * Lane<V>::broadcast(S(0.70710678118654752))));
  }
  // d gelu / dx = (1 + erf(x / sqrt 2)) / 2 + x exp(-x^2 / 2) / sqrt(2 pi)
  template <class V>
  PONET_HD static V derivative(V x) {
    using S = scalar_of_t<V>;
    V cdf =
        Lane<V>::broadcast(S(0.5)) *
        (Lane<V>::broadcast(S(1)) + Lane<V>::erf(x * Lane<V>::broadcast(S(0.70710678118654752))));
    V pdf = Lane<V>::exp(Lane<V>::broadcast(S(-0.5)) * x * x) *
            Lane<V>::broadcast(S(0.39894228040143268));
    return cdf + x * pdf;
  }
};

template <>
struct UnaryRule<expr::Relu> {
  template <class V>
  PONET_HD static V apply(V x) {
    return Lane<V>::select(x > Lane<V>::zero(), x, Lane<V>::zero());
  }
  template <class V>
  PONET_HD static V derivative(V x) {
    using S = scalar_of_t<V>;
    return Lane<V>::select(x > Lane<V>::zero(), Lane<V>::broadcast(S(1)), Lane<V>::zero());
  }
};

template <>
struct UnaryRule<expr::Tanh> {
  template <class V>
  PONET_HD static V apply(V x) {
    return Lane<V>::tanh(x);
  }
  // d tanh / dx = 1 - tanh(x)^2
  template <class V>
  PONET_HD static V derivative(V x) {
    using S = scalar_of_t<V>;
    V t = Lane<V>::tanh(x);
    return Lane<V>::broadcast(S(1)) - t * t;
  }
};

template <class Op, class P, class X>
struct UnaryGrad {
  P p;
  X x;
  template <class V>
  PONET_HD V at(int b, int i, int c) const {
    return p.template at<V>(b, i, c) * UnaryRule<Op>::derivative(x.template at<V>(b, i, c));
  }
  PONET_HD void prefetch(int b, int i, int D) const {
    p.prefetch(b, i, D);
    x.prefetch(b, i, D);
  }
};

template <class Op, class X>
struct Unary {
  X x;
  template <class V>
  PONET_HD V at(int b, int i, int c) const {
    return UnaryRule<Op>::apply(x.template at<V>(b, i, c));
  }
  PONET_HD void prefetch(int b, int i, int D) const { x.prefetch(b, i, D); }
  template <class P>
  auto sinks(P const& path) const {
    return x.sinks(UnaryGrad<Op, P, X>{path, x});
  }
};

// keep ? scale : 0 for the lanes (b, i, c .. c + width). The keep bit of element (b, i, c) is
// hash32(row_key(b, i), c) >= p * 2^32 (core/lane.hpp): the same on every device and lane width,
// 32-bit arithmetic so that SIMD lanes compute it together.
template <class T>
struct DropMask {
  std::uint64_t seed;
  std::uint32_t threshold;  // keep when hash >= threshold
  T scale;                  // 1 / (1 - p)

  // The part of the mix that depends on (seed, b, i) only.
  PONET_HD std::uint32_t row_key(int b, int i) const {
    std::uint32_t s = std::uint32_t(seed) ^ std::uint32_t(seed >> 32);
    return s ^ (std::uint32_t(b) * 0x9E3779B1u) ^ (std::uint32_t(i) * 0x85EBCA77u);
  }
  template <class V>
  PONET_HD V at(int b, int i, int c) const {
    return Lane<V>::select(Lane<V>::keep(row_key(b, i), c, threshold), Lane<V>::broadcast(scale),
                           Lane<V>::zero());
  }
};

template <class P, class T>
struct DropoutGrad {
  P p;
  DropMask<T> mask;
  template <class V>
  PONET_HD V at(int b, int i, int c) const {
    return p.template at<V>(b, i, c) * mask.template at<V>(b, i, c);
  }
  PONET_HD void prefetch(int b, int i, int D) const { p.prefetch(b, i, D); }
};

template <class X, class T>
struct Dropout {
  X x;
  DropMask<T> mask;
  template <class V>
  PONET_HD V at(int b, int i, int c) const {
    return x.template at<V>(b, i, c) * mask.template at<V>(b, i, c);
  }
  PONET_HD void prefetch(int b, int i, int D) const { x.prefetch(b, i, D); }
  template <class P>
  auto sinks(P const& path) const {
    return x.sinks(DropoutGrad<P, T>{path, mask});
  }
};

}  // namespace ponet::eval
