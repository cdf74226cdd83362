// Token and position embeddings: out[b, i] = E[tok[b, i]] (+ P[i]) with E [V, D], P [maxN, D].
//   backward  dE[v] += sum of dout[b, i] over the tokens equal to v, in token order (a counting
//             sort groups them, so each row of dE has one writer: no atomics);  dP[i] += sum_b
// Token ids out of [0, V) and N > maxN throw, naming the position. docs/nn.md#embedding
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "ponet/core/matrix.hpp"
#include "ponet/cpu/chunks.hpp"
#include "ponet/cpu/parallel.hpp"

namespace ponet {

template <class I>
void check_token_ids(View<I const, cpu_tag> tokens, int vocab) {
  for (int b = 0; b < tokens.B; ++b)
    for (int i = 0; i < tokens.N; ++i) {
      I t = tokens(b, i, 0);
      if (t < 0 || t >= vocab)
        throw Error("embedding: token id " + std::to_string(t) + " at [b=" + std::to_string(b) +
                    ", i=" + std::to_string(i) + "] is outside [0, " + std::to_string(vocab) + ")");
    }
}

// positions may be null (no position embedding).
template <class T, class I>
void embedding_forward(View<T, cpu_tag> out, View<I const, cpu_tag> tokens,
                       Mat<T const, cpu_tag> table, Mat<T const, cpu_tag> positions) {
  check_per_token("embedding", "token ids", tokens.shape(), out.shape());
  if (table.cols != out.D || (positions.data && positions.cols != out.D))
    throw Error("embedding: tables have width " + std::to_string(table.cols) + " but out is " +
                to_string(out.shape()));
  if (positions.data && out.N > positions.rows)
    throw Error("embedding: N=" + std::to_string(out.N) + " exceeds the " +
                std::to_string(positions.rows) + " learned positions");
  check_token_ids(tokens, table.rows);
  using V = cpu::Batch<T>;
  constexpr int W = cpu::simd_width<T>;
  cpu::for_each_block(cpu::token_blocks(out.shape()), [&](int b, int, int i0, int i1, int) {
    for (int i = i0; i < i1; ++i) {
      T const* e = table.row(int(tokens(b, i, 0)));
      T const* p = positions.data ? positions.row(i) : nullptr;
      T* o = out.row(b, i);
      int c = 0;
      for (; c + W <= out.D; c += W)
        Lane<V>::store(o + c,
                       p ? Lane<V>::load(e + c) + Lane<V>::load(p + c) : Lane<V>::load(e + c));
      for (; c < out.D; ++c) o[c] = p ? e[c] + p[c] : e[c];
    }
  });
}

// dtable and dpositions accumulate; dpositions may be null.
template <class T, class I>
void embedding_backward(Mat<T, cpu_tag> dtable, Mat<T, cpu_tag> dpositions,
                        View<T const, cpu_tag> dout, View<I const, cpu_tag> tokens) {
  int const V = dtable.rows, BN = dout.B * dout.N;
  struct Order;
  // Counting sort of token positions by id: start[v] .. start[v + 1] lists v's occurrences.
  int* start = cpu::reusable<struct Start, int>(std::size_t(V) + 1);
  int* order = cpu::reusable<Order, int>(std::size_t(BN));
  for (int v = 0; v <= V; ++v) start[v] = 0;
  for (int b = 0; b < dout.B; ++b)
    for (int i = 0; i < dout.N; ++i) ++start[int(tokens(b, i, 0)) + 1];
  for (int v = 0; v < V; ++v) start[v + 1] += start[v];
  {
    int* fill = cpu::reusable<struct Fill, int>(std::size_t(V));
    for (int v = 0; v < V; ++v) fill[v] = start[v];
    for (int b = 0; b < dout.B; ++b)
      for (int i = 0; i < dout.N; ++i) order[fill[int(tokens(b, i, 0))]++] = b * dout.N + i;
  }
  cpu::parallel_for(V, [&](int v) {
    if (start[v] == start[v + 1]) return;
    T* row = dtable.row(v);
    for (int k = start[v]; k < start[v + 1]; ++k) {
      T const* g = dout.row(order[k] / dout.N, order[k] % dout.N);
      for (int c = 0; c < dout.D; ++c) row[c] += g[c];
    }
  });
  if (dpositions.data)
    cpu::parallel_for(dout.N, [&](int i) {
      T* row = dpositions.row(i);
      for (int b = 0; b < dout.B; ++b) {
        T const* g = dout.row(b, i);
        for (int c = 0; c < dout.D; ++c) row[c] += g[c];
      }
    });
}

}  // namespace ponet
