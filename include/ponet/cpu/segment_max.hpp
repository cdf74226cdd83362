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

// A segment's owner block (where it starts) writes its table row; a block it spills into keeps
// a carry row, merged afterwards in block order with a strict > so the earlier token keeps a tie.
template <class X, class T>
void run_reduction(eval::SegmentMax<X, T> const& ev, Shape3 s, Context<T>& ctx) {
  Blocks const bl = token_blocks(s);
  std::size_t const rows = (std::size_t)bl.count() * s.D;
  T* carry = ctx.ws.template scratch<T>(rows);
  T* carry_winner = ctx.ws.template scratch<T>(rows);
  int* carry_seg = ctx.ws.template scratch<int>(bl.count());
  std::int64_t const D = s.D;
  int const ahead = prefetch_distance<T>(s.D);

  for_each_block(bl, [&](int b, int blk, int i0, int i1, int) {
    std::int64_t const item = (std::int64_t)b * bl.per_batch + blk;
    bool const carried = i0 > 0 && ev.segment(b, i0 - 1) == ev.segment(b, i0);
    carry_seg[item] = carried ? ev.segment(b, i0) : -1;
    for_each_chunk<T>(0, s.D, [&](auto tag, auto kc, int c0) {
      using L = lane_of_t<decltype(tag)>;
      constexpr int K = decltype(kc)::value, w = Lane<L>::width;
      L val[K], win[K];
      T *val_row = nullptr, *win_row = nullptr;
      auto flush = [&] {
        for (int k = 0; k < K; ++k) {
          Lane<L>::store(val_row + c0 + k * w, val[k]);
          Lane<L>::store(win_row + c0 + k * w, win[k]);
        }
      };
      auto open = [&](int i, bool spilled) {  // token i starts a segment (within this block)
        std::int64_t row = spilled ? item * D : ((std::int64_t)b * ev.S + ev.segment(b, i)) * D;
        val_row = (spilled ? carry : ev.table) + row;
        win_row = (spilled ? carry_winner : ev.winner) + row;
        for (int k = 0; k < K; ++k) {
          val[k] = ev.x.template at<L>(b, i, c0 + k * w);
          win[k] = Lane<L>::broadcast(T(i));
        }
      };
      if (c0 == 0)
        for (int i = i0; i < i0 + ahead; ++i) prefetch_token(ev.x, b, i, s.N, s.D);
      open(i0, carried);
      for (int i = i0 + 1; i < i1; ++i) {
        if (c0 == 0) prefetch_token(ev.x, b, i + ahead, s.N, s.D);  // the first chunk walks rows
        if (ev.segment(b, i) != ev.segment(b, i - 1)) {
          flush();
          open(i, false);
          continue;
        }
        L const idx = Lane<L>::broadcast(T(i));
        for (int k = 0; k < K; ++k) {
          L v = ev.x.template at<L>(b, i, c0 + k * w);
          auto gt = v > val[k];
          val[k] = Lane<L>::select(gt, v, val[k]);
          win[k] = Lane<L>::select(gt, idx, win[k]);
        }
      }
      flush();
    });
  });

  parallel_for(s.B, [&](int b) {
    for (int blk = 0; blk < bl.per_batch; ++blk) {
      std::int64_t item = (std::int64_t)b * bl.per_batch + blk;
      int seg = carry_seg[item];
      if (seg < 0) continue;
      T* val = ev.table + ((std::int64_t)b * ev.S + seg) * D;
      T* win = ev.winner + ((std::int64_t)b * ev.S + seg) * D;
      T const* cval = carry + item * D;
      T const* cwin = carry_winner + item * D;
      // Branch-free: on random data a branch per channel mispredicts half the time.
      for_each_chunk<T>(0, s.D, [&](auto tag, auto kc, int c0) {
        using L = lane_of_t<decltype(tag)>;
        constexpr int K = decltype(kc)::value, w = Lane<L>::width;
        for (int k = 0; k < K; ++k) {
          int const c = c0 + k * w;
          L v = Lane<L>::load(cval + c), m = Lane<L>::load(val + c);
          auto gt = v > m;  // strict: the earlier token keeps a tie
          Lane<L>::store(val + c, Lane<L>::select(gt, v, m));
          Lane<L>::store(win + c,
                         Lane<L>::select(gt, Lane<L>::load(cwin + c), Lane<L>::load(win + c)));
        }
      });
    }
  });
}

template <class X, class T>
struct Backprop<eval::SegmentMax<X, T>> {
  static void run(eval::SegmentMax<X, T> const& ev, T const* dtable, Context<T>& ctx) {
    run_sinks(ev.x.sinks(ev.input_path(dtable)), ctx);
  }
};

}  // namespace ponet::cpu
