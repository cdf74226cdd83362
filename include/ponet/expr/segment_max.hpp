// segment_max(x, segments): s[b,i,c] = max of x[b,j,c] over the tokens j of i's segment
// (PONET.md SMP), a [B, S, D] table broadcast back over tokens. The training forward saves each
// segment's winner. Ties: the first token wins. Spec: ref::segment_max_forward.
// docs/ops.md#segment-max
#pragma once

#include <string>

#include "ponet/core/segments.hpp"
#include "ponet/expr/expr.hpp"

namespace ponet::expr {

template <class X>
struct SegmentMax : Expr<SegmentMax<X>> {
  using value_type = typename X::value_type;
  using device = typename X::device;
  static constexpr Kind kind = Kind::reduce;
  static constexpr bool has_stencil = X::has_stencil;
  static constexpr bool has_reduce = true;

  X x;                            // [B, N, D]
  SegmentsView<device> segments;  // ids [B, N, 1], S

  Shape3 shape() const { return x.shape(); }
  template <class F>
  void leaves(F&& f) const {
    x.leaves(f);
  }
};

template <class X, class Dev>
auto segment_max(X&& x, SegmentsView<Dev> segments) {
  auto e = as_expr(std::forward<X>(x));
  using T = typename decltype(e)::value_type;
  Shape3 s = e.shape();
  check_not_empty("segment_max", "x", s);
  check_per_token("segment_max", "segment ids", segments.ids.shape(), s);
  // Winners are saved as token indices in T (docs/decisions.md#saved-state): exact below 2^24
  // for float.
  if (std::is_same_v<T, float> && s.N >= (1 << 24))
    throw Error("segment_max: N=" + std::to_string(s.N) + " exceeds 2^24 tokens for float");
  return SegmentMax<decltype(e)>{{}, e, segments};
}

template <class X>
auto segment_max(X&& x, Segments const& segments) {
  return segment_max(std::forward<X>(x), segments.view());
}
template <class X>
void segment_max(X&&, Segments&&) = delete;  // the expression would outlive the ids

}  // namespace ponet::expr
