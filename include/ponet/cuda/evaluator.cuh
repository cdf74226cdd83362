// The CUDA lowering context, the twin of cpu/evaluator.hpp: the device-generic lower::Build
// (eval/lower.hpp) builds the SAME eval:: evaluators the CPU builds, holding device pointers; this
// device supplies run_reduction for each reduce node (cuda/<op>.cuh), which queues its kernels
// into workspace memory, so by the time the fused kernel starts every reduction has been queued
// exactly once. Also here: Pack, a trivially copyable tuple that carries sinks into kernels.
#pragma once

#include <cstdint>
#include <tuple>
#include <type_traits>
#include <utility>

#include "ponet/cuda/memory.cuh"
#include "ponet/eval/lower.hpp"

namespace ponet::cuda {

template <class T>
struct Context {
  using value_type = T;
  Workspace<cuda_tag>& ws;
  Mode mode;
  Shape3 shape;                         // of the expression: every non-reduced term is [B, N, D]
  Grads<T, cuda_tag>* grads = nullptr;  // backward only
};

}  // namespace ponet::cuda

namespace ponet::lower {
template <>
struct context_of<cuda_tag> {
  template <class T>
  using type = cuda::Context<T>;
};
}  // namespace ponet::lower

namespace ponet::cuda {

template <class E, class T>
auto build(E const& e, Context<T>& ctx) {
  return lower::build(e, ctx);
}

// Lane<T>::stream is a plain store on a GPU.
template <class T>
bool streams_gradient(Context<T> const&, View<T, cuda_tag> const&) {
  return false;
}

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
