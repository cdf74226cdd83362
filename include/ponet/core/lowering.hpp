// The entry points every backend shares. The destination's device picks Lowering<Dev> at compile
// time: cpu/assign.hpp specialises it for cpu_tag, cuda/assign.cuh for cuda_tag. Nothing is
// dispatched at run time.
//   assign(dst, e [, ws])      dst = e                          (inference; saves nothing)
//   forward(dst, e, ws)        dst = e, saving into ws what backward needs
//   backward(e, dout, ws, {{x, dx}, ...})  dx = d(sum dout * e)/dx for each listed leaf x
#pragma once

#include <initializer_list>

#include "ponet/core/grads.hpp"
#include "ponet/core/workspace.hpp"
#include "ponet/expr/expr.hpp"

namespace ponet {

template <class Dev>
struct Lowering {
  static_assert(sizeof(Dev) == 0,
                "ponet: no lowering for this device; evaluate CUDA views in a .cu file compiled "
                "by nvcc that includes ponet/cuda/ponet.cuh");
};

namespace detail {
template <class E, class Dst>
auto checked_dst(char const* what, E const& e, Dst&& dst) {
  auto d = view(dst);
  using T = typename decltype(d)::value_type;
  using Dev = typename decltype(d)::device;
  static_assert(!std::is_const_v<std::remove_pointer_t<decltype(d.data)>>,
                "ponet: the destination must be writable");
  static_assert(std::is_same_v<T, typename E::value_type>,
                "ponet: destination and expression element types differ");
  static_assert(expr::lives_on_v<E, Dev>, "ponet: all leaves must be on the destination's device");
  check_not_empty(what, "destination", d.shape());
  check_same_shape(what, "destination", d.shape(), "expression", e.shape());
  // A stencil reads neighbours of the token it writes: writing over its input would change them.
  if constexpr (E::has_stencil)
    e.leaves([&](View<T const, Dev> const& x) {
      if (may_overlap(d, x))
        throw Error(std::string(what) +
                    ": the destination overlaps an input of a window_max expression");
    });
  return d;
}
}  // namespace detail

template <class Dst, class E>
void assign(Dst&& dst, expr::Expr<E> const& e, Workspace<typename E::device>& ws) {
  auto d = detail::checked_dst("assign", e.self(), dst);
  Lowering<typename E::device>::run(d, e.self(), ws, Mode::infer);
}

// With a temporary workspace: convenient, but hot loops should pass their own.
template <class Dst, class E>
void assign(Dst&& dst, expr::Expr<E> const& e) {
  Workspace<typename E::device> ws;
  assign(dst, e, ws);
}

template <class Dst, class E>
void forward(Dst&& dst, expr::Expr<E> const& e, Workspace<typename E::device>& ws) {
  auto d = detail::checked_dst("forward", e.self(), dst);
  Lowering<typename E::device>::run(d, e.self(), ws, Mode::train);
}

template <class E, class DOut>
void backward(expr::Expr<E> const& e, DOut const& dout, Workspace<typename E::device>& ws,
              Grads<typename E::value_type, typename E::device> grads) {
  using T = typename E::value_type;
  using Dev = typename E::device;
  View<T const, Dev> g = view(dout);
  check_same_shape("backward", "dout", g.shape(), "expression", e.self().shape());
  Lowering<Dev>::backward(e.self(), g, ws, grads);
}

template <class E, class DOut>
void backward(expr::Expr<E> const& e, DOut const& dout, Workspace<typename E::device>& ws,
              std::initializer_list<GradPair<typename E::value_type, typename E::device>> grads) {
  backward(e, dout, ws, Grads<typename E::value_type, typename E::device>(grads));
}

}  // namespace ponet
