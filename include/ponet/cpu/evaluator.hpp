// CPU evaluator construction. Build<Node>::run turns a node into its eval:: evaluator; a reduce
// node also runs its reduction there into workspace memory (cpu/<op>.hpp), so by the time the
// fused pass starts every reduction has run exactly once. In backward mode nothing is computed:
// the evaluators are rebuilt over the forward's saved state and leaves learn their gradients.
#pragma once

#include "ponet/core/grads.hpp"
#include "ponet/core/workspace.hpp"
#include "ponet/cpu/parallel.hpp"
#include "ponet/cpu/simd.hpp"
#include "ponet/eval/activation.hpp"
#include "ponet/eval/elementwise.hpp"
#include "ponet/eval/window_max.hpp"
#include "ponet/expr/mask.hpp"
#include "ponet/expr/window_max.hpp"

namespace ponet::cpu {

template <class T>
struct Context {
  Workspace<cpu_tag>& ws;
  Mode mode;
  Shape3 shape;                        // of the expression: every non-reduced term is [B, N, D]
  Grads<T, cpu_tag>* grads = nullptr;  // backward only
};

template <class E>
struct Build {
  static_assert(sizeof(E) == 0, "ponet: this node has no CPU lowering");
};

template <class E, class T>
auto build(E const& e, Context<T>& ctx) {
  return Build<E>::run(e, ctx);
}

inline eval::Mask mask_eval(View<std::uint8_t const> m) { return {m.data, m.sb, m.sn}; }

template <class T>
struct Build<expr::Leaf<T, cpu_tag>> {
  static eval::Leaf<T> run(expr::Leaf<T, cpu_tag> const& n, Context<T>& ctx) {
    eval::Leaf<T> ev{n.x.data, n.x.sb, n.x.sn};
    if (ctx.mode == Mode::backward && ctx.grads)
      if (auto* g = ctx.grads->find(n.x)) {
        ev.dx = g->dx.data;
        ev.dsb = g->dx.sb;
        ev.dsn = g->dx.sn;
        ev.accumulate = g->uses > 1;  // zeroed before the backward starts
        ev.stream = !ev.accumulate && streamable(g->dx);
      }
    return ev;
  }
};

template <class T>
struct Build<expr::Constant<T>> {
  static eval::Constant<T> run(expr::Constant<T> const& n, Context<T>&) { return {n.value}; }
};

template <class Op, class L, class R>
struct Build<expr::Binary<Op, L, R>> {
  template <class T>
  static auto run(expr::Binary<Op, L, R> const& n, Context<T>& ctx) {
    auto l = build(n.l, ctx);
    auto r = build(n.r, ctx);
    return eval::Binary<Op, decltype(l), decltype(r)>{l, r};
  }
};

template <class X>
struct Build<expr::MaskedFill<X>> {
  template <class T>
  static auto run(expr::MaskedFill<X> const& n, Context<T>& ctx) {
    auto x = build(n.x, ctx);
    return eval::MaskedFill<decltype(x), T>{x, mask_eval(n.mask), n.fill};
  }
};

// Spec: ref::window_max_forward. A training forward saves the winners (int8 offsets).
template <class X>
struct Build<expr::WindowMax<X>> {
  template <class T>
  static auto run(expr::WindowMax<X> const& n, Context<T>& ctx) {
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
  template <class T>
  static auto run(expr::Unary<Op, X> const& n, Context<T>& ctx) {
    auto x = build(n.x, ctx);
    return eval::Unary<Op, decltype(x)>{x};
  }
};

template <class X>
struct Build<expr::Dropout<X>> {
  template <class T>
  static auto run(expr::Dropout<X> const& n, Context<T>& ctx) {
    auto x = build(n.x, ctx);
    // keep when the 32-bit hash >= p * 2^32 (p < 1, so the threshold fits)
    auto threshold = std::uint32_t(double(n.p) * 4294967296.0);
    return eval::Dropout<decltype(x), T>{x, {n.seed, threshold, T(1) / (T(1) - n.p)}};
  }
};

template <class Ev>
struct Backprop {
  static_assert(sizeof(Ev) == 0, "ponet: this reduce evaluator has no CPU backward");
};

}  // namespace ponet::cpu
