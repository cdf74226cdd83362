// global_attn(q, k, valid, H): PoNet's global aggregation, per batch b and head h (PONET.md GA):
//   qm = masked_mean(q)                        first stage, [B, D]
//   a_i = softmax over valid i of qm_h . k_ih / sqrt(dh),   g_h = sum_i a_i k_ih   (V = K)
// g is a [B, D] term broadcast back over tokens. One pass over K with an online softmax; the
// training forward saves g and each head's softmax max and sum. Spec: ref::global_attn_forward.
// docs/ops.md#global-attention
#pragma once

#include <string>

#include "ponet/expr/masked_mean.hpp"

namespace ponet::expr {

template <class Q, class K>
struct GlobalAttn : Expr<GlobalAttn<Q, K>> {
  static_assert(is_masked_mean<Q>::value, "ponet: the GA query must be a masked_mean node");
  static_assert(is_elementwise_v<K>,
                "ponet: the GA key must be an elementwise expression of leaves (no window_max or "
                "reduction inside); assign it to a tensor first");
  static_assert(std::is_same_v<typename Q::value_type, typename K::value_type>,
                "ponet: GA query and key must have the same element type");
  using value_type = typename K::value_type;
  using device = common_device_t<typename Q::device, typename K::device>;
  static constexpr Kind kind = Kind::reduce;
  static constexpr bool has_stencil = Q::has_stencil;
  static constexpr bool has_reduce = true;

  Q q;                                     // masked mean of the query, [B, D]
  K k;                                     // [B, N, D], also the value
  View<std::uint8_t const, device> valid;  // [B, N, 1]
  int H;                                   // heads; dh = D / H

  Shape3 shape() const { return k.shape(); }
  template <class F>
  void leaves(F&& f) const {
    q.leaves(f);
    k.leaves(f);
  }
};

// q is either a masked_mean node or [B, N, D] data whose masked mean is taken here.
template <class Q, class K, class M>
auto global_attn(Q&& q, K&& k, M&& valid, int H) {
  auto ke = as_expr(std::forward<K>(k));
  using Dev = typename decltype(ke)::device;
  View<std::uint8_t const, Dev> v = detail::mask_view(std::forward<M>(valid));
  auto qm = [&] {
    if constexpr (is_masked_mean<std::decay_t<Q>>::value)
      return q;
    else
      return masked_mean(std::forward<Q>(q), v);
  }();
  Shape3 s = ke.shape();
  check_not_empty("global_attn", "k", s);
  check_same_shape("global_attn", "q", qm.shape(), "k", s);
  check_per_token("global_attn", "valid", v.shape(), s);
  if (H < 1 || s.D % H != 0)
    throw Error("global_attn: H=" + std::to_string(H) +
                " does not divide D=" + std::to_string(s.D));
  return GlobalAttn<decltype(qm), decltype(ke)>{{}, qm, ke, v, H};
}

}  // namespace ponet::expr
