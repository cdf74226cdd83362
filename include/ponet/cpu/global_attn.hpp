// CPU global_attn: forward reduction and backward. Spec: ref::global_attn_forward / _backward.
//   forward   z_i = q_h . k_ih / sqrt(dh) over valid i;  a = softmax(z);  g_h = sum_i a_i k_ih
//             one pass over K per block with an online softmax, blocks merged in order
//   backward  a_i from the saved softmax max and sum;  dz_i = a_i (dg_h . k_ih - dg_h . g_h)
//             dk_i = a_i dg + dz_i q / sqrt(dh);  dq = sum_i dz_i k_i / sqrt(dh) -> masked_mean
// Saves g [B, D] and each head's softmax max and sum [B, H]. docs/ops.md#global-attention
#pragma once

#include <cmath>
#include <limits>

#include "ponet/cpu/masked_mean.hpp"
#include "ponet/eval/global_attn.hpp"
#include "ponet/expr/global_attn.hpp"

namespace ponet::cpu {

namespace detail {
// sum over c in [c0, c1) of a(c) * b(c); packets then a scalar tail, always in this order.
template <class T, class A, class B>
T dot(A const& a, B const& b, int c0, int c1) {
  using V = Batch<T>;
  constexpr int W = simd_width<T>;
  int c = c0;
  T sum = 0;
  if (c1 - c0 >= W) {
    V acc = Lane<V>::zero();
    for (; c + W <= c1; c += W) acc = xsimd::fma(a.template get<V>(c), b.template get<V>(c), acc);
    sum = hadd<T>(acc);
  }
  for (; c < c1; ++c) sum += a.template get<T>(c) * b.template get<T>(c);
  return sum;
}

// Adapters so dot() reads an evaluator at one token or a plain row alike.
template <class Ev>
struct AtToken {
  Ev const& ev;
  int b, i;
  template <class V>
  V get(int c) const {
    return ev.template at<V>(b, i, c);
  }
};
template <class T>
struct AtRow {
  T const* row;
  template <class V>
  V get(int c) const {
    return Lane<V>::load(row + c);
  }
};
}  // namespace detail

template <class Q, class K>
struct Build<expr::GlobalAttn<Q, K>> {
  template <class T>
  static auto run(expr::GlobalAttn<Q, K> const& n, Context<T>& ctx) {
    auto q = build(n.q, ctx);
    auto k = build(n.k, ctx);
    Shape3 const s = n.shape();
    eval::GlobalAttn<decltype(q), decltype(k), T> ev{
        q,
        k,
        mask_eval(n.valid),
        ctx.ws.template saved<T>((std::size_t)s.B * s.D),
        ctx.ws.template saved<T>((std::size_t)s.B * n.H),
        ctx.ws.template saved<T>((std::size_t)s.B * n.H),
        n.H,
        s.D};
    if (ctx.mode != Mode::backward) reduce(ev, s, ctx);
    return ev;
  }

  template <class Ev, class T>
  static void reduce(Ev const& ev, Shape3 s, Context<T>& ctx) {
    using V = Batch<T>;
    constexpr int W = simd_width<T>;
    int const H = ev.H, dh = s.D / H;
    T const sqrt_dh = std::sqrt(T(dh));
    Blocks const bl = token_blocks(s);
    // Per block: each head's running max m, sum l and weighted key sum acc (relative to m).
    T* pm = ctx.ws.template scratch<T>((std::size_t)bl.count() * H);
    T* pl = ctx.ws.template scratch<T>((std::size_t)bl.count() * H);
    T* pacc = ctx.ws.template scratch<T>((std::size_t)bl.count() * s.D);

    for_each_block(bl, [&](int b, int blk, int i0, int i1, int) {
      std::int64_t item = (std::int64_t)b * bl.per_batch + blk;
      T* m = pm + item * H;
      T* l = pl + item * H;
      T* acc = pacc + item * s.D;
      for (int h = 0; h < H; ++h) {
        m[h] = -std::numeric_limits<T>::infinity();
        l[h] = 0;
      }
      for (int c = 0; c < s.D; ++c) acc[c] = 0;
      for (int i = i0; i < i1; ++i) {
        if (!ev.valid.on(b, i)) continue;
        for (int h = 0; h < H; ++h) {
          int const c0 = h * dh, c1 = c0 + dh;
          T z = detail::dot<T>(detail::AtToken<decltype(ev.q)>{ev.q, b, i},
                               detail::AtToken<decltype(ev.k)>{ev.k, b, i}, c0, c1) /
                sqrt_dh;
          if (z > m[h]) {  // new running max: rescale what was summed so far
            T r = std::exp(m[h] - z);
            l[h] *= r;
            for (int c = c0; c < c1; ++c) acc[c] *= r;
            m[h] = z;
          }
          T w = std::exp(z - m[h]);
          l[h] += w;
          int c = c0;
          for (; c + W <= c1; c += W)
            Lane<V>::store(acc + c, xsimd::fma(Lane<V>::broadcast(w), ev.k.template at<V>(b, i, c),
                                               Lane<V>::load(acc + c)));
          for (; c < c1; ++c) acc[c] += w * ev.k.template at<T>(b, i, c);
        }
      }
    });

    parallel_for(s.B * H, [&](int bh) {
      int const b = bh / H, h = bh % H, c0 = h * dh, c1 = c0 + dh;
      T M = -std::numeric_limits<T>::infinity(), L = 0;
      T* g = ev.g + (std::int64_t)b * s.D;
      for (int c = c0; c < c1; ++c) g[c] = 0;
      for (int blk = 0; blk < bl.per_batch; ++blk) {
        std::int64_t item = (std::int64_t)b * bl.per_batch + blk;
        T bm = pm[item * H + h], bsum = pl[item * H + h];
        if (bsum == T(0)) continue;  // no valid token in this block
        T nm = bm > M ? bm : M;
        T ra = std::exp(M - nm), rb = std::exp(bm - nm);
        L = L * ra + bsum * rb;
        T const* acc = pacc + item * s.D;
        for (int c = c0; c < c1; ++c) g[c] = g[c] * ra + acc[c] * rb;
        M = nm;
      }
      for (int c = c0; c < c1; ++c) g[c] = L > T(0) ? g[c] / L : T(0);
      ev.smax[(std::int64_t)b * H + h] = M;
      ev.ssum[(std::int64_t)b * H + h] = L;
    });
  }
};

template <class Q, class K, class T>
struct Backprop<eval::GlobalAttn<Q, K, T>> {
  static void run(eval::GlobalAttn<Q, K, T> const& ev, T const* dg, Context<T>& ctx) {
    using V = Batch<T>;
    constexpr int W = simd_width<T>;
    Shape3 const s = ctx.shape;
    int const H = ev.H, dh = s.D / H;
    T const sqrt_dh = std::sqrt(T(dh));
    Blocks const bl = token_blocks(s);
    T* dgg = ctx.ws.template scratch<T>((std::size_t)s.B * H);  // dg_h . g_h
    T* pdq = ctx.ws.template scratch<T>((std::size_t)bl.count() * s.D);
    T* adj_rows = ctx.ws.template scratch<T>((std::size_t)max_threads() * s.D);
    T* dq = ctx.ws.template scratch<T>((std::size_t)s.B * s.D);

    parallel_for(s.B * H, [&](int bh) {
      int const b = bh / H, h = bh % H;
      dgg[bh] = detail::dot<T>(detail::AtRow<T>{dg + (std::int64_t)b * s.D},
                               detail::AtRow<T>{ev.g + (std::int64_t)b * s.D}, h * dh,
                               (h + 1) * dh);
    });

    for_each_block(bl, [&](int b, int blk, int i0, int i1, int tid) {
      T* adj = adj_rows + (std::int64_t)tid * s.D;  // the key's adjoint at the current token
      T* dq_part = pdq + ((std::int64_t)b * bl.per_batch + blk) * s.D;
      T const* dgb = dg + (std::int64_t)b * s.D;
      T const* qb = ev.q.mean + (std::int64_t)b * s.D;
      for (int c = 0; c < s.D; ++c) dq_part[c] = 0;
      auto sinks = ev.k.sinks(eval::RowPath<T>{adj});
      std::array<T*, std::tuple_size_v<decltype(sinks)>> no_rows{};
      for (int i = i0; i < i1; ++i) {
        if (!ev.valid.on(b, i)) {
          for (int c = 0; c < s.D; ++c) adj[c] = 0;
        } else {
          detail::AtToken<decltype(ev.k)> k{ev.k, b, i};
          for (int h = 0; h < H; ++h) {
            int const c0 = h * dh, c1 = c0 + dh;
            std::int64_t bh = (std::int64_t)b * H + h;
            T z = detail::dot<T>(detail::AtRow<T>{qb}, k, c0, c1) / sqrt_dh;
            T a = std::exp(z - ev.smax[bh]) / ev.ssum[bh];
            T t = detail::dot<T>(detail::AtRow<T>{dgb}, k, c0, c1);
            T dz = a * (t - dgg[bh]) / sqrt_dh;
            int c = c0;
            V va = Lane<V>::broadcast(a), vdz = Lane<V>::broadcast(dz);
            for (; c + W <= c1; c += W) {
              Lane<V>::store(adj + c, va * Lane<V>::load(dgb + c) + vdz * Lane<V>::load(qb + c));
              Lane<V>::store(dq_part + c,
                             Lane<V>::load(dq_part + c) + vdz * ev.k.template at<V>(b, i, c));
            }
            for (; c < c1; ++c) {
              adj[c] = a * dgb[c] + dz * qb[c];
              dq_part[c] += dz * ev.k.template at<T>(b, i, c);
            }
          }
        }
        consume_token<T>(sinks, no_rows, b, i, s.D);
      }
    });

    parallel_for(s.B, [&](int b) {
      T* out = dq + (std::int64_t)b * s.D;
      for (int c = 0; c < s.D; ++c) out[c] = 0;
      for (int blk = 0; blk < bl.per_batch; ++blk) {
        T const* part = pdq + ((std::int64_t)b * bl.per_batch + blk) * s.D;
        for (int c = 0; c < s.D; ++c) out[c] += part[c];
      }
    });
    Backprop<Q>::run(ev.q, dq, ctx);
  }
};

}  // namespace ponet::cpu
