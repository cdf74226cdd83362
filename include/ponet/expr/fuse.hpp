// fuse(g, s, o, l) = (g + s) * o + l, PoNet's pooling fusion (PONET.md PF), and mixing(...), the
// whole PoNet token mixing as one expression. Ablations are plain arithmetic on the same terms:
// g * o + l, (g + s) * o, s * o + l, g * o. Spec: ref::mixing_forward.  docs/ops.md#fuse
#pragma once

#include "ponet/core/mixing_args.hpp"
#include "ponet/expr/elementwise.hpp"
#include "ponet/expr/global_attn.hpp"
#include "ponet/expr/segment_max.hpp"
#include "ponet/expr/window_max.hpp"

namespace ponet::expr {

template <class G, class S, class O, class L>
auto fuse(G&& g, S&& s, O&& o, L&& l) {
  return (std::forward<G>(g) + std::forward<S>(s)) * std::forward<O>(o) + std::forward<L>(l);
}

// PoNet's token mixing over projected inputs (PONET.md, steps 1-4):
//   g = GA(q, k), s = SMP(sg), l = LMP(lc), out = (g + s) * o + l, padded tokens 0.
// `pool` is the mask the poolings see: `valid`, or valid and not a delimiter under clsgsepg
// (Segments::pool_mask); pooled values are 0 where pool is 0.
template <class T, class Dev>
auto mixing(View<T const, Dev> q, View<T const, Dev> k, View<T const, Dev> o, View<T const, Dev> sg,
            View<T const, Dev> lc, View<std::uint8_t const, Dev> valid,
            View<std::uint8_t const, Dev> pool, SegmentsView<Dev> segments, int heads,
            int window = 3) {
  auto g = global_attn(q, k, valid, heads);
  auto s = masked_fill(segment_max(masked(sg, pool), segments), pool, 0);
  auto l = masked_fill(window_max(masked(lc, pool), window), pool, 0);
  return masked_fill(fuse(g, s, o, l), valid, 0);
}

}  // namespace ponet::expr

namespace ponet::expr {

template <class T, class Dev>
auto mixing(MixingArgs<T, Dev> const& a) {
  return mixing(a.q, a.k, a.o, a.sg, a.lc, a.valid, a.pool, a.segments, a.heads, a.window);
}

}  // namespace ponet::expr
