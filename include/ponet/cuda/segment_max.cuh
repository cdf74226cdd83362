// CUDA segment_max: forward reduction and backward, the twin of cpu/segment_max.hpp.
// Spec: ref::segment_max_forward / _backward.
//   forward   table[b,s,c] = max over tokens j of segment s of x[b,j,c]; winner = the first such j
//             a thread per (b, chunk, c) scans its chunk upward with a strict >; the chunk where
//             a segment starts writes its table row, a later chunk it spills into a carry row;
//             a thread per (b, c) merges the carries in chunk order, again with a strict >, so an
//             earlier token keeps a tie (docs/decisions.md#ties)
//   backward  dx[b,j,c] = (winner[b,s(j),c] == j) ? dtable[b,s(j),c] : 0  (SegmentGrad, gather)
// Saves table and winner, [B, S, D] each. docs/ops.md#segment-max
#pragma once

#include "ponet/cuda/passes.cuh"
#include "ponet/eval/segment_max.hpp"
#include "ponet/expr/segment_max.hpp"

namespace ponet::cuda {

template <class T, class Ev>
__global__ void segment_max_partials_kernel(Ev ev, T* carry, T* carry_winner, Chunks ch) {
  for (std::int64_t idx = thread_index(); idx < ch.threads(); idx += thread_stride()) {
    ChunkCoord const at = chunk_coord(ch, idx);
    int const b = at.b, c = at.c, i0 = ch.begin(at.k), i1 = ch.end(at.k);
    T* val_row = nullptr;
    T* win_row = nullptr;
    T val, win;
    auto open = [&](int i, bool spilled) {  // token i starts a segment (within this chunk)
      std::int64_t const row =
          spilled ? at.item * ch.D : (std::int64_t(b) * ev.S + ev.segment(b, i)) * ch.D;
      val_row = (spilled ? carry : ev.table) + row;
      win_row = (spilled ? carry_winner : ev.winner) + row;
      val = ev.x.template at<T>(b, i, c);
      win = T(i);
    };
    open(i0, i0 > 0 && ev.segment(b, i0 - 1) == ev.segment(b, i0));
    for (int i = i0 + 1; i < i1; ++i) {
      if (ev.segment(b, i) != ev.segment(b, i - 1)) {
        val_row[c] = val;
        win_row[c] = win;
        open(i, false);
        continue;
      }
      T const v = ev.x.template at<T>(b, i, c);
      if (v > val) {
        val = v;
        win = T(i);
      }
    }
    val_row[c] = val;
    win_row[c] = win;
  }
}

template <class T, class Ev>
__global__ void segment_max_merge_kernel(Ev ev, T const* carry, T const* carry_winner, Chunks ch) {
  std::int64_t const n = std::int64_t(ch.B) * ch.D;
  for (std::int64_t idx = thread_index(); idx < n; idx += thread_stride()) {
    int const b = int(idx / ch.D), c = int(idx % ch.D);
    for (int k = 1; k < ch.per_batch; ++k) {
      int const i0 = ch.begin(k), seg = ev.segment(b, i0);
      if (ev.segment(b, i0 - 1) != seg) continue;
      std::int64_t const from = (std::int64_t(b) * ch.per_batch + k) * ch.D + c;
      std::int64_t const to = (std::int64_t(b) * ev.S + seg) * ch.D + c;
      if (carry[from] > ev.table[to]) {
        ev.table[to] = carry[from];
        ev.winner[to] = carry_winner[from];
      }
    }
  }
}

template <class X, class T>
void run_reduction(eval::SegmentMax<X, T> const& ev, Shape3 s, Context<T>& ctx) {
  using Ev = eval::SegmentMax<X, T>;
  static_assert(std::is_trivially_copyable_v<Ev>, "evaluators go into kernels by value");
  Chunks const ch = token_chunks(s);
  std::size_t const rows = std::size_t(ch.count()) * s.D;
  T* carry = ctx.ws.template scratch<T>(rows);
  T* carry_winner = ctx.ws.template scratch<T>(rows);
  launch("ponet::cuda::segment_max_partials_kernel", segment_max_partials_kernel<T, Ev>,
         grid_for(ch.threads()), block_threads, 0, ev, carry, carry_winner, ch);
  if (ch.per_batch > 1)
    launch("ponet::cuda::segment_max_merge_kernel", segment_max_merge_kernel<T, Ev>,
           grid_for(std::int64_t(s.B) * s.D), block_threads, 0, ev, static_cast<T const*>(carry),
           static_cast<T const*>(carry_winner), ch);
}

template <class X, class T>
struct Backprop<eval::SegmentMax<X, T>> {
  static void run(eval::SegmentMax<X, T> const& ev, T const* dtable, Context<T>& ctx) {
    run_sinks(ev.x.sinks(ev.input_path(dtable)), ctx);
  }
};

}  // namespace ponet::cuda
