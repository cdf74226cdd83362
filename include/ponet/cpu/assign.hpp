// The CPU lowering: the one fused loop every expression goes through, and the backward driver.
//   run       build evaluators (every reduction runs once, into the workspace), then one
//             parallel pass over token blocks writes dst: SIMD packets, then a scalar tail
//   backward  rebuild evaluators over the saved state, then one pass evaluates every sink
//             (cpu/passes.hpp); reduce nodes follow with their own backward passes
#pragma once

#include "ponet/core/lowering.hpp"
#include "ponet/cpu/passes.hpp"

namespace ponet {
namespace cpu {

template <class T, class Ev>
void assign_rows(View<T, cpu_tag> dst, Ev const& ev) {  // dst [B, N, D]
  using V = Batch<T>;
  constexpr int W = simd_width<T>;
  int const body = dst.D - dst.D % W;
  bool const stream = streamable(dst);
  int const ahead = prefetch_distance<T>(dst.D);
  for_each_block(token_blocks(dst.shape()), [&](int b, int, int i0, int i1, int) {
    for (int i = i0; i < i1; ++i) {
      prefetch_token(ev, b, i + ahead, dst.N, dst.D);
      T* row = dst.row(b, i);
      int c = 0;
      if (stream)
        for (; c < body; c += W) Lane<V>::stream(row + c, ev.template at<V>(b, i, c));
      else
        for (; c < body; c += W) Lane<V>::store(row + c, ev.template at<V>(b, i, c));
      for (; c < dst.D; ++c) row[c] = ev.template at<T>(b, i, c);
    }
    if (stream) stream_fence();
  });
}

template <class T>
void zero_rows(View<T, cpu_tag> x) {
  for_each_block(token_blocks(x.shape()), [&](int b, int, int i0, int i1, int) {
    for (int i = i0; i < i1; ++i)
      for (int c = 0; c < x.D; ++c) x(b, i, c) = T(0);
  });
}

}  // namespace cpu

template <>
struct Lowering<cpu_tag> {
  template <class T, class E>
  static void run(View<T, cpu_tag> dst, E const& e, Workspace<cpu_tag>& ws, Mode mode) {
    ws.begin_forward<E>(mode, dst.shape());
    cpu::Context<T> ctx{ws, mode, dst.shape()};
    auto ev = cpu::build(e, ctx);
    cpu::assign_rows(dst, ev);
    ws.end_forward();
  }

  template <class T, class E>
  static void backward(E const& e, View<T const, cpu_tag> dout, Workspace<cpu_tag>& ws,
                       Grads<T, cpu_tag>& grads) {
    grads.bind(e, dout);
    ws.begin_backward<E>(dout.shape());
    struct Restore {  // the saved state stays usable even if this backward throws
      Workspace<cpu_tag>& ws;
      ~Restore() { ws.end_backward(); }
    } restore{ws};
    for (auto& p : grads.pairs())
      if (p.uses > 1) cpu::zero_rows(p.dx);  // several occurrences accumulate
    cpu::Context<T> ctx{ws, Mode::backward, dout.shape(), &grads};
    auto ev = cpu::build(e, ctx);
    cpu::run_sinks(ev.sinks(eval::Leaf<T>{dout.data, dout.sb, dout.sn}), ctx);
  }
};

}  // namespace ponet
