// Elementwise nodes: a + b, a - b, a * b, max(a, b), with scalars broadcast. Operands may be
// nodes, views or tensors, but at least one must be a node, so arithmetic on plain tensors stays
// out of this overload set (wrap one side in ponet::expr::as_expr). Spec: ref/elementwise.hpp.
// docs/ops.md#elementwise
#pragma once

#include "ponet/expr/expr.hpp"

namespace ponet::expr {

struct Add {};
struct Sub {};
struct Mul {};
struct Max {};  // ties: the gradient goes to the left operand (docs/decisions.md#ties)

template <class Op, class L, class R>
struct Binary : Expr<Binary<Op, L, R>> {
  static_assert(std::is_same_v<typename L::value_type, typename R::value_type>,
                "ponet: both operands must have the same element type (float or double)");
  using value_type = typename L::value_type;
  using device = common_device_t<typename L::device, typename R::device>;
  static constexpr Kind kind = Kind::map;
  static constexpr bool has_stencil = L::has_stencil || R::has_stencil;
  static constexpr bool has_reduce = L::has_reduce || R::has_reduce;

  L l;
  R r;

  Shape3 shape() const { return l.shape().is_any() ? r.shape() : l.shape(); }
  template <class F>
  void leaves(F&& f) const {
    l.leaves(f);
    r.leaves(f);
  }
};

namespace detail {

template <class X, class Other>
auto operand(X&& x) {
  if constexpr (std::is_arithmetic_v<std::decay_t<X>>) {
    using T = typename as_expr_t<Other>::value_type;
    return Constant<T>{{}, static_cast<T>(x)};
  } else {
    return as_expr(std::forward<X>(x));
  }
}

template <class Op, class A, class B>
auto binary(char const* what, A&& a, B&& b) {
  auto l = operand<A, B>(std::forward<A>(a));
  auto r = operand<B, A>(std::forward<B>(b));
  check_same_shape(what, "left", l.shape(), "right", r.shape());
  return Binary<Op, decltype(l), decltype(r)>{{}, l, r};
}

template <class A, class B>
inline constexpr bool binary_operands_v =
    (is_expr_v<A> && (is_operand_v<B> || std::is_arithmetic_v<std::decay_t<B>>)) ||
    (is_expr_v<B> && (is_operand_v<A> || std::is_arithmetic_v<std::decay_t<A>>));

}  // namespace detail

template <class A, class B, std::enable_if_t<detail::binary_operands_v<A, B>, int> = 0>
auto operator+(A&& a, B&& b) {
  return detail::binary<Add>("operator+", std::forward<A>(a), std::forward<B>(b));
}
template <class A, class B, std::enable_if_t<detail::binary_operands_v<A, B>, int> = 0>
auto operator-(A&& a, B&& b) {
  return detail::binary<Sub>("operator-", std::forward<A>(a), std::forward<B>(b));
}
template <class A, class B, std::enable_if_t<detail::binary_operands_v<A, B>, int> = 0>
auto operator*(A&& a, B&& b) {
  return detail::binary<Mul>("operator*", std::forward<A>(a), std::forward<B>(b));
}
// Elementwise maximum; either operand may be a node, a view or a tensor.
template <class A, class B,
          std::enable_if_t<
              (is_operand_v<A> || std::is_arithmetic_v<std::decay_t<A>>)&&(
                  is_operand_v<B> ||
                  std::is_arithmetic_v<std::decay_t<B>>)&&!(std::is_arithmetic_v<std::decay_t<A>> &&
                                                            std::is_arithmetic_v<std::decay_t<B>>),
              int> = 0>
auto max(A&& a, B&& b) {
  return detail::binary<Max>("max", std::forward<A>(a), std::forward<B>(b));
}

}  // namespace ponet::expr
