// window_max(x, k): l[b,i,c] = max of x[b,j,c] over |j - i| <= k/2, 0 <= j < N (PONET.md LMP;
// positions outside the sequence are ignored). Evaluated inside the fused pass (a stencil); a
// training forward saves each window's winner as an int8 offset. Ties: the first token wins.
// Spec: ref::window_max_forward.  docs/ops.md#window-max
#pragma once

#include <string>

#include "ponet/expr/expr.hpp"

namespace ponet::expr {

// Winners are saved as int8 offsets in [-k/2, k/2] (docs/decisions.md#saved-state).
inline constexpr int max_window = 255;

template <class X>
struct WindowMax : Expr<WindowMax<X>> {
  static_assert(!X::has_stencil,
                "ponet: window_max of an expression that already holds a window_max is not "
                "supported; assign the inner one to a tensor first");
  using value_type = typename X::value_type;
  using device = typename X::device;
  static constexpr Kind kind = Kind::stencil;
  static constexpr bool has_stencil = true;
  static constexpr bool has_reduce = X::has_reduce;

  X x;    // [B, N, D]
  int k;  // odd window width

  Shape3 shape() const { return x.shape(); }
  template <class F>
  void leaves(F&& f) const {
    x.leaves(f);
  }
};

template <class X>
auto window_max(X&& x, int k = 3) {
  auto e = as_expr(std::forward<X>(x));
  if (k < 1 || k % 2 == 0 || k > max_window)
    throw Error("window_max: k must be odd and in [1, " + std::to_string(max_window) + "], got " +
                std::to_string(k));
  check_not_empty("window_max", "x", e.shape());
  return WindowMax<decltype(e)>{{}, e, k};
}

}  // namespace ponet::expr
