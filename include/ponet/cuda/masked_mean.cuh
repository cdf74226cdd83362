// CUDA masked_mean: forward reduction and backward, the twin of cpu/masked_mean.hpp.
// Spec: ref::masked_mean_forward / _backward.
//   forward   m[b,c] = sum over valid i of x[b,i,c] / n_b   (n_b valid tokens; m = 0 if n_b = 0)
//             partial sums per (b, chunk, c) in token order, then chunks in order per (b, c)
//   backward  dx[b,i,c] = valid ? dm[b,c] / n_b : 0   (MeanGrad through the input's sinks)
// Saves m [B, D] and n [B]. docs/ops.md#masked-mean
#pragma once

#include "ponet/cuda/passes.cuh"
#include "ponet/eval/masked_mean.hpp"
#include "ponet/expr/masked_mean.hpp"

namespace ponet::cuda {

// count[b] = number of valid tokens of sequence b (an exact integer count), one block per b.
template <class T>
__global__ void count_valid_kernel(eval::Mask valid, T* count, int N) {
  __shared__ int partial[block_threads];
  int const b = blockIdx.x;
  int n = 0;
  for (int i = threadIdx.x; i < N; i += blockDim.x) n += valid.on(b, i) ? 1 : 0;
  partial[threadIdx.x] = n;
  __syncthreads();
  if (threadIdx.x == 0) {
    int total = 0;
    for (int t = 0; t < int(blockDim.x); ++t) total += partial[t];
    count[b] = T(total);
  }
}

// partial[(b, chunk), c] = sum over the chunk's valid tokens i of x[b,i,c], in token order.
template <class T, class Ev>
__global__ void masked_mean_partials_kernel(Ev ev, T* partial, Chunks ch) {
  for (std::int64_t idx = thread_index(); idx < ch.threads(); idx += thread_stride()) {
    ChunkCoord const at = chunk_coord(ch, idx);
    T acc = T(0);
    for (int i = ch.begin(at.k); i < ch.end(at.k); ++i)
      if (ev.valid.on(at.b, i)) acc = acc + ev.x.template at<T>(at.b, i, at.c);
    partial[at.item * ch.D + at.c] = acc;
  }
}

// mean[b, c] = (sum of the chunks' partials in chunk order) / count[b], 0 without valid tokens.
template <class T>
__global__ void masked_mean_finish_kernel(T const* partial, T const* count, T* mean, Chunks ch) {
  std::int64_t const n = std::int64_t(ch.B) * ch.D;
  for (std::int64_t idx = thread_index(); idx < n; idx += thread_stride()) {
    int const b = int(idx / ch.D), c = int(idx % ch.D);
    T sum = T(0);
    for (int k = 0; k < ch.per_batch; ++k)
      sum += partial[(std::int64_t(b) * ch.per_batch + k) * ch.D + c];
    mean[idx] = count[b] > T(0) ? sum / count[b] : T(0);
  }
}

template <class X, class T>
void run_reduction(eval::MaskedMean<X, T> const& ev, Shape3 s, Context<T>& ctx) {
  using Ev = eval::MaskedMean<X, T>;
  static_assert(std::is_trivially_copyable_v<Ev>, "evaluators go into kernels by value");
  Chunks const ch = token_chunks(s);
  T* partial = ctx.ws.template scratch<T>(std::size_t(ch.count()) * s.D);  // [B * chunks, D]
  launch("ponet::cuda::count_valid_kernel", count_valid_kernel<T>, s.B, block_threads, 0, ev.valid,
         ev.count, s.N);
  launch("ponet::cuda::masked_mean_partials_kernel", masked_mean_partials_kernel<T, Ev>,
         grid_for(ch.threads()), block_threads, 0, ev, partial, ch);
  launch("ponet::cuda::masked_mean_finish_kernel", masked_mean_finish_kernel<T>,
         grid_for(std::int64_t(s.B) * s.D), block_threads, 0, static_cast<T const*>(partial),
         static_cast<T const*>(ev.count), ev.mean, ch);
}

template <class X, class T>
struct Backprop<eval::MaskedMean<X, T>> {
  static void run(eval::MaskedMean<X, T> const& ev, T const* dmean, Context<T>& ctx) {
    run_sinks(ev.x.sinks(ev.input_path(dmean)), ctx);
  }
};

}  // namespace ponet::cuda
