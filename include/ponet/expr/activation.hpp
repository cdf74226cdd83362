// Activations and dropout as elementwise nodes, so they fuse with their neighbours:
//   gelu(x) = x/2 (1 + erf(x / sqrt 2))      (the erf form, PONET.md's GELU_erf)
//   relu(x) = max(x, 0)                       (gradient 0 at x = 0)
//   tanh(x)                                   (BERT's pooler; derivative 1 - tanh(x)^2)
//   dropout(x, p, seed) = keep ? x / (1 - p) : 0, keep drawn from a hash of (seed, b, i, c), so
//   the mask needs no memory, the backward redraws the same one, and runs are reproducible.
// Spec: ref/activation.hpp.  docs/nn.md#activations
#pragma once

#include <cstdint>
#include <string>

#include "ponet/expr/expr.hpp"

namespace ponet::expr {

struct Gelu {};
struct Relu {};
struct Tanh {};

template <class Op, class X>
struct Unary : Expr<Unary<Op, X>> {
  using value_type = typename X::value_type;
  using device = typename X::device;
  static constexpr Kind kind = Kind::map;
  static constexpr bool has_stencil = X::has_stencil;
  static constexpr bool has_reduce = X::has_reduce;

  X x;

  Shape3 shape() const { return x.shape(); }
  template <class F>
  void leaves(F&& f) const {
    x.leaves(f);
  }
};

template <class X>
auto gelu(X&& x) {
  auto e = as_expr(std::forward<X>(x));
  return Unary<Gelu, decltype(e)>{{}, e};
}

template <class X>
auto relu(X&& x) {
  auto e = as_expr(std::forward<X>(x));
  return Unary<Relu, decltype(e)>{{}, e};
}

template <class X>
auto tanh(X&& x) {
  auto e = as_expr(std::forward<X>(x));
  return Unary<Tanh, decltype(e)>{{}, e};
}

template <class X>
struct Dropout : Expr<Dropout<X>> {
  using value_type = typename X::value_type;
  using device = typename X::device;
  static constexpr Kind kind = Kind::map;
  static constexpr bool has_stencil = X::has_stencil;
  static constexpr bool has_reduce = X::has_reduce;

  X x;
  value_type p;        // drop probability, 0 <= p < 1
  std::uint64_t seed;  // one per call site and step

  Shape3 shape() const { return x.shape(); }
  template <class F>
  void leaves(F&& f) const {
    x.leaves(f);
  }
};

template <class X>
auto dropout(X&& x, double p, std::uint64_t seed) {
  auto e = as_expr(std::forward<X>(x));
  if (!(p >= 0 && p < 1)) throw Error("dropout: p must be in [0, 1), got " + std::to_string(p));
  return Dropout<decltype(e)>{{}, e, static_cast<typename decltype(e)::value_type>(p), seed};
}

}  // namespace ponet::expr
