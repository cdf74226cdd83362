// CPU segment_max: forward reduction and backward. Spec: ref::segment_max_forward / _backward.
//   forward   table[b,s,c] = max over tokens j of segment s of x[b,j,c]; winner = first such j
//   backward  dx[b,j,c] = (winner[b,s(j),c] == j) ? dtable[b,s(j),c] : 0,
//             dtable[b,s,c] = sum over i in s of dout[b,i,c]   (summed by the caller's pass)
// Saves table and winner, [B, S, D] each. docs/ops.md#segment-max
#pragma once

#include "ponet/cpu/passes.hpp"
#include "ponet/eval/segment_max.hpp"
#include "ponet/expr/segment_max.hpp"

namespace ponet::cpu {

template <class X>
struct Build<expr::SegmentMax<X>> {
  template <class T>
  static auto run(expr::SegmentMax<X> const& n, Context<T>& ctx) {
    auto x = build(n.x, ctx);
    Shape3 const s = n.shape();
    int const S = n.segments.S;
    std::size_t const table = (std::size_t)s.B * S * s.D;
    auto const& ids = n.segments.ids;
    eval::SegmentMax<decltype(x), T> ev{x,
                                        ids.data,
                                        ids.sb,
                                        ids.sn,
                                        ctx.ws.template saved<T>(table),
                                        ctx.ws.template saved<T>(table),
                                        S,
                                        s.D};
    if (ctx.mode != Mode::backward) reduce(ev, s, ctx);
    return ev;
  }

  // A segment's owner block (where it starts) writes its table row; a block it spills into keeps
  // a carry row, merged afterwards in block order with a strict > so the earlier token keeps a tie.
  template <class Ev, class T>
  static void reduce(Ev const& ev, Shape3 s, Context<T>& ctx) {
    using V = Batch<T>;
    constexpr int W = simd_width<T>;
    Blocks const bl = token_blocks(s);
    std::size_t const rows = (std::size_t)bl.count() * s.D;
    T* carry = ctx.ws.template scratch<T>(rows);
    T* carry_winner = ctx.ws.template scratch<T>(rows);
    int* carry_seg = ctx.ws.template scratch<int>(bl.count());
    std::int64_t const D = s.D;

    for_each_block(bl, [&](int b, int blk, int i0, int i1, int) {
      std::int64_t item = (std::int64_t)b * bl.per_batch + blk;
      carry_seg[item] = -1;
      int cur = -1;
      T *val = nullptr, *win = nullptr;
      for (int i = i0; i < i1; ++i) {
        int seg = ev.segment(b, i);
        if (seg != cur) {  // first token of this segment within the block
          cur = seg;
          bool carried = i == i0 && i0 > 0 && ev.segment(b, i0 - 1) == seg;
          std::int64_t row = carried ? item * D : ((std::int64_t)b * ev.S + seg) * D;
          val = (carried ? carry : ev.table) + row;
          win = (carried ? carry_winner : ev.winner) + row;
          if (carried) carry_seg[item] = seg;
          int c = 0;
          for (; c + W <= s.D; c += W) {
            Lane<V>::store(val + c, ev.x.template at<V>(b, i, c));
            Lane<V>::store(win + c, Lane<V>::broadcast(T(i)));
          }
          for (; c < s.D; ++c) {
            val[c] = ev.x.template at<T>(b, i, c);
            win[c] = T(i);
          }
          continue;
        }
        int c = 0;
        for (; c + W <= s.D; c += W) {
          V v = ev.x.template at<V>(b, i, c), m = Lane<V>::load(val + c);
          auto gt = v > m;
          Lane<V>::store(val + c, Lane<V>::select(gt, v, m));
          Lane<V>::store(win + c, Lane<V>::select(gt, Lane<V>::broadcast(T(i)),
                                                  Lane<V>::load(win + c)));
        }
        for (; c < s.D; ++c) {
          T v = ev.x.template at<T>(b, i, c);
          if (v > val[c]) {
            val[c] = v;
            win[c] = T(i);
          }
        }
      }
    });

    parallel_for(s.B, [&](int b) {
      for (int blk = 0; blk < bl.per_batch; ++blk) {
        std::int64_t item = (std::int64_t)b * bl.per_batch + blk;
        int seg = carry_seg[item];
        if (seg < 0) continue;
        T* val = ev.table + ((std::int64_t)b * ev.S + seg) * D;
        T* win = ev.winner + ((std::int64_t)b * ev.S + seg) * D;
        for (int c = 0; c < s.D; ++c)
          if (carry[item * D + c] > val[c]) {
            val[c] = carry[item * D + c];
            win[c] = carry_winner[item * D + c];
          }
      }
    });
  }
};

template <class X, class T>
struct Backprop<eval::SegmentMax<X, T>> {
  static void run(eval::SegmentMax<X, T> const& ev, T const* dtable, Context<T>& ctx) {
    run_sinks(ev.x.sinks(ev.input_path(dtable)), ctx);
  }
};

}  // namespace ponet::cpu
