// The CUDA lowering, chosen at compile time when the destination is a View<T, cuda_tag>:
//   run       build evaluators (each reduction queues its kernels once, into the workspace),
//             then ONE fused kernel writes dst: a thread per element (b, i, c), c fastest, calls
//             the evaluator tree's at<T>(b, i, c), the same formula the CPU's scalar tail runs
//   backward  rebuild evaluators over the saved state, then the sinks pass (cuda/passes.cuh);
//             reduce nodes follow with their own backward kernels
// Everything runs on cuda::stream() in issue order; nothing here synchronises with the host.
#pragma once

#include "ponet/core/lowering.hpp"
#include "ponet/cuda/global_attn.cuh"
#include "ponet/cuda/masked_mean.cuh"
#include "ponet/cuda/passes.cuh"
#include "ponet/cuda/segment_max.cuh"

namespace ponet {
namespace cuda {

// dst[b, i, c] = ev.at<T>(b, i, c) for every element. Spec: the expression's ref:: functions.
template <class T, class Ev>
__global__ void assign_kernel(Ev ev, T* dst, std::int64_t sb, std::int64_t sn, int N, int D,
                              std::int64_t total) {
  for (std::int64_t idx = thread_index(); idx < total; idx += thread_stride()) {
    Coord const at = unflatten(idx, N, D);
    dst[at.b * sb + at.i * sn + at.c] = ev.template at<T>(at.b, at.i, at.c);
  }
}

template <class T>
__global__ void zero_kernel(T* x, std::int64_t sb, std::int64_t sn, int N, int D,
                            std::int64_t total) {
  for (std::int64_t idx = thread_index(); idx < total; idx += thread_stride()) {
    Coord const at = unflatten(idx, N, D);
    x[at.b * sb + at.i * sn + at.c] = T(0);
  }
}

template <class T, class Ev>
void assign_rows(View<T, cuda_tag> dst, Ev const& ev) {  // dst [B, N, D]
  static_assert(std::is_trivially_copyable_v<Ev>,
                "ponet: evaluators go into kernels by value and must be trivially copyable");
  std::int64_t const total = dst.shape().numel();
  launch("ponet::cuda::assign_kernel", assign_kernel<T, Ev>, grid_for(total), block_threads, 0, ev,
         dst.data, dst.sb, dst.sn, dst.N, dst.D, total);
}

template <class T>
void zero_rows(View<T, cuda_tag> x) {
  std::int64_t const total = x.shape().numel();
  launch("ponet::cuda::zero_kernel", zero_kernel<T>, grid_for(total), block_threads, 0, x.data,
         x.sb, x.sn, x.N, x.D, total);
}

}  // namespace cuda

template <>
struct Lowering<cuda_tag> {
  template <class T, class E>
  static void run(View<T, cuda_tag> dst, E const& e, Workspace<cuda_tag>& ws, Mode mode) {
    ws.begin_forward<E>(mode, dst.shape());
    cuda::Context<T> ctx{ws, mode, dst.shape()};
    auto ev = cuda::build(e, ctx);
    cuda::assign_rows(dst, ev);
    ws.end_forward();
  }

  template <class T, class E>
  static void backward(E const& e, View<T const, cuda_tag> dout, Workspace<cuda_tag>& ws,
                       Grads<T, cuda_tag>& grads) {
    grads.bind(e, dout);
    ws.begin_backward<E>(dout.shape());
    struct Restore {  // the saved state stays usable even if this backward throws
      Workspace<cuda_tag>& ws;
      ~Restore() { ws.end_backward(); }
    } restore{ws};
    for (auto& p : grads.pairs())
      if (p.uses > 1) cuda::zero_rows(p.dx);  // several occurrences accumulate
    cuda::Context<T> ctx{ws, Mode::backward, dout.shape(), &grads};
    auto ev = cuda::build(e, ctx);
    cuda::run_sinks(ev.sinks(eval::Leaf<T>{dout.data, dout.sb, dout.sn}), ctx);
  }
};

}  // namespace ponet
