// Expression base and leaves. A node is an aggregate derived from Expr<Node>: its children by
// value (a leaf is a view: a pointer and a few ints), its parameters, shape() and a kind. Nodes
// say WHAT is computed; eval/ says how to read a node at (b, i, c), cpu/ and cuda/ how to run it.
// docs/design.md#expressions
#pragma once

#include <type_traits>
#include <utility>

#include "ponet/core/tensor.hpp"

namespace ponet {
// A device tag for nodes that live everywhere (scalar constants).
struct any_device {};
}  // namespace ponet

namespace ponet::expr {

enum class Kind {
  leaf,      // reads a view
  constant,  // a scalar broadcast to every element
  map,       // elementwise in its children
  stencil,   // reads its child at neighbouring tokens (window max)
  reduce,    // reduces over tokens once into scratch, then broadcasts back (mean, GA, segment max)
};

template <class E>
struct Expr {
  PONET_HD E const& self() const { return static_cast<E const&>(*this); }
};

template <class E>
inline constexpr bool is_expr_v = std::is_base_of_v<Expr<std::decay_t<E>>, std::decay_t<E>>;

// Reads x[b, i, c]. T is the element type, never const.
template <class T, class Dev>
struct Leaf : Expr<Leaf<T, Dev>> {
  using value_type = T;
  using device = Dev;
  static constexpr Kind kind = Kind::leaf;
  static constexpr bool has_stencil = false;
  static constexpr bool has_reduce = false;

  View<T const, Dev> x;  // [B, N, D]

  Shape3 shape() const { return x.shape(); }
  template <class F>
  void leaves(F&& f) const {
    f(x);
  }
};

// A scalar broadcast to every element; its shape is the wildcard [*].
template <class T>
struct Constant : Expr<Constant<T>> {
  using value_type = T;
  using device = any_device;
  static constexpr Kind kind = Kind::constant;
  static constexpr bool has_stencil = false;
  static constexpr bool has_reduce = false;

  T value;

  Shape3 shape() const { return Shape3::any(); }
  template <class F>
  void leaves(F&&) const {}
};

// as_expr: nodes pass through; views and tensors become leaves. A temporary tensor would dangle
// inside the expression, so it does not compile.
template <class E, std::enable_if_t<is_expr_v<E>, int> = 0>
E as_expr(E const& e) {
  return e;
}
template <class T, class Dev>
Leaf<std::remove_const_t<T>, Dev> as_expr(View<T, Dev> const& v) {
  return {{}, View<T const, Dev>(v)};
}
template <class T, class Dev>
Leaf<T, Dev> as_expr(Tensor<T, Dev> const& t) {
  return {{}, t.view()};
}
template <class T, class Dev>
void as_expr(Tensor<T, Dev>&&) = delete;  // the expression would outlive the tensor

template <class X>
using as_expr_t = decltype(as_expr(std::declval<X>()));

template <class X>
inline constexpr bool is_operand_v =
    is_expr_v<X> || is_view<std::decay_t<X>>::value || is_tensor<std::decay_t<X>>::value;

// The device two children share; a constant adopts its sibling's.
template <class A, class B>
struct common_device {
  static_assert(std::is_same_v<A, B> || std::is_same_v<A, any_device> ||
                    std::is_same_v<B, any_device>,
                "ponet: all leaves of an expression must live on the same device");
  using type = std::conditional_t<std::is_same_v<A, any_device>, B, A>;
};
template <class A, class B>
using common_device_t = typename common_device<A, B>::type;

// True when every leaf of E lives on Dev (constants live everywhere).
template <class E, class Dev>
inline constexpr bool lives_on_v =
    std::is_same_v<typename E::device, Dev> || std::is_same_v<typename E::device, any_device>;

// Elementwise subtree: no stencil and no reduction anywhere below.
template <class E>
inline constexpr bool is_elementwise_v = !E::has_stencil && !E::has_reduce;

template <class A, class B>
Shape3 common_shape(char const* what, Shape3 a, Shape3 b) {
  check_same_shape(what, "left", a, "right", b);
  return a.is_any() ? b : a;
}

}  // namespace ponet::expr
