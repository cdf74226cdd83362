// masked_fill(x, mask, v): x where mask[b, i] != 0, else v. masked(x, valid) fills padding with
// -10000 before pooling, as PONET.md prescribes; masked_fill(e, valid, 0) zeroes padded outputs.
// Spec: ref::masked_fill_forward.  docs/ops.md#masked-fill
#pragma once

#include <cstdint>

#include "ponet/expr/expr.hpp"

namespace ponet::expr {

// PONET.md: padding (and, with clsgsepg, delimiters) is filled with -10000 before max pooling.
inline constexpr double pool_fill = -10000.0;

template <class X>
struct MaskedFill : Expr<MaskedFill<X>> {
  using value_type = typename X::value_type;
  using device = typename X::device;
  static constexpr Kind kind = Kind::map;
  static constexpr bool has_stencil = X::has_stencil;
  static constexpr bool has_reduce = X::has_reduce;

  X x;
  View<std::uint8_t const, device> mask;  // [B, N, 1], nonzero = keep x
  value_type fill;

  Shape3 shape() const { return x.shape(); }
  template <class F>
  void leaves(F&& f) const {
    x.leaves(f);
  }
};

namespace detail {
template <class Dev>
View<std::uint8_t const, Dev> mask_view(View<std::uint8_t const, Dev> m) {
  return m;
}
template <class Dev>
View<std::uint8_t const, Dev> mask_view(View<std::uint8_t, Dev> m) {
  return m;
}
template <class Dev>
View<std::uint8_t const, Dev> mask_view(Tensor<std::uint8_t, Dev> const& m) {
  return m.view();
}
template <class Dev>
void mask_view(Tensor<std::uint8_t, Dev>&&) = delete;  // the expression would outlive the mask
}  // namespace detail

template <class X, class M>
auto masked_fill(X&& x, M&& mask, double value) {
  auto e = as_expr(std::forward<X>(x));
  using E = decltype(e);
  static_assert(!std::is_same_v<typename E::device, any_device>,
                "masked_fill of a constant: nothing tells the shape");
  View<std::uint8_t const, typename E::device> m = detail::mask_view(std::forward<M>(mask));
  check_per_token("masked_fill", "mask", m.shape(), e.shape());
  return MaskedFill<E>{{}, e, m, static_cast<typename E::value_type>(value)};
}

// Padding filled with -10000, ready for max pooling.
template <class X, class M>
auto masked(X&& x, M&& valid) {
  return masked_fill(std::forward<X>(x), std::forward<M>(valid), pool_fill);
}

}  // namespace ponet::expr
