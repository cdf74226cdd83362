// CPU global_attn: forward reduction and backward. Spec: ref::global_attn_forward / _backward.
//   forward   z_i = q_h . k_ih / sqrt(dh) over valid i;  a = softmax(z);  g_h = sum_i a_i k_ih
//             per block and head: scores, the block's max, weighted key sums in registers; the
//             blocks then merge in order (online softmax)
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
// sum over c in [c0, c1) of a(b, i, c) * k(b, i, c): packets into one FMA chain, then lanes
// pairwise, then a scalar tail; always in this order.
template <class T, class A, class K>
PONET_INLINE T dot(A const& a, K const& k, int b, int i, int c0, int c1) {
  using V = Batch<T>;
  constexpr int W = simd_width<T>;
  int c = c0;
  T sum = 0;
  if (c1 - c0 >= W) {
    V acc = Lane<V>::zero();
    for (; c + W <= c1; c += W)
      acc = xsimd::fma(a.template at<V>(b, i, c), k.template at<V>(b, i, c), acc);
    sum = hadd<T>(acc);
  }
  for (; c < c1; ++c) sum += a.template at<T>(b, i, c) * k.template at<T>(b, i, c);
  return sum;
}

// out[h] = dot over head h's channels, for every head of token (b, i).
// (xsimd 8.1's transposing sum, haddp, returns AVX-512 lanes permuted, so it is not used.)
template <class T, class A, class K>
PONET_INLINE void head_dots(A const& a, K const& k, int b, int i, int H, int dh, T* out) {
  for (int h = 0; h < H; ++h) out[h] = dot<T>(a, k, b, i, h * dh, (h + 1) * dh);
}

// z[t] = exp(z[t] - m) for t < n, returning their sum, all through xsimd's exp: the last partial
// packet is padded with -inf, whose exp adds 0. exp(-inf) = 0 for padding tokens too.
template <class T>
T exp_shifted(T* z, int n, T m) {
  using V = Batch<T>;
  constexpr int W = simd_width<T>;
  V vm(m), vsum = Lane<V>::zero();
  int t = 0;
  for (; t + W <= n; t += W) {
    V e = xsimd::exp(Lane<V>::load(z + t) - vm);
    Lane<V>::store(z + t, e);
    vsum = vsum + e;
  }
  if (t < n) {
    alignas(64) T tail[W];
    for (int k = 0; k < W; ++k)
      tail[k] = t + k < n ? z[t + k] : -std::numeric_limits<T>::infinity();
    V e = xsimd::exp(Lane<V>::load(tail) - vm);
    e.store_aligned(tail);
    for (int k = 0; t + k < n; ++k) z[t + k] = tail[k];
    vsum = vsum + e;
  }
  return hadd<T>(vsum);
}

// Reads a [B, D] row as an evaluator.
template <class T>
struct Row {
  T const* p;
  int D;
  template <class V>
  V at(int b, int, int c) const {
    return Lane<V>::load(p + (std::int64_t)b * D + c);
  }
};
}  // namespace detail

template <class Q, class K, class T>
void run_reduction(eval::GlobalAttn<Q, K, T> const& ev, Shape3 s, Context<T>& ctx) {
  int const H = ev.H, dh = s.D / H;
  T const sqrt_dh = std::sqrt(T(dh));
  Blocks const bl = token_blocks(s);
  // Per block and head: the max score m, the sum l of exp(z - m), acc = sum exp(z - m) k.
  T* pm = ctx.ws.template scratch<T>((std::size_t)bl.count() * H);
  T* pl = ctx.ws.template scratch<T>((std::size_t)bl.count() * H);
  T* pacc = ctx.ws.template scratch<T>((std::size_t)bl.count() * s.D);

  T* zrows = ctx.ws.template scratch<T>((std::size_t)max_threads() * (bl.tokens + 1) * H);
  int const ahead = prefetch_distance<T>(s.D);

  for_each_block(bl, [&](int b, int blk, int i0, int i1, int tid) {
    std::int64_t const item = (std::int64_t)b * bl.per_batch + blk;
    int const nt = i1 - i0;
    T* z = zrows + (std::int64_t)tid * (bl.tokens + 1) * H;  // [H][nt] scores, then weights
    T* dots = z + (std::int64_t)bl.tokens * H;               // [H] one token's dot products
    // Scores a whole row at a time (sequential reads), -inf at padding.
    for (int i = i0; i < i1; ++i) {
      prefetch_token(ev.k, b, i + ahead, s.N, s.D);
      if (!ev.valid.on(b, i)) {
        for (int h = 0; h < H; ++h) z[h * nt + i - i0] = -std::numeric_limits<T>::infinity();
        continue;
      }
      detail::head_dots<T>(ev.q, ev.k, b, i, H, dh, dots);
      for (int h = 0; h < H; ++h) z[h * nt + i - i0] = dots[h] / sqrt_dh;
    }
    T* acc_row = pacc + item * s.D;
    for (int h = 0; h < H; ++h) {
      // This phase reads the block from cache: meanwhile ask memory for the next block's rows
      // (a share per head), so the stream does not stall until the next block's first dots.
      for (int i = i1 + ahead + h * nt / H; i < i1 + ahead + (h + 1) * nt / H; ++i)
        prefetch_token(ev.k, b, i, s.N, s.D);
      T* zh = z + h * nt;
      T m = -std::numeric_limits<T>::infinity();
      for (int t = 0; t < nt; ++t) m = zh[t] > m ? zh[t] : m;
      T l = 0;
      if (m != -std::numeric_limits<T>::infinity()) l = detail::exp_shifted(zh, nt, m);
      pm[item * H + h] = m;
      pl[item * H + h] = l;
      for_each_chunk<T>(h * dh, (h + 1) * dh, [&](auto tag, auto kc, int c) {
        using L = lane_of_t<decltype(tag)>;
        constexpr int KK = decltype(kc)::value, lw = Lane<L>::width;
        L acc[KK];
        for (int k = 0; k < KK; ++k) acc[k] = Lane<L>::zero();
        if (l > T(0))
          for (int i = i0; i < i1; ++i) {
            if (!ev.valid.on(b, i)) continue;
            L wi = Lane<L>::broadcast(zh[i - i0]);
            for (int k = 0; k < KK; ++k)
              acc[k] = acc[k] + wi * ev.k.template at<L>(b, i, c + k * lw);
          }
        for (int k = 0; k < KK; ++k) Lane<L>::store(acc_row + c + k * lw, acc[k]);
      });
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

template <class Q, class K, class T>
struct Backprop<eval::GlobalAttn<Q, K, T>> {
  static void run(eval::GlobalAttn<Q, K, T> const& ev, T const* dg, Context<T>& ctx) {
    Shape3 const s = ctx.shape;
    int const H = ev.H, dh = s.D / H;
    T const sqrt_dh = std::sqrt(T(dh));
    Blocks const bl = token_blocks(s);
    std::size_t const per_token = (std::size_t)s.B * s.N * H;
    T* coef_a = ctx.ws.template scratch<T>(per_token);          // softmax weight a_i per head
    T* coef_dz = ctx.ws.template scratch<T>(per_token);         // dz_i / sqrt(dh) per head
    T* dgg = ctx.ws.template scratch<T>((std::size_t)s.B * H);  // dg_h . g_h
    T* pdq = ctx.ws.template scratch<T>((std::size_t)bl.count() * s.D);
    T* dq = ctx.ws.template scratch<T>((std::size_t)s.B * s.D);
    detail::Row<T> const dg_row{dg, s.D}, g_row{ev.g, s.D}, q_row{ev.q.mean, s.D};

    parallel_for(s.B * H, [&](int bh) {
      int const b = bh / H, h = bh % H;
      dgg[bh] = detail::dot<T>(dg_row, g_row, b, 0, h * dh, (h + 1) * dh);
    });

    T* zrows = ctx.ws.template scratch<T>((std::size_t)max_threads() * (bl.tokens * 2 + 1) * H);
    int const ahead = prefetch_distance<T>(s.D);
    auto sinks = ev.k.sinks(eval::KeyGrad<T>{coef_a, coef_dz, dg, ev.q.mean, s.N, H, s.D, dh});
    for_each_block(bl, [&](int b, int blk, int i0, int i1, int tid) {
      // Per token and head: the softmax weight a and the score's adjoint dz. Dot products a row at
      // a time, then the exponentials vectorised over the block's tokens.
      int const nt = i1 - i0;
      T* z = zrows + (std::int64_t)tid * (bl.tokens * 2 + 1) * H;  // [H][nt] scores
      T* t = z + (std::int64_t)bl.tokens * H;                      // [H][nt] dg . k
      T* dots = t + (std::int64_t)bl.tokens * H;                   // [H] one token's dots
      for (int i = i0; i < i1; ++i) {
        prefetch_token(ev.k, b, i + ahead, s.N, s.D);
        if (!ev.valid.on(b, i)) {
          for (int h = 0; h < H; ++h) {
            z[h * nt + i - i0] = -std::numeric_limits<T>::infinity();
            t[h * nt + i - i0] = 0;
          }
          continue;
        }
        detail::head_dots<T>(q_row, ev.k, b, i, H, dh, dots);
        for (int h = 0; h < H; ++h) z[h * nt + i - i0] = dots[h] / sqrt_dh;
        detail::head_dots<T>(dg_row, ev.k, b, i, H, dh, dots);
        for (int h = 0; h < H; ++h) t[h * nt + i - i0] = dots[h];
      }
      for (int h = 0; h < H; ++h) {
        std::int64_t const bh = (std::int64_t)b * H + h;
        T* zh = z + h * nt;
        T* th = t + h * nt;
        T const sum = ev.ssum[bh];
        if (sum > T(0)) detail::exp_shifted(zh, nt, ev.smax[bh]);
        for (int k = 0; k < nt; ++k) {
          T a = sum > T(0) ? zh[k] / sum : T(0);
          std::int64_t const at = ((std::int64_t)b * s.N + i0 + k) * H + h;
          coef_a[at] = a;
          coef_dz[at] = a * (th[k] - dgg[bh]) / sqrt_dh;
        }
      }
      // dq's block partial, in registers per channel chunk of each head.
      T* dq_part = pdq + ((std::int64_t)b * bl.per_batch + blk) * s.D;
      for (int h = 0; h < H; ++h) {
        // From cache: meanwhile ask memory for a share of the next block's rows (see reduce()).
        for (int i = i1 + ahead + h * nt / H; i < i1 + ahead + (h + 1) * nt / H; ++i)
          prefetch_token(ev.k, b, i, s.N, s.D);
        for_each_chunk<T>(h * dh, (h + 1) * dh, [&](auto tag, auto kc, int c) {
          using L = lane_of_t<decltype(tag)>;
          constexpr int KK = decltype(kc)::value, lw = Lane<L>::width;
          L acc[KK];
          for (int k = 0; k < KK; ++k) acc[k] = Lane<L>::zero();
          for (int i = i0; i < i1; ++i) {
            L dz = Lane<L>::broadcast(coef_dz[((std::int64_t)b * s.N + i) * H + h]);
            for (int k = 0; k < KK; ++k)
              acc[k] = acc[k] + dz * ev.k.template at<L>(b, i, c + k * lw);
          }
          for (int k = 0; k < KK; ++k) Lane<L>::store(dq_part + c + k * lw, acc[k]);
        });
      }
      // The key's gradient through its (elementwise) subtree.
      for_each_chunk<T>(0, s.D, [&](auto tag, auto kc, int c0) {
        using L = lane_of_t<decltype(tag)>;
        for (int i = i0; i < i1; ++i) consume_leaves<L, decltype(kc)::value>(sinks, b, i, c0);
      });
      stream_fence();
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
