// Keeps the core's CUDA-readiness promise honest (docs/design.md#devices): the expression nodes
// and every evaluator, adjoint path and sink the PoNet mixing uses compile as device code under
// nvcc, are trivially copyable, and go by value into kernels. Compile-only: CI has no GPU.
#include <cstdio>
#include <cstdlib>
#include <tuple>
#include <type_traits>
#include <utility>

#include "ponet/core/segments.hpp"
#include "ponet/eval/elementwise.hpp"
#include "ponet/eval/global_attn.hpp"
#include "ponet/eval/masked_mean.hpp"
#include "ponet/eval/segment_max.hpp"
#include "ponet/eval/window_max.hpp"
#include "ponet/expr/fuse.hpp"

namespace ev = ponet::eval;
namespace ex = ponet::expr;

// dst[b, i, c] = e(b, i, c), one thread per element: the scalar form of the fused pass.
template <class Ev>
__global__ void evaluate_kernel(Ev e, float* dst, int B, int N, int D) {
  long long idx = (long long)blockIdx.x * blockDim.x + threadIdx.x;
  if (idx >= (long long)B * N * D) return;
  int c = int(idx % D), i = int((idx / D) % N), b = int(idx / ((long long)N * D));
  dst[idx] = e.template at<float>(b, i, c);
}

// One leaf gradient, or one reduce adjoint's per-element value.
template <class Sink>
__global__ void sink_kernel(Sink s, float* scratch, int B, int N, int D) {
  long long idx = (long long)blockIdx.x * blockDim.x + threadIdx.x;
  if (idx >= (long long)B * N * D) return;
  int c = int(idx % D), i = int((idx / D) % N), b = int(idx / ((long long)N * D));
  if constexpr (ev::is_reduce_sink<Sink>::value)
    scratch[idx] = s.path.template at<float>(b, i, c) + float(s.ev.segment(b, i));
  else
    s.template consume<float>(b, i, c);
}

template <class Sinks, std::size_t... I>
void launch_sinks(Sinks const& sinks, float* scratch, std::index_sequence<I...>) {
  static_assert((std::is_trivially_copyable_v<std::tuple_element_t<I, Sinks>> && ...),
                "sinks and their adjoint paths go into kernels by value");
  (sink_kernel<<<1, 32>>>(std::get<I>(sinks), scratch, 1, 1, 1), ...);
}

int main() {
  using L = ev::Leaf<float>;
  using M = ev::MaskedFill<L, float>;
  using G = ev::GlobalAttn<ev::MaskedMean<L, float>, L, float>;
  using S = ev::MaskedFill<ev::SegmentMax<M, float>, float>;
  using W = ev::MaskedFill<ev::WindowMax<M>, float>;
  using Mixing =
      ev::MaskedFill<ev::Binary<ex::Add, ev::Binary<ex::Mul, ev::Binary<ex::Add, G, S>, L>, W>,
                     float>;
  static_assert(std::is_trivially_copyable_v<Mixing>, "evaluators go into kernels by value");

  // The nodes themselves must build in a .cu file too (host side).
  ponet::Tensor<float> x(ponet::Shape3{1, 4, 8});
  ponet::Tensor<std::uint8_t> valid(ponet::Shape3{1, 4, 1});
  auto seg = ponet::Segments::chunks(1, 4, 2);
  auto e = ex::mixing<float, ponet::cpu_tag>(x, x, x, x, x, valid, valid, seg.view(), 2);
  static_assert(std::is_same_v<decltype(e)::value_type, float>);

  Mixing m{};  // null pointers: compiled and launched never here (no GPU in CI)
  if (std::getenv("PONET_RUN_CUDA_CHECK") != nullptr) {
    evaluate_kernel<<<1, 32>>>(m, nullptr, 1, 1, 1);
    auto sinks = m.sinks(L{});
    launch_sinks(sinks, nullptr, std::make_index_sequence<std::tuple_size_v<decltype(sinks)>>{});
  }
  std::printf("ponet expression headers compile under nvcc\n");
  return 0;
}
