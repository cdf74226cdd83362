// Token and position embeddings on the GPU, the overloads of cpu/embedding.hpp:
//   forward   out[b, i] = E[tok[b, i]] (+ P[i]), one thread per element
//   backward  dE[v] += sum of dout[b, i] over the tokens equal to v, in token order;  dP[i] +=
//             sum over b. The token ids are copied to the host and grouped by a counting sort
//             there (as the CPU does); one thread per (distinct id, c) then adds its occurrences
//             in order, so each element of dE has one writer: no atomics, the same bits every run.
// Ids outside [0, V) and N > maxN throw, naming the position (the ids are checked on the host,
// which waits for the device). docs/nn.md#embedding
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "ponet/core/matrix.hpp"
#include "ponet/cuda/common.cuh"
#include "ponet/cuda/memory.cuh"

namespace ponet {

namespace cuda {

template <class T, class I>
__global__ void embedding_forward_kernel(View<T, cuda_tag> out, View<I const, cuda_tag> tokens,
                                         Mat<T const, cuda_tag> table,
                                         Mat<T const, cuda_tag> positions) {
  std::int64_t const n = out.shape().numel();
  for (std::int64_t idx = thread_index(); idx < n; idx += thread_stride()) {
    Coord const at = unflatten(idx, out.N, out.D);
    T const e = table(int(tokens(at.b, at.i, 0)), at.c);
    out(at.b, at.i, at.c) = positions.data ? e + positions(at.i, at.c) : e;
  }
}

// Run r: distinct token id ids[r], its occurrences order[start[r] .. start[r + 1]) as flat
// token positions b * N + i, in token order.
template <class T>
__global__ void embedding_table_grad_kernel(Mat<T, cuda_tag> dtable, View<T const, cuda_tag> dout,
                                            std::int32_t const* ids, std::int32_t const* start,
                                            std::int32_t const* order, int runs) {
  std::int64_t const n = std::int64_t(runs) * dout.D;
  for (std::int64_t idx = thread_index(); idx < n; idx += thread_stride()) {
    int const r = int(idx / dout.D), c = int(idx % dout.D);
    T acc = dtable(ids[r], c);
    for (int k = start[r]; k < start[r + 1]; ++k)
      acc += dout(order[k] / dout.N, order[k] % dout.N, c);
    dtable(ids[r], c) = acc;
  }
}

template <class T>
__global__ void embedding_position_grad_kernel(Mat<T, cuda_tag> dpositions,
                                               View<T const, cuda_tag> dout) {
  std::int64_t const n = std::int64_t(dout.N) * dout.D;
  for (std::int64_t idx = thread_index(); idx < n; idx += thread_stride()) {
    int const i = int(idx / dout.D), c = int(idx % dout.D);
    T acc = dpositions(i, c);
    for (int b = 0; b < dout.B; ++b) acc += dout(b, i, c);
    dpositions(i, c) = acc;
  }
}

// The ids on the host, checked: throws at the first id outside [0, vocab).
template <class I>
std::vector<I> host_token_ids(View<I const, cuda_tag> tokens, int vocab) {
  auto h = to_host(tokens);
  for (int b = 0; b < tokens.B; ++b)
    for (int i = 0; i < tokens.N; ++i) {
      I t = h(b, i, 0);
      if (t < 0 || t >= vocab)
        throw Error("embedding: token id " + std::to_string(t) + " at [b=" + std::to_string(b) +
                    ", i=" + std::to_string(i) + "] is outside [0, " + std::to_string(vocab) + ")");
    }
  return std::vector<I>(h.begin(), h.end());
}

}  // namespace cuda

// positions may be null (no position embedding).
template <class T, class I>
void embedding_forward(View<T, cuda_tag> out, View<I const, cuda_tag> tokens,
                       Mat<T const, cuda_tag> table, Mat<T const, cuda_tag> positions) {
  check_per_token("embedding", "token ids", tokens.shape(), out.shape());
  if (table.cols != out.D || (positions.data && positions.cols != out.D))
    throw Error("embedding: tables have width " + std::to_string(table.cols) + " but out is " +
                to_string(out.shape()));
  if (positions.data && out.N > positions.rows)
    throw Error("embedding: N=" + std::to_string(out.N) + " exceeds the " +
                std::to_string(positions.rows) + " learned positions");
  cuda::host_token_ids(tokens, table.rows);
  cuda::launch("ponet::cuda::embedding_forward_kernel", cuda::embedding_forward_kernel<T, I>,
               cuda::grid_for(out.shape().numel()), cuda::block_threads, 0, out, tokens, table,
               positions);
}

// dtable and dpositions accumulate; dpositions may be null.
template <class T, class I>
void embedding_backward(Mat<T, cuda_tag> dtable, Mat<T, cuda_tag> dpositions,
                        View<T const, cuda_tag> dout, View<I const, cuda_tag> tokens) {
  int const V = dtable.rows, BN = dout.B * dout.N;
  std::vector<I> const tok = cuda::host_token_ids(tokens, V);
  // Counting sort of token positions by id, as cpu/embedding.hpp: stable, so in token order.
  std::vector<std::int32_t> count(std::size_t(V) + 1, 0), order(BN), ids, start;
  for (int k = 0; k < BN; ++k) ++count[std::size_t(tok[k]) + 1];
  for (int v = 0; v < V; ++v) count[v + 1] += count[v];
  {
    std::vector<std::int32_t> fill(count.begin(), count.end() - 1);
    for (int k = 0; k < BN; ++k) order[fill[std::size_t(tok[k])]++] = k;
  }
  for (int v = 0; v < V; ++v)
    if (count[v + 1] > count[v]) {
      ids.push_back(v);
      start.push_back(count[v]);
    }
  int const runs = int(ids.size());
  start.push_back(BN);
  if (runs > 0) {
    struct Index;
    std::size_t const n = ids.size() + start.size() + order.size();
    auto* dev = static_cast<std::int32_t*>(cuda::reusable<Index>(n * sizeof(std::int32_t)));
    std::vector<std::int32_t> all;
    all.reserve(n);
    all.insert(all.end(), ids.begin(), ids.end());
    all.insert(all.end(), start.begin(), start.end());
    all.insert(all.end(), order.begin(), order.end());
    // A blocking copy from pageable memory on the default stream first waits for the kernels
    // queued before it (which may still read the reused buffer).
    Memory<cuda_tag>::upload(dev, all.data(), n * sizeof(std::int32_t));
    cuda::launch("ponet::cuda::embedding_table_grad_kernel", cuda::embedding_table_grad_kernel<T>,
                 cuda::grid_for(std::int64_t(runs) * dout.D), cuda::block_threads, 0, dtable, dout,
                 static_cast<std::int32_t const*>(dev),
                 static_cast<std::int32_t const*>(dev + runs),
                 static_cast<std::int32_t const*>(dev + runs + start.size()), runs);
  }
  if (dpositions.data)
    cuda::launch(
        "ponet::cuda::embedding_position_grad_kernel", cuda::embedding_position_grad_kernel<T>,
        cuda::grid_for(std::int64_t(dout.N) * dout.D), cuda::block_threads, 0, dpositions, dout);
}

}  // namespace ponet
