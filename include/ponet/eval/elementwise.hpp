// Evaluators of a + b, a - b, a * b, max(a, b), each with its local derivatives as adjoint paths.
// Spec: ref/elementwise.hpp.  docs/ops.md#elementwise
#pragma once

#include "ponet/eval/leaf.hpp"
#include "ponet/expr/elementwise.hpp"

namespace ponet::eval {

template <class P>
struct Negated {
  P p;
  template <class V>
  PONET_HD V at(int b, int i, int c) const {
    return -p.template at<V>(b, i, c);
  }
  PONET_HD void prefetch(int b, int i, int D) const { p.prefetch(b, i, D); }
};

// d(a * b)/da = b: the parent's adjoint times the other operand.
template <class P, class E>
struct Scaled {
  P p;
  E e;
  template <class V>
  PONET_HD V at(int b, int i, int c) const {
    return p.template at<V>(b, i, c) * e.template at<V>(b, i, c);
  }
  PONET_HD void prefetch(int b, int i, int D) const {
    p.prefetch(b, i, D);
    e.prefetch(b, i, D);
  }
};

// d max(l, r): the whole adjoint goes to the winner; a tie goes to the left operand.
template <class P, class L, class R, bool Left>
struct MaxSide {
  P p;
  L l;
  R r;
  template <class V>
  PONET_HD V at(int b, int i, int c) const {
    auto right_wins = r.template at<V>(b, i, c) > l.template at<V>(b, i, c);
    V g = p.template at<V>(b, i, c);
    return Left ? Lane<V>::select(right_wins, Lane<V>::zero(), g)
                : Lane<V>::select(right_wins, g, Lane<V>::zero());
  }
  PONET_HD void prefetch(int b, int i, int D) const {
    p.prefetch(b, i, D);
    l.prefetch(b, i, D);
    r.prefetch(b, i, D);
  }
};

template <class Op>
struct BinaryRule;

template <>
struct BinaryRule<expr::Add> {
  template <class V>
  PONET_HD static V apply(V a, V b) {
    return a + b;
  }
  template <class L, class R, class P>
  static auto sinks(L const& l, R const& r, P const& p) {
    return std::tuple_cat(l.sinks(p), r.sinks(p));
  }
};

template <>
struct BinaryRule<expr::Sub> {
  template <class V>
  PONET_HD static V apply(V a, V b) {
    return a - b;
  }
  template <class L, class R, class P>
  static auto sinks(L const& l, R const& r, P const& p) {
    return std::tuple_cat(l.sinks(p), r.sinks(Negated<P>{p}));
  }
};

template <>
struct BinaryRule<expr::Mul> {
  template <class V>
  PONET_HD static V apply(V a, V b) {
    return a * b;
  }
  template <class L, class R, class P>
  static auto sinks(L const& l, R const& r, P const& p) {
    return std::tuple_cat(l.sinks(Scaled<P, R>{p, r}), r.sinks(Scaled<P, L>{p, l}));
  }
};

template <>
struct BinaryRule<expr::Max> {
  template <class V>
  PONET_HD static V apply(V a, V b) {
    return Lane<V>::select(b > a, b, a);  // the same comparison MaxSide uses
  }
  template <class L, class R, class P>
  static auto sinks(L const& l, R const& r, P const& p) {
    return std::tuple_cat(l.sinks(MaxSide<P, L, R, true>{p, l, r}),
                          r.sinks(MaxSide<P, L, R, false>{p, l, r}));
  }
};

template <class Op, class L, class R>
struct Binary {
  L l;
  R r;

  template <class V>
  PONET_HD V at(int b, int i, int c) const {
    return BinaryRule<Op>::apply(l.template at<V>(b, i, c), r.template at<V>(b, i, c));
  }
  PONET_HD void prefetch(int b, int i, int D) const {
    l.prefetch(b, i, D);
    r.prefetch(b, i, D);
  }
  template <class P>
  auto sinks(P const& path) const {
    return BinaryRule<Op>::sinks(l, r, path);
  }
};

}  // namespace ponet::eval
