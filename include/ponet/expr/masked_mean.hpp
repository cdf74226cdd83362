// masked_mean(x, valid): m[b,c] = sum over valid i of x[b,i,c] / (number of valid i), a [B, D]
// term broadcast back over tokens (GA's first stage, PONET.md). A sequence with no valid token
// gets m = 0 (docs/decisions.md#empty-sequences). Spec: ref::masked_mean_forward.
// docs/ops.md#masked-mean
#pragma once

#include "ponet/expr/mask.hpp"

namespace ponet::expr {

template <class X>
struct MaskedMean : Expr<MaskedMean<X>> {
  using value_type = typename X::value_type;
  using device = typename X::device;
  static constexpr Kind kind = Kind::reduce;
  static constexpr bool has_stencil = X::has_stencil;
  static constexpr bool has_reduce = true;

  X x;                                     // [B, N, D]
  View<std::uint8_t const, device> valid;  // [B, N, 1]

  Shape3 shape() const { return x.shape(); }  // broadcast back to [B, N, D]
  template <class F>
  void leaves(F&& f) const {
    x.leaves(f);
  }
};

template <class X, class M>
auto masked_mean(X&& x, M&& valid) {
  auto e = as_expr(std::forward<X>(x));
  View<std::uint8_t const, typename decltype(e)::device> v =
      detail::mask_view(std::forward<M>(valid));
  check_not_empty("masked_mean", "x", e.shape());
  check_per_token("masked_mean", "valid", v.shape(), e.shape());
  return MaskedMean<decltype(e)>{{}, e, v};
}

template <class E>
struct is_masked_mean : std::false_type {};
template <class X>
struct is_masked_mean<MaskedMean<X>> : std::true_type {};

}  // namespace ponet::expr
