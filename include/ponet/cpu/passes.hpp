// The backward pass driver: one parallel pass over token blocks that evaluates every sink's path
// at every element. Leaf sinks write gradients. Reduce sinks sum their path into dR[b, s, c]
// (segmented: a segment's owner block, the one where it starts, writes its row directly; a later
// block it spills into writes a carry row that is added afterwards in block order). Then each
// reduce node runs its own backward (Backprop<Ev>), which may start further passes.
#pragma once

#include <array>
#include <tuple>
#include <utility>

#include "ponet/cpu/evaluator.hpp"

namespace ponet::cpu {

template <class F, std::size_t... I>
void for_each_index(std::index_sequence<I...>, F&& f) {
  (f(std::integral_constant<std::size_t, I>{}), ...);
}

template <class V>
struct LaneTag {
  using type = V;
};

template <class S>
inline constexpr bool is_reduce_sink_v = eval::is_reduce_sink<S>::value;

// Every sink at token (b, i), channels [0, D): SIMD body, then a scalar tail. rows[k] is the row
// reduce sink k accumulates into.
template <class T, class Sinks, std::size_t K>
inline void consume_token(Sinks const& sinks, std::array<T*, K> const& rows, int b, int i, int D) {
  using V = Batch<T>;
  constexpr int W = simd_width<T>;
  auto one = [&](auto vtag, int c) {
    using L = typename std::decay_t<decltype(vtag)>::type;
    for_each_index(std::make_index_sequence<K>{}, [&](auto I) {
      auto const& s = std::get<I>(sinks);
      if constexpr (is_reduce_sink_v<std::decay_t<decltype(s)>>) {
        T* r = rows[I] + c;
        Lane<L>::store(r, Lane<L>::load(r) + s.path.template at<L>(b, i, c));
      } else {
        s.template consume<L>(b, i, c);
      }
    });
  };
  int c = 0;
  for (; c + W <= D; c += W) one(LaneTag<V>{}, c);
  for (; c < D; ++c) one(LaneTag<T>{}, c);
}

template <class T>
struct SegmentSum {
  T* dst = nullptr;          // [B, S, D] the reduce node's adjoint
  T* carry = nullptr;        // [B * blocks, D]
  int* carry_seg = nullptr;  // [B * blocks], -1: none
  int S = 0;
};

template <class T, class Sinks>
void run_sinks(Sinks const& sinks, Context<T>& ctx) {
  constexpr std::size_t K = std::tuple_size_v<Sinks>;
  if constexpr (K > 0) {
    Shape3 const s = ctx.shape;
    Blocks const bl = token_blocks(s);
    std::array<SegmentSum<T>, K> sums{};
    for_each_index(std::make_index_sequence<K>{}, [&](auto I) {
      auto const& sink = std::get<I>(sinks);
      if constexpr (is_reduce_sink_v<std::decay_t<decltype(sink)>>) {
        int S = sink.ev.segments();
        sums[I] = {ctx.ws.template scratch<T>((std::size_t)s.B * S * s.D),
                   ctx.ws.template scratch<T>((std::size_t)bl.count() * s.D),
                   ctx.ws.template scratch<int>(bl.count()), S};
      }
    });

    for_each_block(bl, [&](int b, int blk, int i0, int i1, int) {
      std::array<T*, K> rows{};
      std::array<int, K> cur{};
      auto open = [&](auto I, int seg, bool carried) {
        auto& sum = sums[I];
        std::int64_t item = (std::int64_t)b * bl.per_batch + blk;
        rows[I] = carried ? sum.carry + item * s.D : sum.dst + ((std::int64_t)b * sum.S + seg) * s.D;
        if (carried) sum.carry_seg[item] = seg;
        cur[I] = seg;
        for (int c = 0; c < s.D; ++c) rows[I][c] = T(0);
      };
      for_each_index(std::make_index_sequence<K>{}, [&](auto I) {
        auto const& sink = std::get<I>(sinks);
        if constexpr (is_reduce_sink_v<std::decay_t<decltype(sink)>>) {
          sums[I].carry_seg[(std::int64_t)b * bl.per_batch + blk] = -1;
          int seg = sink.ev.segment(b, i0);
          open(I, seg, i0 > 0 && sink.ev.segment(b, i0 - 1) == seg);
        }
      });
      for (int i = i0; i < i1; ++i) {
        for_each_index(std::make_index_sequence<K>{}, [&](auto I) {
          auto const& sink = std::get<I>(sinks);
          if constexpr (is_reduce_sink_v<std::decay_t<decltype(sink)>>) {
            int seg = sink.ev.segment(b, i);
            if (seg != cur[I]) open(I, seg, false);
          }
        });
        consume_token<T>(sinks, rows, b, i, s.D);
      }
    });

    for_each_index(std::make_index_sequence<K>{}, [&](auto I) {
      auto const& sink = std::get<I>(sinks);
      if constexpr (is_reduce_sink_v<std::decay_t<decltype(sink)>>) {
        auto const& sum = sums[I];
        parallel_for(s.B, [&](int b) {
          for (int blk = 0; blk < bl.per_batch; ++blk) {
            std::int64_t item = (std::int64_t)b * bl.per_batch + blk;
            int seg = sum.carry_seg[item];
            if (seg < 0) continue;
            T* dst = sum.dst + ((std::int64_t)b * sum.S + seg) * s.D;
            T const* src = sum.carry + item * s.D;
            for (int c = 0; c < s.D; ++c) dst[c] += src[c];
          }
        });
        Backprop<std::decay_t<decltype(sink.ev)>>::run(sink.ev, sum.dst, ctx);
      }
    });
  }
}

}  // namespace ponet::cpu
