// CPU masked_mean: forward reduction and backward. Spec: ref::masked_mean_forward / _backward.
//   forward   m[b,c] = sum over valid i of x[b,i,c] / n_b   (n_b valid tokens; m = 0 if n_b = 0)
//   backward  dx[b,i,c] = valid ? dm[b,c] / n_b : 0
// Saves m [B, D] and n [B]. docs/ops.md#masked-mean
#pragma once

#include "ponet/cpu/passes.hpp"
#include "ponet/eval/masked_mean.hpp"
#include "ponet/expr/masked_mean.hpp"

namespace ponet::cpu {

// Block partial sums in token order, then blocks in order: thread-count independent.
template <class X, class T>
void run_reduction(eval::MaskedMean<X, T> const& ev, Shape3 s, Context<T>& ctx) {
  Blocks const bl = token_blocks(s);
  int const ahead = prefetch_distance<T>(s.D);
  T* partial = ctx.ws.template scratch<T>((std::size_t)bl.count() * s.D);  // [B * blocks, D]
  for_each_block(bl, [&](int b, int blk, int i0, int i1, int) {
    T* row = partial + ((std::int64_t)b * bl.per_batch + blk) * s.D;
    for_each_chunk<T>(0, s.D, [&](auto tag, auto kc, int c0) {
      using L = lane_of_t<decltype(tag)>;
      constexpr int K = decltype(kc)::value, w = Lane<L>::width;
      L acc[K];
      for (int k = 0; k < K; ++k) acc[k] = Lane<L>::zero();
      for (int i = i0; i < i1; ++i) {
        if (c0 == 0) prefetch_token(ev.x, b, i + ahead, s.N, s.D);  // the first chunk walks rows
        if (ev.valid.on(b, i))
          for (int k = 0; k < K; ++k) acc[k] = acc[k] + ev.x.template at<L>(b, i, c0 + k * w);
      }
      for (int k = 0; k < K; ++k) Lane<L>::store(row + c0 + k * w, acc[k]);
    });
  });
  parallel_for(s.B, [&](int b) {
    int n = 0;
    for (int i = 0; i < s.N; ++i) n += ev.valid.on(b, i);
    ev.count[b] = T(n);
    T* mean = ev.mean + (std::int64_t)b * s.D;
    for (int c = 0; c < s.D; ++c) mean[c] = T(0);
    for (int blk = 0; blk < bl.per_batch; ++blk) {
      T const* row = partial + ((std::int64_t)b * bl.per_batch + blk) * s.D;
      for (int c = 0; c < s.D; ++c) mean[c] += row[c];
    }
    for (int c = 0; c < s.D; ++c) mean[c] = n > 0 ? mean[c] / T(n) : T(0);
  });
}

template <class X, class T>
struct Backprop<eval::MaskedMean<X, T>> {
  static void run(eval::MaskedMean<X, T> const& ev, T const* dmean, Context<T>& ctx) {
    run_sinks(ev.x.sinks(ev.input_path(dmean)), ctx);
  }
};

}  // namespace ponet::cpu
