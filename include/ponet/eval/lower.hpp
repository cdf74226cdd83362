// The device-generic half of lowering: lower::Build<Node>::run turns an expression node into its
// eval:: evaluator, the same evaluator type on every device. What differs by device is found by
// argument-dependent lookup on the device's Context (cpu::Context, cuda::Context):
//   run_reduction(ev, shape, ctx)  runs a reduce node's reduction into workspace memory, once,
//                                  before the fused pass (cpu/<op>.hpp, cuda/<op>.cuh)
//   streams_gradient(ctx, dx)      whether a leaf's gradient may bypass the cache
// In backward mode nothing is computed: the evaluators are rebuilt over the forward's saved state
// and leaves learn where their gradients go.
#pragma once

#include <cstddef>
#include <cstdint>

#include "ponet/core/grads.hpp"
#include "ponet/core/workspace.hpp"
#include "ponet/eval/activation.hpp"
#include "ponet/eval/elementwise.hpp"
#include "ponet/eval/global_attn.hpp"
#include "ponet/eval/masked_mean.hpp"
#include "ponet/eval/segment_max.hpp"
#include "ponet/eval/window_max.hpp"
#include "ponet/expr/global_attn.hpp"
#include "ponet/expr/mask.hpp"
#include "ponet/expr/masked_mean.hpp"
#include "ponet/expr/segment_max.hpp"
#include "ponet/expr/window_max.hpp"

namespace ponet::lower {

// Each device names its lowering context, e.g. for the CPU
//   template <> struct context_of<cpu_tag> { template <class T> using type = cpu::Context<T>; };
template <class Dev>
struct context_of;
template <class T, class Dev>
using context_t = typename context_of<Dev>::template type<T>;

template <class E>
struct Build {
  static_assert(sizeof(E) == 0, "ponet: this node has no lowering");
};

template <class E, class Ctx>
auto build(E const& e, Ctx& ctx) {
  return Build<E>::run(e, ctx);
}

template <class Dev>
eval::Mask mask_eval(View<std::uint8_t const, Dev> m) {
  return {m.data, m.sb, m.sn};
}

template <class T, class Dev>
struct Build<expr::Leaf<T, Dev>> {
  template <class Ctx>
  static eval::Leaf<T> run(expr::Leaf<T, Dev> const& n, Ctx& ctx) {
    eval::Leaf<T> ev{n.x.data, n.x.sb, n.x.sn};
    if (ctx.mode == Mode::backward && ctx.grads)
      if (auto* g = ctx.grads->find(n.x)) {
        ev.dx = g->dx.data;
        ev.dsb = g->dx.sb;
        ev.dsn = g->dx.sn;
        ev.accumulate = g->uses > 1;  // zeroed before the backward starts
        ev.stream = !ev.accumulate && streams_gradient(ctx, g->dx);
      }
    return ev;
  }
};

template <class T>
struct Build<expr::Constant<T>> {
  template <class Ctx>
  static eval::Constant<T> run(expr::Constant<T> const& n, Ctx&) {
    return {n.value};
  }
};

template <class Op, class L, class R>
struct Build<expr::Binary<Op, L, R>> {
  template <class Ctx>
  static auto run(expr::Binary<Op, L, R> const& n, Ctx& ctx) {
    auto l = build(n.l, ctx);
    auto r = build(n.r, ctx);
    return eval::Binary<Op, decltype(l), decltype(r)>{l, r};
  }
};

template <class X>
struct Build<expr::MaskedFill<X>> {
  template <class Ctx>
  static auto run(expr::MaskedFill<X> const& n, Ctx& ctx) {
    auto x = build(n.x, ctx);
    using T = typename Ctx::value_type;
    return eval::MaskedFill<decltype(x), T>{x, mask_eval(n.mask), n.fill};
  }
};

// Spec: ref::window_max_forward. A training forward saves the winners (int8 offsets); the fused
// pass evaluates each element once, so each offset has one writer.
template <class X>
struct Build<expr::WindowMax<X>> {
  template <class Ctx>
  static auto run(expr::WindowMax<X> const& n, Ctx& ctx) {
    auto x = build(n.x, ctx);
    Shape3 s = n.shape();
    std::int8_t* argmax = nullptr;
    if (ctx.mode != Mode::infer) argmax = ctx.ws.template saved<std::int8_t>(s.numel());
    return eval::WindowMax<decltype(x)>{
        x, s.N, n.k / 2, argmax, (std::int64_t)s.N * s.D, s.D, ctx.mode == Mode::train};
  }
};

template <class Op, class X>
struct Build<expr::Unary<Op, X>> {
  template <class Ctx>
  static auto run(expr::Unary<Op, X> const& n, Ctx& ctx) {
    auto x = build(n.x, ctx);
    return eval::Unary<Op, decltype(x)>{x};
  }
};

template <class X>
struct Build<expr::Dropout<X>> {
  template <class Ctx>
  static auto run(expr::Dropout<X> const& n, Ctx& ctx) {
    auto x = build(n.x, ctx);
    using T = typename Ctx::value_type;
    // keep when the 32-bit hash >= p * 2^32 (p < 1, so the threshold fits); every device draws
    // the same mask (eval::DropMask)
    auto threshold = std::uint32_t(double(n.p) * 4294967296.0);
    return eval::Dropout<decltype(x), T>{x, {n.seed, threshold, T(1) / (T(1) - n.p)}};
  }
};

// ---- reduce nodes: the evaluator holds its saved state; the reduction fills it ----------------

template <class Ev, class Ctx>
Ev reduced(Ev ev, Shape3 s, Ctx& ctx) {
  if (ctx.mode != Mode::backward) run_reduction(ev, s, ctx);
  return ev;
}

// Saves m [B, D] and n [B].
template <class X>
struct Build<expr::MaskedMean<X>> {
  template <class Ctx>
  static auto run(expr::MaskedMean<X> const& n, Ctx& ctx) {
    auto x = build(n.x, ctx);
    using T = typename Ctx::value_type;
    Shape3 const s = n.shape();
    eval::MaskedMean<decltype(x), T> ev{x, mask_eval(n.valid),
                                        ctx.ws.template saved<T>((std::size_t)s.B * s.D),
                                        ctx.ws.template saved<T>(s.B), s.D};
    return reduced(ev, s, ctx);
  }
};

// Saves g [B, D] and each head's softmax max and sum [B, H].
template <class Q, class K>
struct Build<expr::GlobalAttn<Q, K>> {
  template <class Ctx>
  static auto run(expr::GlobalAttn<Q, K> const& n, Ctx& ctx) {
    auto q = build(n.q, ctx);
    auto k = build(n.k, ctx);
    using T = typename Ctx::value_type;
    Shape3 const s = n.shape();
    eval::GlobalAttn<decltype(q), decltype(k), T> ev{
        q,
        k,
        mask_eval(n.valid),
        ctx.ws.template saved<T>((std::size_t)s.B * s.D),
        ctx.ws.template saved<T>((std::size_t)s.B * n.H),
        ctx.ws.template saved<T>((std::size_t)s.B * n.H),
        n.H,
        s.D};
    return reduced(ev, s, ctx);
  }
};

// Saves the table and the winners, [B, S, D] each.
template <class X>
struct Build<expr::SegmentMax<X>> {
  template <class Ctx>
  static auto run(expr::SegmentMax<X> const& n, Ctx& ctx) {
    auto x = build(n.x, ctx);
    using T = typename Ctx::value_type;
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
    return reduced(ev, s, ctx);
  }
};

}  // namespace ponet::lower
