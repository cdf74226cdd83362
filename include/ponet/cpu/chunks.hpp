// Channel chunks for CPU loops that reduce over tokens: a chunk of up to 4 SIMD packets stays in
// registers while the loop runs over a block's tokens (a load-add-store per token and packet is
// ~1.6x slower on the machines we measure). Full chunks, then single packets, then scalars.
#pragma once

#include <type_traits>

#include "ponet/cpu/simd.hpp"

namespace ponet::cpu {

template <class V>
struct LaneTag {
  using type = V;
};

inline constexpr int chunk_packets = 4;

// f(LaneTag<V>{}, std::integral_constant<int, K>{}, c0) for lanes c0 + k * width(V), k < K,
// covering channels [c_begin, c_end).
template <class T, class F>
void for_each_chunk(int c_begin, int c_end, F&& f) {
  using V = Batch<T>;
  constexpr int W = simd_width<T>, P = chunk_packets;
  int c = c_begin;
  for (; c + P * W <= c_end; c += P * W) f(LaneTag<V>{}, std::integral_constant<int, P>{}, c);
  for (; c + W <= c_end; c += W) f(LaneTag<V>{}, std::integral_constant<int, 1>{}, c);
  for (; c < c_end; ++c) f(LaneTag<T>{}, std::integral_constant<int, 1>{}, c);
}

template <class Tag>
using lane_of_t = typename std::decay_t<Tag>::type;

// How many tokens ahead a token loop asks for rows: about 6 KiB of each stream in flight, which
// lets a loop with long dependency chains (GA's dot products) still read at full bandwidth.
template <class T>
int prefetch_distance(int D) {
  int rows = int(6144 / (std::int64_t(D) * sizeof(T)));
  return rows < 1 ? 1 : rows;
}

template <class Ev>
inline void prefetch_token(Ev const& ev, int b, int i, int N, int D) {
  if (i < N) ev.prefetch(b, i, D);
}

}  // namespace ponet::cpu
