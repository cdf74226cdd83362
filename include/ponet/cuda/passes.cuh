// The CUDA backward pass driver, the twin of cpu/passes.hpp. One kernel evaluates every sink's
// path at every element: a thread per (b, chunk, c) walks its chunk's tokens in order. Leaf sinks
// write their gradient element (gather form: one writer per element, the same thread for every
// occurrence of a leaf, so `+=` for a leaf used twice is safe). Reduce sinks sum their path into
// dR[b, s, c] in a register, segment by segment: the chunk where a segment starts (its owner)
// writes the segment's row, a later chunk it spills into writes a carry row, and a second kernel
// adds the carries in chunk order. No floating-point atomics: the same bits on every run. Then
// each reduce node runs its own backward (Backprop<Ev>), which may start further passes.
#pragma once

#include <tuple>

#include "ponet/cuda/chunks.cuh"
#include "ponet/cuda/evaluator.cuh"

namespace ponet::cuda {

// Where each reduce sink's sums go; entries of leaf sinks are unused.
template <class T, std::size_t NS>
struct SinkSums {
  T* dst[NS];    // [B, S, D] the reduce node's adjoint
  T* carry[NS];  // [B * chunks, D] the first segment's partial sum of chunks it did not start in
  int S[NS];
};

template <class T, class P, class Sums>
__global__ void sinks_kernel(P sinks, Sums sums, Chunks ch) {
  constexpr std::size_t NS = pack_size<P>::value;
  auto const all = std::make_index_sequence<NS>{};
  for (std::int64_t idx = thread_index(); idx < ch.threads(); idx += thread_stride()) {
    ChunkCoord const at = chunk_coord(ch, idx);
    int const b = at.b, c = at.c, i0 = ch.begin(at.k), i1 = ch.end(at.k);
    T acc[NS];
    T* row[NS];
    int cur[NS];
    auto open = [&](auto I, int seg, bool carried) {
      row[I] = carried ? sums.carry[I] + at.item * ch.D
                       : sums.dst[I] + (std::int64_t(b) * sums.S[I] + seg) * ch.D;
      cur[I] = seg;
      acc[I] = T(0);
    };
    device_for_each_index(all, [&](auto I) {
      auto const& s = pack_get<I>(sinks);
      if constexpr (is_reduce_sink_v<decltype(s)>) {
        int const seg = s.ev.segment(b, i0);
        open(I, seg, i0 > 0 && s.ev.segment(b, i0 - 1) == seg);
      }
    });
    for (int i = i0; i < i1; ++i)
      device_for_each_index(all, [&](auto I) {
        auto const& s = pack_get<I>(sinks);
        if constexpr (is_reduce_sink_v<decltype(s)>) {
          int const seg = s.ev.segment(b, i);
          if (seg != cur[I]) {
            row[I][c] = acc[I];
            open(I, seg, false);
          }
          acc[I] = acc[I] + s.path.template at<T>(b, i, c);
        } else {
          s.template consume<T>(b, i, c);
        }
      });
    device_for_each_index(all, [&](auto I) {
      if constexpr (is_reduce_sink_v<decltype(pack_get<I>(sinks))>) row[I][c] = acc[I];
    });
  }
}

// dst[b, s, c] += the carry rows of the chunks segment s spilled into, in chunk order.
template <class T, class Ev>
__global__ void add_carries_kernel(Ev ev, T* dst, T const* carry, int S, Chunks ch) {
  std::int64_t const n = std::int64_t(ch.B) * ch.D;
  for (std::int64_t idx = thread_index(); idx < n; idx += thread_stride()) {
    int const b = int(idx / ch.D), c = int(idx % ch.D);
    for (int k = 1; k < ch.per_batch; ++k) {
      int const i0 = ch.begin(k), seg = ev.segment(b, i0);
      if (ev.segment(b, i0 - 1) != seg) continue;
      dst[(std::int64_t(b) * S + seg) * ch.D + c] +=
          carry[(std::int64_t(b) * ch.per_batch + k) * ch.D + c];
    }
  }
}

template <class Sinks, std::size_t... I>
constexpr bool has_reduce_sink(std::index_sequence<I...>) {
  return (is_reduce_sink_v<std::tuple_element_t<I, Sinks>> || ...);
}

template <class T, class Sinks>
void run_sinks(Sinks const& sinks, Context<T>& ctx) {
  constexpr std::size_t NS = std::tuple_size_v<Sinks>;
  if constexpr (NS > 0) {
    auto const packed = pack_tuple(sinks);
    using P = std::decay_t<decltype(packed)>;
    static_assert(std::is_trivially_copyable_v<P>,
                  "ponet: sinks and their adjoint paths go into kernels by value");
    Shape3 const s = ctx.shape;
    Chunks const ch = token_chunks(s);
    SinkSums<T, NS> sums{};
    for_each_index(std::make_index_sequence<NS>{}, [&](auto I) {
      auto const& sink = std::get<I>(sinks);
      if constexpr (is_reduce_sink_v<decltype(sink)>) {
        int const S = sink.ev.segments();
        sums.dst[I] = ctx.ws.template scratch<T>(std::size_t(s.B) * S * s.D);
        sums.carry[I] = ctx.ws.template scratch<T>(std::size_t(ch.count()) * s.D);
        sums.S[I] = S;
      }
    });
    launch("ponet::cuda::sinks_kernel", sinks_kernel<T, P, SinkSums<T, NS>>, grid_for(ch.threads()),
           block_threads, 0, packed, sums, ch);
    for_each_index(std::make_index_sequence<NS>{}, [&](auto I) {
      auto const& sink = std::get<I>(sinks);
      if constexpr (is_reduce_sink_v<decltype(sink)>) {
        using Ev = std::decay_t<decltype(sink.ev)>;
        if (ch.per_batch > 1)
          launch("ponet::cuda::add_carries_kernel", add_carries_kernel<T, Ev>,
                 grid_for(std::int64_t(s.B) * s.D), block_threads, 0, sink.ev, sums.dst[I],
                 static_cast<T const*>(sums.carry[I]), sums.S[I], ch);
        Backprop<Ev>::run(sink.ev, sums.dst[I], ctx);
      }
    });
  }
}

}  // namespace ponet::cuda
