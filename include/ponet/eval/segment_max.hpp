// Evaluator of segment_max: reads the [B, S, D] table a backend filled, at the token's segment.
// Its adjoint reaches the input only at each segment's winner:
// dx[b,j,c] = (winner[b, s(j), c] == j) ? ds[b, s(j), c] : 0 (SegmentGrad, gather form).
// Spec: ref::segment_max_forward / _backward.  docs/ops.md#segment-max
#pragma once

#include "ponet/eval/leaf.hpp"

namespace ponet::eval {

template <class T>
struct SegmentGrad {
  std::int32_t const* ids;  // [B, N, 1]
  std::int64_t isb, isn;
  T const* winner;  // [B, S, D] token index of each segment's max, stored as T
  T const* dtable;  // [B, S, D]
  int S, D;
  template <class V>
  PONET_HD V at(int b, int j, int c) const {
    std::int64_t row = ((std::int64_t)b * S + ids[b * isb + j * isn]) * D + c;
    auto won = Lane<V>::load(winner + row) == Lane<V>::broadcast(T(j));
    return Lane<V>::select(won, Lane<V>::load(dtable + row), Lane<V>::zero());
  }
  PONET_HD void prefetch(int, int, int) const {}
};

template <class X, class T>
struct SegmentMax {
  X x;
  std::int32_t const* ids;  // [B, N, 1]
  std::int64_t isb, isn;
  T* table;   // [B, S, D]
  T* winner;  // [B, S, D]
  int S, D;

  template <class V>
  PONET_HD V at(int b, int i, int c) const {
    return Lane<V>::load(table + ((std::int64_t)b * S + segment(b, i)) * D + c);
  }
  // Its input is read by its own reduction pass, not by the passes that read it.
  PONET_HD void prefetch(int, int, int) const {}
  PONET_HD int segment(int b, int i) const { return ids[b * isb + i * isn]; }
  int segments() const { return S; }
  template <class P>
  auto sinks(P const& path) const {
    return std::make_tuple(ReduceSink<SegmentMax, P>{*this, path});
  }
  SegmentGrad<T> input_path(T const* dtable) const { return {ids, isb, isn, winner, dtable, S, D}; }
};

}  // namespace ponet::eval
