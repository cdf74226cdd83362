// CUDA evaluator construction, the twin of cpu/evaluator.hpp. cuda::Build<Node>::run turns a node
// into the SAME eval:: evaluator the CPU builds, holding device pointers; a reduce node also
// launches its reduction kernels there (cuda/<op>.cuh), into workspace memory, so by the time the
// fused kernel starts every reduction has been queued exactly once. In backward mode nothing is
// computed: evaluators are rebuilt over the forward's saved state and leaves learn their
// gradients. Also here: Pack, a trivially copyable tuple that carries sinks into kernels.
#pragma once

#include <cstdint>
#include <tuple>
#include <type_traits>
#include <utility>

#include "ponet/core/grads.hpp"
#include "ponet/core/workspace.hpp"
#include "ponet/cuda/memory.cuh"
#include "ponet/eval/activation.hpp"
#include "ponet/eval/elementwise.hpp"
#include "ponet/eval/window_max.hpp"
#include "ponet/expr/mask.hpp"
#include "ponet/expr/window_max.hpp"

namespace ponet::cuda {

template <class T>
struct Context {
  Workspace<cuda_tag>& ws;
  Mode mode;
  Shape3 shape;                         // of the expression: every non-reduced term is [B, N, D]
  Grads<T, cuda_tag>* grads = nullptr;  // backward only
};

template <class E>
struct Build {
  static_assert(sizeof(E) == 0, "ponet: this node has no CUDA lowering");
};

template <class E, class T>
auto build(E const& e, Context<T>& ctx) {
  return Build<E>::run(e, ctx);
}

inline eval::Mask mask_eval(View<std::uint8_t const, cuda_tag> m) { return {m.data, m.sb, m.sn}; }

template <class T>
struct Build<expr::Leaf<T, cuda_tag>> {
  static eval::Leaf<T> run(expr::Leaf<T, cuda_tag> const& n, Context<T>& ctx) {
    eval::Leaf<T> ev{n.x.data, n.x.sb, n.x.sn};
    if (ctx.mode == Mode::backward && ctx.grads)
      if (auto* g = ctx.grads->find(n.x)) {
        ev.dx = g->dx.data;
        ev.dsb = g->dx.sb;
        ev.dsn = g->dx.sn;
        ev.accumulate = g->uses > 1;  // zeroed before the backward starts
        ev.stream = false;            // Lane<T>::stream is a plain store on a GPU
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

// Spec: ref::window_max_forward. A training forward saves the winners (int8 offsets); the fused
// kernel evaluates each element once, so each offset has one writer.
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
    // The CPU's threshold and scale, so both devices draw the same mask (eval::DropMask).
    auto threshold = std::uint32_t(double(n.p) * 4294967296.0);
    return eval::Dropout<decltype(x), T>{x, {n.seed, threshold, T(1) / (T(1) - n.p)}};
  }
};

template <class Ev>
struct Backprop {
  static_assert(sizeof(Ev) == 0, "ponet: this reduce evaluator has no CUDA backward");
};

// ---- Pack: the sinks of a backward pass as one trivially copyable kernel argument ----------

template <class... S>
struct Pack;
template <>
struct Pack<> {};
template <class H, class... R>
struct Pack<H, R...> {
  H head;
  Pack<R...> tail;
};

template <class P>
struct pack_size;
template <class... S>
struct pack_size<Pack<S...>> : std::integral_constant<std::size_t, sizeof...(S)> {};

template <std::size_t I, class H, class... R>
PONET_HD auto const& pack_get(Pack<H, R...> const& p) {
  if constexpr (I == 0)
    return p.head;
  else
    return pack_get<I - 1>(p.tail);
}

inline Pack<> pack() { return {}; }
template <class H, class... R>
Pack<H, R...> pack(H const& h, R const&... r) {
  return {h, pack(r...)};
}
template <class... S>
Pack<S...> pack_tuple(std::tuple<S...> const& t) {
  return std::apply([](S const&... s) { return pack(s...); }, t);
}

// A compile-time index whose conversion is callable from device code (std::integral_constant's
// is host-only to nvcc without --expt-relaxed-constexpr, which ponet does not require).
template <std::size_t I>
struct Index {
  static constexpr std::size_t value = I;
  PONET_HD constexpr operator std::size_t() const { return I; }
};

// f(Index<I>{}) for I in [0, n), unrolled at compile time: on the host (launchers) and in
// kernels (a host and a device twin, since nvcc will not call host lambdas from __host__
// __device__ functions quietly).
template <class F, std::size_t... I>
void for_each_index(std::index_sequence<I...>, F&& f) {
  (f(Index<I>{}), ...);
}
template <class F, std::size_t... I>
__device__ __forceinline__ void device_for_each_index(std::index_sequence<I...>, F&& f) {
  (f(Index<I>{}), ...);
}

template <class S>
inline constexpr bool is_reduce_sink_v = eval::is_reduce_sink<std::decay_t<S>>::value;

}  // namespace ponet::cuda
