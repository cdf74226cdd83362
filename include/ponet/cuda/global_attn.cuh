// CUDA global_attn: forward reduction and backward, the twin of cpu/global_attn.hpp.
// Spec: ref::global_attn_forward / _backward.
//   forward   one warp per (b, chunk, h): lane t holds token t's score z = q_h . k_th / sqrt(dh)
//             (dot products by butterfly), the chunk's max m, l = sum exp(z - m) and the weighted
//             key sums acc = sum exp(z - m) k; a thread per (b, c) then merges the chunks in
//             chunk order (online softmax) into g and each head's softmax max and sum
//   backward  a_i from the saved max and sum;  dz_i = a_i (dg_h . k_ih - dg_h . g_h) / sqrt(dh)
//             dk_i = a_i dg + dz_i q (KeyGrad through the key's sinks);
//             dq = sum_i dz_i k_i per (b, chunk, c), chunks in order -> masked_mean's backward
// Saves g [B, D] and each head's softmax max and sum [B, H]. docs/ops.md#global-attention
#pragma once

#include <cmath>

#include "ponet/cuda/masked_mean.cuh"
#include "ponet/eval/global_attn.hpp"
#include "ponet/expr/global_attn.hpp"

namespace ponet::cuda {

namespace detail {

// sum over head h's channels of a(b, i, c) * k(b, i, c), by the whole warp: lane l takes channels
// h*dh + l, + 32, ... in order, then a butterfly; every lane returns the same bits.
template <class T, class A, class K>
__device__ __forceinline__ T head_dot(A const& a, K const& k, int b, int i, int h, int dh,
                                      int lane) {
  T s = T(0);
  for (int c = lane; c < dh; c += warp)
    s += a.template at<T>(b, i, h * dh + c) * k.template at<T>(b, i, h * dh + c);
  return warp_sum(s);
}

template <class T>
__device__ __forceinline__ T neg_inf() {
  return -INFINITY;
}

// Reads a [B, D] row as an evaluator.
template <class T>
struct Row {
  T const* p;
  int D;
  template <class V>
  PONET_HD V at(int b, int, int c) const {
    return p[(std::int64_t)b * D + c];
  }
};

}  // namespace detail

// Per (b, chunk, h): pm, pl [B * chunks, H]; pacc [B * chunks, D].
template <class T, class Ev>
__global__ void global_attn_partials_kernel(Ev ev, T* pm, T* pl, T* pacc, Chunks ch, int H,
                                            T sqrt_dh) {
  int const dh = ch.D / H, lane = threadIdx.x % warp;
  std::int64_t const warps = ch.count() * H;
  for (std::int64_t w = thread_index() / warp; w < warps; w += thread_stride() / warp) {
    int const h = int(w % H);
    std::int64_t const item = w / H;
    int const b = int(item / ch.per_batch), k = int(item % ch.per_batch);
    int const i0 = ch.begin(k), nt = ch.end(k) - i0;
    T z = detail::neg_inf<T>();  // lane t: token i0 + t's score, -inf at padding
    for (int t = 0; t < nt; ++t) {
      if (!ev.valid.on(b, i0 + t)) continue;  // the same branch for the whole warp
      T dot = detail::head_dot<T>(ev.q, ev.k, b, i0 + t, h, dh, lane);
      if (lane == t) z = dot / sqrt_dh;
    }
    T const m = warp_max(z);
    T e = T(0);
    if (m != detail::neg_inf<T>() && z != detail::neg_inf<T>()) e = exp(z - m);
    T const l = warp_sum(e);
    if (lane == 0) {
      pm[item * H + h] = m;
      pl[item * H + h] = l;
    }
    // Channel groups of 32: every lane runs every iteration, since all 32 must join a shuffle.
    for (int c0 = 0; c0 < dh; c0 += warp) {
      int const c = h * dh + c0 + lane;
      bool const mine = c0 + lane < dh;
      T acc = T(0);
      for (int t = 0; t < nt; ++t) {
        T const wt = __shfl_sync(0xffffffffu, e, t);
        if (mine && l > T(0) && ev.valid.on(b, i0 + t))
          acc = acc + wt * ev.k.template at<T>(b, i0 + t, c);
      }
      if (mine) pacc[item * ch.D + c] = acc;
    }
  }
}

// g[b, c], smax[b, h], ssum[b, h] from the chunks' partials, merged in chunk order.
template <class T>
__global__ void global_attn_finish_kernel(T const* pm, T const* pl, T const* pacc, T* g, T* smax,
                                          T* ssum, Chunks ch, int H) {
  int const dh = ch.D / H;
  std::int64_t const n = std::int64_t(ch.B) * ch.D;
  for (std::int64_t idx = thread_index(); idx < n; idx += thread_stride()) {
    int const b = int(idx / ch.D), c = int(idx % ch.D), h = c / dh;
    T M = detail::neg_inf<T>(), L = T(0), acc = T(0);
    for (int k = 0; k < ch.per_batch; ++k) {
      std::int64_t const item = std::int64_t(b) * ch.per_batch + k;
      T const bm = pm[item * H + h], bsum = pl[item * H + h];
      if (bsum == T(0)) continue;  // no valid token in this chunk
      T const nm = bm > M ? bm : M;
      T const ra = exp(M - nm), rb = exp(bm - nm);
      L = L * ra + bsum * rb;
      acc = acc * ra + pacc[item * ch.D + c] * rb;
      M = nm;
    }
    g[idx] = L > T(0) ? acc / L : T(0);
    if (c % dh == 0) {
      smax[std::int64_t(b) * H + h] = M;
      ssum[std::int64_t(b) * H + h] = L;
    }
  }
}

// dgg[b, h] = dg_h . g_h, one thread per (b, h), channels in order.
template <class T>
__global__ void global_attn_dgg_kernel(T const* dg, T const* g, T* dgg, int B, int H, int D) {
  int const dh = D / H;
  for (std::int64_t idx = thread_index(); idx < std::int64_t(B) * H; idx += thread_stride()) {
    int const b = int(idx / H), h = int(idx % H);
    T s = T(0);
    for (int c = h * dh; c < (h + 1) * dh; ++c)
      s += dg[std::int64_t(b) * D + c] * g[std::int64_t(b) * D + c];
    dgg[idx] = s;
  }
}

// Per token and head: coef_a = softmax weight a_i, coef_dz = a_i (dg_h . k_ih - dgg) / sqrt(dh).
// One warp per (b, chunk, h) as in the forward.
template <class T, class Ev>
__global__ void global_attn_coef_kernel(Ev ev, T const* dg, T const* dgg, T* coef_a, T* coef_dz,
                                        Chunks ch, int H, T sqrt_dh) {
  int const dh = ch.D / H, lane = threadIdx.x % warp;
  detail::Row<T> const dg_row{dg, ch.D};
  std::int64_t const warps = ch.count() * H;
  for (std::int64_t w = thread_index() / warp; w < warps; w += thread_stride() / warp) {
    int const h = int(w % H);
    std::int64_t const item = w / H;
    int const b = int(item / ch.per_batch), k = int(item % ch.per_batch);
    int const i0 = ch.begin(k), nt = ch.end(k) - i0;
    std::int64_t const bh = std::int64_t(b) * H + h;
    T z = detail::neg_inf<T>(), t_dot = T(0);
    for (int t = 0; t < nt; ++t) {
      if (!ev.valid.on(b, i0 + t)) continue;
      T const zq = detail::head_dot<T>(ev.q, ev.k, b, i0 + t, h, dh, lane);
      T const td = detail::head_dot<T>(dg_row, ev.k, b, i0 + t, h, dh, lane);
      if (lane == t) {
        z = zq / sqrt_dh;
        t_dot = td;
      }
    }
    if (lane < nt) {
      T const sum = ev.ssum[bh];
      T a = T(0);
      if (sum > T(0) && z != detail::neg_inf<T>()) a = exp(z - ev.smax[bh]) / sum;
      std::int64_t const at = (std::int64_t(b) * ch.N + i0 + lane) * H + h;
      coef_a[at] = a;
      coef_dz[at] = a * (t_dot - dgg[bh]) / sqrt_dh;
    }
  }
}

// dq partials: pdq[(b, chunk), c] = sum over the chunk's tokens of coef_dz[b,i,h] k[b,i,c].
template <class T, class K>
__global__ void global_attn_dq_partials_kernel(K k, T const* coef_dz, T* pdq, Chunks ch, int H) {
  int const dh = ch.D / H;
  for (std::int64_t idx = thread_index(); idx < ch.threads(); idx += thread_stride()) {
    ChunkCoord const at = chunk_coord(ch, idx);
    int const h = at.c / dh;
    T acc = T(0);
    for (int i = ch.begin(at.k); i < ch.end(at.k); ++i)
      acc =
          acc + coef_dz[(std::int64_t(at.b) * ch.N + i) * H + h] * k.template at<T>(at.b, i, at.c);
    pdq[at.item * ch.D + at.c] = acc;
  }
}

// out[b, c] = sum of the chunks' partials in chunk order.
template <class T>
__global__ void sum_chunks_kernel(T const* partial, T* out, Chunks ch) {
  std::int64_t const n = std::int64_t(ch.B) * ch.D;
  for (std::int64_t idx = thread_index(); idx < n; idx += thread_stride()) {
    int const b = int(idx / ch.D), c = int(idx % ch.D);
    T s = T(0);
    for (int k = 0; k < ch.per_batch; ++k)
      s += partial[(std::int64_t(b) * ch.per_batch + k) * ch.D + c];
    out[idx] = s;
  }
}

template <class Q, class K, class T>
void run_reduction(eval::GlobalAttn<Q, K, T> const& ev, Shape3 s, Context<T>& ctx) {
  using Ev = eval::GlobalAttn<Q, K, T>;
  static_assert(std::is_trivially_copyable_v<Ev>, "evaluators go into kernels by value");
  int const H = ev.H, dh = s.D / H;
  T const sqrt_dh = std::sqrt(T(dh));
  Chunks const ch = token_chunks(s);
  T* pm = ctx.ws.template scratch<T>(std::size_t(ch.count()) * H);
  T* pl = ctx.ws.template scratch<T>(std::size_t(ch.count()) * H);
  T* pacc = ctx.ws.template scratch<T>(std::size_t(ch.count()) * s.D);
  launch("ponet::cuda::global_attn_partials_kernel", global_attn_partials_kernel<T, Ev>,
         grid_for(ch.count() * H * warp), block_threads, 0, ev, pm, pl, pacc, ch, H, sqrt_dh);
  launch("ponet::cuda::global_attn_finish_kernel", global_attn_finish_kernel<T>,
         grid_for(std::int64_t(s.B) * s.D), block_threads, 0, static_cast<T const*>(pm),
         static_cast<T const*>(pl), static_cast<T const*>(pacc), ev.g, ev.smax, ev.ssum, ch, H);
}

template <class Q, class K, class T>
struct Backprop<eval::GlobalAttn<Q, K, T>> {
  static void run(eval::GlobalAttn<Q, K, T> const& ev, T const* dg, Context<T>& ctx) {
    using Ev = eval::GlobalAttn<Q, K, T>;
    Shape3 const s = ctx.shape;
    int const H = ev.H, dh = s.D / H;
    T const sqrt_dh = std::sqrt(T(dh));
    Chunks const ch = token_chunks(s);
    std::size_t const per_token = (std::size_t)s.B * s.N * H;
    T* coef_a = ctx.ws.template scratch<T>(per_token);
    T* coef_dz = ctx.ws.template scratch<T>(per_token);
    T* dgg = ctx.ws.template scratch<T>((std::size_t)s.B * H);
    T* pdq = ctx.ws.template scratch<T>(std::size_t(ch.count()) * s.D);
    T* dq = ctx.ws.template scratch<T>((std::size_t)s.B * s.D);
    launch("ponet::cuda::global_attn_dgg_kernel", global_attn_dgg_kernel<T>,
           grid_for(std::int64_t(s.B) * H), block_threads, 0, dg, static_cast<T const*>(ev.g), dgg,
           s.B, H, s.D);
    launch("ponet::cuda::global_attn_coef_kernel", global_attn_coef_kernel<T, Ev>,
           grid_for(ch.count() * H * warp), block_threads, 0, ev, dg, static_cast<T const*>(dgg),
           coef_a, coef_dz, ch, H, sqrt_dh);
    launch("ponet::cuda::global_attn_dq_partials_kernel",
           global_attn_dq_partials_kernel<T, std::decay_t<decltype(ev.k)>>, grid_for(ch.threads()),
           block_threads, 0, ev.k, static_cast<T const*>(coef_dz), pdq, ch, H);
    launch("ponet::cuda::sum_chunks_kernel", sum_chunks_kernel<T>,
           grid_for(std::int64_t(s.B) * s.D), block_threads, 0, static_cast<T const*>(pdq), dq, ch);
    // The key's gradient through its (elementwise) subtree, then the query's masked mean.
    run_sinks(ev.k.sinks(eval::KeyGrad<T>{coef_a, coef_dz, dg, ev.q.mean, s.N, H, s.D, dh}), ctx);
    Backprop<Q>::run(ev.q, dq, ctx);
  }
};

}  // namespace ponet::cuda
