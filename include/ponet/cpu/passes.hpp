// The backward pass driver: one parallel pass over token blocks that evaluates every sink's path
// at every element. Leaf sinks write gradients. Reduce sinks sum their path into dR[b, s, c] in
// registers, a channel chunk at a time (segmented: a segment's owner block, the one where it
// starts, writes its row directly; a later block it spills into writes a carry row that is added
// afterwards in block order). Then each reduce node runs its own backward (Backprop<Ev>), which
// may start further passes.
#pragma once

#include <array>
#include <tuple>
#include <utility>

#include "ponet/cpu/chunks.hpp"
#include "ponet/cpu/evaluator.hpp"

namespace ponet::cpu {

template <class F, std::size_t... I>
void for_each_index(std::index_sequence<I...>, F&& f) {
  (f(std::integral_constant<std::size_t, I>{}), ...);
}

template <class S>
inline constexpr bool is_reduce_sink_v = eval::is_reduce_sink<std::decay_t<S>>::value;

template <class T>
struct SegmentSum {
  T* dst = nullptr;          // [B, S, D] the reduce node's adjoint
  T* carry = nullptr;        // [B * blocks, D]
  int* carry_seg = nullptr;  // [B * blocks], -1: none
  int S = 0;
};

// Leaf sinks at token (b, i) over one chunk.
template <class L, int K, class Sinks>
inline void consume_leaves(Sinks const& sinks, int b, int i, int c0) {
  constexpr int w = Lane<L>::width;
  for_each_index(std::make_index_sequence<std::tuple_size_v<Sinks>>{}, [&](auto I) {
    auto const& s = std::get<I>(sinks);
    if constexpr (!is_reduce_sink_v<decltype(s)>)
      for (int k = 0; k < K; ++k) s.template consume<L>(b, i, c0 + k * w);
  });
}

template <class Sinks, std::size_t... I>
constexpr bool has_reduce_sink(std::index_sequence<I...>) {
  return (is_reduce_sink_v<std::tuple_element_t<I, Sinks>> || ...);
}

template <class Sinks>
inline void prefetch_sinks(Sinks const& sinks, int b, int i, int N, int D) {
  if (i >= N) return;
  for_each_index(std::make_index_sequence<std::tuple_size_v<Sinks>>{},
                 [&](auto I) { std::get<I>(sinks).prefetch(b, i, D); });
}

template <class T, class Sinks>
void run_sinks(Sinks const& sinks, Context<T>& ctx) {
  constexpr std::size_t NS = std::tuple_size_v<Sinks>;
  if constexpr (NS > 0) {
    Shape3 const s = ctx.shape;
    Blocks const bl = token_blocks(s);
    std::int64_t const D = s.D;
    int const ahead = prefetch_distance<T>(s.D);

    if constexpr (!has_reduce_sink<Sinks>(std::make_index_sequence<NS>{})) {
      // Gradients only: whole rows in token order.
      for_each_block(bl, [&](int b, int, int i0, int i1, int) {
        for (int i = i0; i < i1; ++i) {
          prefetch_sinks(sinks, b, i + ahead, s.N, s.D);
          for_each_chunk<T>(0, s.D, [&](auto tag, auto kc, int c0) {
            consume_leaves<lane_of_t<decltype(tag)>, decltype(kc)::value>(sinks, b, i, c0);
          });
        }
        stream_fence();
      });
      return;
    }

    std::array<SegmentSum<T>, NS> sums{};
    for_each_index(std::make_index_sequence<NS>{}, [&](auto I) {
      auto const& sink = std::get<I>(sinks);
      if constexpr (is_reduce_sink_v<decltype(sink)>) {
        int S = sink.ev.segments();
        sums[I] = {ctx.ws.template scratch<T>((std::size_t)s.B * S * D),
                   ctx.ws.template scratch<T>((std::size_t)bl.count() * D),
                   ctx.ws.template scratch<int>(bl.count()), S};
      }
    });

    // With reduce sinks: a channel chunk at a time over the block's tokens, sums in registers.
    for_each_block(bl, [&](int b, int blk, int i0, int i1, int) {
      std::int64_t const item = (std::int64_t)b * bl.per_batch + blk;
      std::array<bool, NS> carried{};  // the block's first segment started in an earlier block
      for_each_index(std::make_index_sequence<NS>{}, [&](auto I) {
        auto const& sink = std::get<I>(sinks);
        if constexpr (is_reduce_sink_v<decltype(sink)>) {
          int seg = sink.ev.segment(b, i0);
          carried[I] = i0 > 0 && sink.ev.segment(b, i0 - 1) == seg;
          sums[I].carry_seg[item] = carried[I] ? seg : -1;
        }
      });
      for (int i = i0; i < i0 + ahead; ++i) prefetch_sinks(sinks, b, i, s.N, s.D);
      for_each_chunk<T>(0, s.D, [&](auto tag, auto kc, int c0) {
        using L = lane_of_t<decltype(tag)>;
        constexpr int K = decltype(kc)::value, w = Lane<L>::width;
        std::array<std::array<L, K>, NS> acc;
        std::array<T*, NS> row{};
        std::array<int, NS> cur{};
        auto flush = [&](auto I) {
          for (int k = 0; k < K; ++k) Lane<L>::store(row[I] + c0 + k * w, acc[I][k]);
        };
        auto open = [&](auto I, int seg, bool carry) {
          auto const& sum = sums[I];
          row[I] = carry ? sum.carry + item * D : sum.dst + ((std::int64_t)b * sum.S + seg) * D;
          cur[I] = seg;
          for (int k = 0; k < K; ++k) acc[I][k] = Lane<L>::zero();
        };
        for_each_index(std::make_index_sequence<NS>{}, [&](auto I) {
          auto const& sink = std::get<I>(sinks);
          if constexpr (is_reduce_sink_v<decltype(sink)>)
            open(I, sink.ev.segment(b, i0), carried[I]);
        });
        for (int i = i0; i < i1; ++i) {
          if (c0 == 0) prefetch_sinks(sinks, b, i + ahead, s.N, s.D);  // the first chunk walks rows
          for_each_index(std::make_index_sequence<NS>{}, [&](auto I) {
            auto const& sink = std::get<I>(sinks);
            if constexpr (is_reduce_sink_v<decltype(sink)>) {
              int seg = sink.ev.segment(b, i);
              if (seg != cur[I]) {
                flush(I);
                open(I, seg, false);
              }
              for (int k = 0; k < K; ++k)
                acc[I][k] = acc[I][k] + sink.path.template at<L>(b, i, c0 + k * w);
            }
          });
          consume_leaves<L, K>(sinks, b, i, c0);
        }
        for_each_index(std::make_index_sequence<NS>{}, [&](auto I) {
          if constexpr (is_reduce_sink_v<decltype(std::get<I>(sinks))>) flush(I);
        });
      });
      stream_fence();
    });

    for_each_index(std::make_index_sequence<NS>{}, [&](auto I) {
      auto const& sink = std::get<I>(sinks);
      if constexpr (is_reduce_sink_v<decltype(sink)>) {
        auto const& sum = sums[I];
        parallel_for(s.B, [&](int b) {
          for (int blk = 0; blk < bl.per_batch; ++blk) {
            std::int64_t item = (std::int64_t)b * bl.per_batch + blk;
            int seg = sum.carry_seg[item];
            if (seg < 0) continue;
            T* dst = sum.dst + ((std::int64_t)b * sum.S + seg) * D;
            T const* src = sum.carry + item * D;
            for (int c = 0; c < s.D; ++c) dst[c] += src[c];
          }
        });
        Backprop<std::decay_t<decltype(sink.ev)>>::run(sink.ev, sum.dst, ctx);
      }
    });
  }
}

}  // namespace ponet::cpu
