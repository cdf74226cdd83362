// The CPU's lowering context. Evaluators are built by the device-generic lower::Build
// (eval/lower.hpp); this device supplies run_reduction for each reduce node (cpu/<op>.hpp), so by
// the time the fused pass starts every reduction has run exactly once.
#pragma once

#include "ponet/cpu/parallel.hpp"
#include "ponet/cpu/simd.hpp"
#include "ponet/eval/lower.hpp"

namespace ponet::cpu {

template <class T>
struct Context {
  using value_type = T;
  Workspace<cpu_tag>& ws;
  Mode mode;
  Shape3 shape;                        // of the expression: every non-reduced term is [B, N, D]
  Grads<T, cpu_tag>* grads = nullptr;  // backward only
};

}  // namespace ponet::cpu

namespace ponet::lower {
template <>
struct context_of<cpu_tag> {
  template <class T>
  using type = cpu::Context<T>;
};
}  // namespace ponet::lower

namespace ponet::cpu {

template <class E, class T>
auto build(E const& e, Context<T>& ctx) {
  return lower::build(e, ctx);
}

// A gradient nobody reads back in this pass may bypass the cache (lower::Build<Leaf>).
template <class T>
bool streams_gradient(Context<T> const&, View<T, cpu_tag> const& dx) {
  return streamable(dx);
}

template <class Ev>
struct Backprop {
  static_assert(sizeof(Ev) == 0, "ponet: this reduce evaluator has no CPU backward");
};

}  // namespace ponet::cpu
