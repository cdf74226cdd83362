// CPU multi-head softmax attention (FlashAttention-2). Spec: ref::attention_forward / _backward.
//   out_i = softmax_j(q_i . k_j / sqrt(dh)) v_j over valid keys j, 0 at padded queries, by key
//   blocks with an online softmax (O(N) memory per head); backward from the saved lse, with
//   dS = P (dP - D_i), D_i = dout_i . out_i. q, k, v, out, gradients [B, N, D] (any strides);
//   valid [B, N, 1]. Saves lse [B, H, N] in the workspace (one per call site).
//   docs/ops.md#attention
#pragma once

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <string>
#include <type_traits>
#include <utility>
#include <vector>

#include "ponet/core/tensor.hpp"
#include "ponet/core/workspace.hpp"
#include "ponet/cpu/parallel.hpp"
#include "ponet/cpu/simd.hpp"

namespace ponet {
namespace cpu::detail::attention {

// Blocking. Every size depends on T and the target only, never on the thread count or the
// data: each output element sums the same terms in the same order on any number of threads.
// Forward work items are (b, h, Gq query positions): for each key block, every register tile of
// the item's queries gets scores, online softmax and o = alpha o + P V. Backward work items are
// (b, h, key group): per key block, query blocks of Bq rows give P, dS and dq += dS K, then
// dv += P^T dout and dk += dS^T q. Padded tokens are dropped when operands are packed.
template <class T>
struct Blocking {
  static constexpr int W = simd_width<T>;
#if defined(__AVX512F__)
  static constexpr int R = 12;  // rows of a register tile: 24 of the 32 registers accumulate
#else
  static constexpr int R = 6;  // 16 registers: 12 accumulate
#endif
  static constexpr int C = 2;        // vectors per register-tile row
  static constexpr int Bc = 96;      // keys per block: the forward's online-softmax step
  static constexpr int Gq = 16 * R;  // query positions per forward work item
  static constexpr int Bq = 4 * R;   // query rows per backward block (P and dS stay in L1)
  static_assert(Bc % R == 0 && Bc % (C * W) == 0, "key blocks hold whole register tiles");
};

inline std::int64_t round_up(std::int64_t n, std::int64_t m) { return (n + m - 1) / m * m; }

// A score that loses every softmax: exp2 of it minus any real score is exactly 0. (Finite, so
// the AVX-512 exp2 below never sees inf - inf.)
template <class T>
inline constexpr T lost = T(-1e30);

// 2^x. AVX-512 float: x = n + f with |f| <= 1/2, 2^f by a degree-6 minimax polynomial (relative
// error 2e-9, below float rounding), then vscalefps multiplies by 2^n and flushes 2^lost to 0.
// Elsewhere xsimd's exp2.
template <class T>
PONET_INLINE Batch<T> exp2(Batch<T> x) {
#if defined(__AVX512F__)
  if constexpr (std::is_same_v<T, float> && simd_width<T> == 16) {
    __m512 n = _mm512_roundscale_ps(x, _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
    __m512 f = _mm512_sub_ps(x, n);
    __m512 p = _mm512_set1_ps(1.5345812006837918e-4f);
    p = _mm512_fmadd_ps(p, f, _mm512_set1_ps(1.3399931219075091e-3f));
    p = _mm512_fmadd_ps(p, f, _mm512_set1_ps(9.6184889570944954e-3f));
    p = _mm512_fmadd_ps(p, f, _mm512_set1_ps(5.5503287769657607e-2f));
    p = _mm512_fmadd_ps(p, f, _mm512_set1_ps(2.4022646890634453e-1f));
    p = _mm512_fmadd_ps(p, f, _mm512_set1_ps(6.931472057372674e-1f));
    p = _mm512_fmadd_ps(p, f, _mm512_set1_ps(1.0000000005541663f));
    return _mm512_scalef_ps(p, n);
  }
#endif
  return xsimd::exp2(x);
}

template <class T>
PONET_INLINE T hmax(Batch<T> v) {
  constexpr int W = simd_width<T>;
#if defined(__AVX512F__)
  if constexpr (std::is_same_v<T, float> && W == 16) return _mm512_reduce_max_ps(v);
  if constexpr (std::is_same_v<T, double> && W == 8) return _mm512_reduce_max_pd(v);
#endif
  alignas(64) T t[W];
  v.store_aligned(t);
  T m = t[0];
  for (int k = 1; k < W; ++k) m = std::max(m, t[k]);
  return m;
}

// acc[r][c] += sum over k < K of x[r*XR + k*XK] * y[k*ys + c*W]: x broadcast, y loaded. Every
// product of attention is this register tile with other strides:
//   S = Q K^T, dP = dO V^T   x = Q or dO tile [dh][R] (XR 1, XK R),   y = K^T, V^T [dh][Bc]
//   O += P V, dQ += dS K     x = P or dS rows [R][Bc] (XR Bc, XK 1),  y = V, K rows [Bc][dhp]
//   dV += P^T dO, dK += dS^T Q   x = P^T, dS^T (XR 1, XK Bc),         y = dO, Q rows [Bq][dhp]
template <class T, int R, int C, int XR, int XK>
PONET_INLINE void fma_tile(Batch<T> (&acc)[R][C], T const* x, T const* y, std::ptrdiff_t ys,
                           int K) {
  using V = Batch<T>;
  constexpr int W = simd_width<T>;
  for (int k = 0; k < K; ++k, x += XK, y += ys) {
    V yv[C];
#pragma GCC unroll 8
    for (int c = 0; c < C; ++c) yv[c] = V::load_unaligned(y + c * W);
#pragma GCC unroll 16
    for (int r = 0; r < R; ++r) {
      V xb(x[r * XR]);
#pragma GCC unroll 8
      for (int c = 0; c < C; ++c) acc[r][c] = xsimd::fma(xb, yv[c], acc[r][c]);
    }
  }
}

// f(std::integral_constant<int, n>{}, v) for channel vectors [v, v + n), n <= C, covering CV.
template <int C, class F>
PONET_INLINE void for_vector_chunks(int CV, F&& f) {
  static_assert(C == 2, "chunks of two vectors, then one");
  int v = 0;
  for (; v + 2 <= CV; v += 2) f(std::integral_constant<int, 2>{}, v);
  if (v < CV) f(std::integral_constant<int, 1>{}, v);
}

// out[r][c] (+)= sum over k < K of x[r*XR + k*XK] * y[k*ys + c] for R rows of out (stride dhp)
// and all dhp channels, in register tiles of up to C vectors. `scale[r]` (if given) multiplies
// out's old rows first (the online softmax's rescaling).
template <class T, int R, int XR, int XK>
PONET_INLINE void accumulate_rows(T* out, int dhp, T const* x, T const* y, int K,
                                  T const* scale = nullptr) {
  using V = Batch<T>;
  constexpr int W = simd_width<T>, C = Blocking<T>::C;
  for_vector_chunks<C>(dhp / W, [&](auto n, int v0) {
    constexpr int Cn = decltype(n)::value;
    V acc[R][Cn];
    for (int r = 0; r < R; ++r)
      for (int c = 0; c < Cn; ++c) {
        acc[r][c] = V::load_unaligned(out + r * dhp + (v0 + c) * W);
        if (scale) acc[r][c] = acc[r][c] * V(scale[r]);
      }
    fma_tile<T, R, Cn, XR, XK>(acc, x, y + v0 * W, dhp, K);
    for (int r = 0; r < R; ++r)
      for (int c = 0; c < Cn; ++c) acc[r][c].store_unaligned(out + r * dhp + (v0 + c) * W);
  });
}

// Keys [0, n) of a block are real: the products cover [0, key_end(n)), whole register tiles.
template <class T>
PONET_INLINE int key_end(int n) {
  return int(round_up(n, Blocking<T>::C * Blocking<T>::W));
}

// S tile [R][jend] = (x tile [dh][R])^T y block [dh][Bc] for jend = key_end(n) keys, each
// vector of scores passed through epi(r, j, acc) before it is stored at s + r*Bc + j.
template <class T, class Epi>
PONET_INLINE void score_tile(T* s, T const* x, T const* y, int dh, int n, Epi&& epi) {
  using V = Batch<T>;
  using Bl = Blocking<T>;
  constexpr int W = Bl::W, R = Bl::R, C = Bl::C, Bc = Bl::Bc;
  int const jend = key_end<T>(n);
  for (int j0 = 0; j0 < jend; j0 += C * W) {
    V acc[R][C];
    for (int r = 0; r < R; ++r)
      for (int c = 0; c < C; ++c) acc[r][c] = V(T(0));
    fma_tile<T, R, C, 1, R>(acc, x, y + j0, Bc, dh);
    for (int r = 0; r < R; ++r)
      for (int c = 0; c < C; ++c)
        epi(r, j0 + c * W, acc[r][c]).store_unaligned(s + r * Bc + j0 + c * W);
  }
}

// The problem, checked, and each sequence's valid positions in order.
template <class T>
struct Problem {
  View<T const, cpu_tag> q, k, v;  // [B, N, D]
  int B = 0, N = 0, D = 0, H = 0, dh = 0;
  int dhp = 0;   // dh rounded up to whole vectors: packed rows are [dhp], zero-padded
  T scale = 0;   // 1 / sqrt(dh)
  T scale2 = 0;  // log2(e) / sqrt(dh): packed queries carry it, so scores are in base 2
  std::int32_t const* idx = nullptr;    // [B, N]: idx[b*N + t] = the t-th valid position of b
  std::int32_t const* count = nullptr;  // [B]: valid positions of b

  std::int32_t const* positions(int b) const { return idx + (std::int64_t)b * N; }
  // The valid positions of b in [i0, i1): positions(b)[lo, hi).
  std::pair<int, int> valid_range(int b, int i0, int i1) const {
    std::int32_t const* p = positions(b);
    int lo = int(std::lower_bound(p, p + count[b], i0) - p);
    int hi = int(std::lower_bound(p + lo, p + count[b], i1) - p);
    return {lo, hi};
  }
};

// Fills idx and count (scratch of B*N + B ints) from the mask.
template <class T>
void index_valid(Problem<T>& p, View<std::uint8_t const, cpu_tag> valid, std::int32_t* ints) {
  std::int32_t* idx = ints;
  std::int32_t* count = ints + (std::int64_t)p.B * p.N;
  parallel_for(p.B, [&](int b) {
    int n = 0;
    for (int i = 0; i < p.N; ++i)
      if (valid(b, i, 0)) idx[(std::int64_t)b * p.N + n++] = i;
    count[b] = n;
  });
  p.idx = idx;
  p.count = count;
}

// Per-thread buffers carved from one scratch slot, each 64-byte aligned.
template <class T>
struct Carver {
  T* base;
  std::int64_t used = 0;
  T* take(std::int64_t n) {
    T* r = base ? base + used : nullptr;
    used += round_up(n, 64 / sizeof(T));
    return r;
  }
};

// In-register transposes of W x W blocks (AVX-512: 16 floats, 8 doubles): r[i][j] -> r[j][i].
#if defined(__AVX512F__)
PONET_INLINE void transpose_block(Batch<float> (&r)[16]) {
  static_assert(simd_width<float> == 16, "AVX-512 batches");
  __m512 t[16], u[16];
  for (int i = 0; i < 8; ++i) {  // t[2i] = (r[2i][4L], r[2i+1][4L], r[2i][4L+1], ...) per lane L
    t[2 * i] = _mm512_unpacklo_ps(r[2 * i], r[2 * i + 1]);
    t[2 * i + 1] = _mm512_unpackhi_ps(r[2 * i], r[2 * i + 1]);
  }
  for (int i = 0; i < 4; ++i) {  // u[4i+m], lane L: column 4L+m of rows 4i..4i+3
    __m512d a = _mm512_castps_pd(t[4 * i]), b = _mm512_castps_pd(t[4 * i + 2]);
    __m512d c = _mm512_castps_pd(t[4 * i + 1]), d = _mm512_castps_pd(t[4 * i + 3]);
    u[4 * i] = _mm512_castpd_ps(_mm512_unpacklo_pd(a, b));
    u[4 * i + 1] = _mm512_castpd_ps(_mm512_unpackhi_pd(a, b));
    u[4 * i + 2] = _mm512_castpd_ps(_mm512_unpacklo_pd(c, d));
    u[4 * i + 3] = _mm512_castpd_ps(_mm512_unpackhi_pd(c, d));
  }
  for (int m = 0; m < 4; ++m) {  // gather lane L of u[m], u[4+m], u[8+m], u[12+m]
    __m512 v = _mm512_shuffle_f32x4(u[m], u[4 + m], 0x88);
    __m512 w = _mm512_shuffle_f32x4(u[8 + m], u[12 + m], 0x88);
    __m512 v2 = _mm512_shuffle_f32x4(u[m], u[4 + m], 0xdd);
    __m512 w2 = _mm512_shuffle_f32x4(u[8 + m], u[12 + m], 0xdd);
    r[m] = _mm512_shuffle_f32x4(v, w, 0x88);
    r[8 + m] = _mm512_shuffle_f32x4(v, w, 0xdd);
    r[4 + m] = _mm512_shuffle_f32x4(v2, w2, 0x88);
    r[12 + m] = _mm512_shuffle_f32x4(v2, w2, 0xdd);
  }
}

PONET_INLINE void transpose_block(Batch<double> (&r)[8]) {
  static_assert(simd_width<double> == 8, "AVX-512 batches");
  __m512d u[8];
  for (int i = 0; i < 4; ++i) {  // u[2i+m], lane L: column 2L+m of rows 2i, 2i+1
    u[2 * i] = _mm512_unpacklo_pd(r[2 * i], r[2 * i + 1]);
    u[2 * i + 1] = _mm512_unpackhi_pd(r[2 * i], r[2 * i + 1]);
  }
  for (int m = 0; m < 2; ++m) {
    __m512d v = _mm512_shuffle_f64x2(u[m], u[2 + m], 0x88);
    __m512d w = _mm512_shuffle_f64x2(u[4 + m], u[6 + m], 0x88);
    __m512d v2 = _mm512_shuffle_f64x2(u[m], u[2 + m], 0xdd);
    __m512d w2 = _mm512_shuffle_f64x2(u[4 + m], u[6 + m], 0xdd);
    r[m] = _mm512_shuffle_f64x2(v, w, 0x88);
    r[4 + m] = _mm512_shuffle_f64x2(v, w, 0xdd);
    r[2 + m] = _mm512_shuffle_f64x2(v2, w2, 0x88);
    r[6 + m] = _mm512_shuffle_f64x2(v2, w2, 0xdd);
  }
}
#endif

// dst[c * ld + r] = rows[r][c] * scale for r < nr <= W and c < cols; a null row gives zeros.
template <class T>
PONET_INLINE void transpose_rows(T const* const* rows, int nr, int cols, T scale, T* dst,
                                 std::int64_t ld) {
#if defined(__AVX512F__)
  if constexpr (simd_width<T> * sizeof(T) == 64) {
    constexpr int W = simd_width<T>;
    using V = Batch<T>;
    auto const rmask = static_cast<std::uint32_t>((1u << nr) - 1);
    for (int c0 = 0; c0 < cols; c0 += W) {
      int const nc = std::min(W, cols - c0);
      auto const cmask = static_cast<std::uint32_t>((1u << nc) - 1);
      V r[W];
      for (int i = 0; i < W; ++i) {
        r[i] = V(T(0));
        if (i >= nr || !rows[i]) continue;
        if constexpr (std::is_same_v<T, float>)
          r[i] = V(_mm512_maskz_loadu_ps(__mmask16(cmask), rows[i] + c0)) * V(scale);
        else
          r[i] = V(_mm512_maskz_loadu_pd(__mmask8(cmask), rows[i] + c0)) * V(scale);
      }
      transpose_block(r);
      for (int c = 0; c < nc; ++c) {
        if constexpr (std::is_same_v<T, float>)
          _mm512_mask_storeu_ps(dst + (c0 + c) * ld, __mmask16(rmask), r[c]);
        else
          _mm512_mask_storeu_pd(dst + (c0 + c) * ld, __mmask8(rmask), r[c]);
      }
    }
    return;
  }
#endif
  for (int r = 0; r < nr; ++r)
    for (int c = 0; c < cols; ++c) dst[c * ld + r] = rows[r] ? rows[r][c] * scale : T(0);
}

// Rows of a projection lie D or 3D elements apart, too far for the hardware prefetcher: the
// packers ask for the head's slice of the rows they read next, and the loops that write output
// rows ask for those with the intent to write. (_mm_prefetch: through ponet::prefetch_bytes,
// GCC 12 emitted no prefetch at all in these packers.)
template <class T>
PONET_INLINE void prefetch_slice(T const* row, int dh) {
  char const* p = reinterpret_cast<char const*>(row);
  for (int o = 0; o < dh * int(sizeof(T)); o += 64) {
#if defined(__x86_64__) || defined(__i386__)
    _mm_prefetch(p + o, _MM_HINT_T0);
#else
    __builtin_prefetch(p + o);
#endif
  }
}

template <class T>
PONET_INLINE void prefetch_slice_for_write(T* row, int dh) {
  char const* p = reinterpret_cast<char const*>(row);
  for (int o = 0; o < dh * int(sizeof(T)); o += 64) {
#if defined(__x86_64__) || defined(__i386__)
    _mm_prefetch(p + o, _MM_HINT_ET0);
#else
    __builtin_prefetch(p + o, 1);
#endif
  }
}

// How many rows ahead the loops that write output rows ask for them.
inline constexpr int write_prefetch_rows = 8;

// Keys of (b, h) at positions(b)[lo, hi), packed for score_tile: K^T blocks [nkb][dh][Bc]
// (x scale), zero past the last key.
template <class T>
void pack_transposed(Problem<T> const& p, View<T const, cpu_tag> x, int b, int h, int lo, int hi,
                     T* out, T scale) {
  constexpr int Bc = Blocking<T>::Bc, W = simd_width<T>;
  static_assert(Bc % W == 0 && W <= 64, "key blocks hold whole transposed groups");
  int const groups = int(round_up(hi - lo, Bc) / W);  // whole blocks
  // Group g: block g / (Bc/W), keys (g % (Bc/W)) * W .. + W of it.
  std::int32_t const* pos = p.positions(b) + lo;
  int const count = hi - lo;
  T const* rows[W];
  for (int g = 0; g < groups; ++g) {
    for (int r = 0; r < W; ++r) {
      int const i = g * W + r, ahead = i + 2 * W;
      rows[r] = i < count ? x.row(b, pos[i]) + h * p.dh : nullptr;
      if (ahead < count) prefetch_slice(x.row(b, pos[ahead]) + h * p.dh, p.dh);
    }
    int const blk = g / (Bc / W), jj = (g % (Bc / W)) * W;
    transpose_rows(rows, W, p.dh, scale, out + (std::int64_t)blk * p.dh * Bc + jj, Bc);
  }
}

// Rows of (b, h) at positions(b)[lo, hi) as [rows][dhp] (x scale), zero rows and channels past
// the end.
template <class T>
void pack_rows(Problem<T> const& p, View<T const, cpu_tag> x, int b, int h, int lo, int hi,
               int rows, T* out, T scale) {
  std::int32_t const* pos = p.positions(b) + lo;
  int const count = hi - lo;
  for (int j = 0; j < rows; ++j) {
    T* o = out + (std::int64_t)j * p.dhp;
    int c = 0;
    if (j + 8 < count) prefetch_slice(x.row(b, pos[j + 8]) + h * p.dh, p.dh);
    if (j < count) {
      T const* row = x.row(b, pos[j]) + h * p.dh;
      for (; c < p.dh; ++c) o[c] = row[c] * scale;
    }
    for (; c < p.dhp; ++c) o[c] = 0;
  }
}

// Queries of (b, h) at positions(b)[lo, hi) as register-tile operands: [tiles][dh][R] (x scale).
template <class T>
void pack_tiles(Problem<T> const& p, View<T const, cpu_tag> x, int b, int h, int lo, int hi, T* out,
                T scale) {
  constexpr int R = Blocking<T>::R, W = simd_width<T>;
  std::int32_t const* pos = p.positions(b) + lo;
  int const count = hi - lo, tiles = int(round_up(count, R) / R);
  T const* rows[R];
  for (int t = 0; t < tiles; ++t) {
    for (int r = 0; r < R; ++r) {
      int const i = t * R + r, ahead = i + 2 * R;
      rows[r] = i < count ? x.row(b, pos[i]) + h * p.dh : nullptr;
      if (ahead < count) prefetch_slice(x.row(b, pos[ahead]) + h * p.dh, p.dh);
    }
    for (int r0 = 0; r0 < R; r0 += W)  // at most W rows per transpose
      transpose_rows(rows + r0, std::min(W, R - r0), p.dh, scale,
                     out + (std::int64_t)t * p.dh * R + r0, R);
  }
}

// Zeroes head h's channels of x at the padded positions of b in [i0, i1).
template <class T>
void zero_padded(View<T, cpu_tag> x, View<std::uint8_t const, cpu_tag> valid, int b, int h, int dh,
                 int i0, int i1) {
  for (int i = i0; i < i1; ++i)
    if (!valid(b, i, 0)) std::fill_n(x.row(b, i) + h * dh, dh, T(0));
}

// ---- forward -------------------------------------------------------------------------------

template <class T>
struct ForwardThread {
  T *kt, *vr;         // keys [nkb][dh][Bc] and values [nkb*Bc][dhp] of (b, h) = cached
  T *qt, *o, *m, *l;  // the item's queries [Gq/R][dh][R], output rows [Gq][dhp], max and sum
  T* s;               // one score tile [R][Bc]
  int cached = -1;    // b * H + h whose keys and values kt, vr hold
};

// One query tile (R rows from row i0 of the item) against one key block: scores, online
// softmax, o = alpha o + P V.
template <class T>
PONET_INLINE void forward_tile(Problem<T> const& p, ForwardThread<T>& th, T const* ktb,
                               T const* vrb, int nvalid, int i0) {
  using V = Batch<T>;
  using Bl = Blocking<T>;
  constexpr int W = Bl::W, R = Bl::R, Bc = Bl::Bc, RP = (R + W - 1) / W * W;
  // Local copies: SIMD stores may alias anything, so fields would be reloaded after each one.
  T* const s = th.s;
  T* const m = th.m + i0;
  T* const l = th.l + i0;
  int const jend = key_end<T>(nvalid);  // the last block stops at the tile after its last key
  score_tile(s, th.qt + (std::int64_t)i0 * p.dh, ktb, p.dh, nvalid,
             [](int, int, V acc) { return acc; });
  if (nvalid < jend)
    for (int r = 0; r < R; ++r) std::fill(s + r * Bc + nvalid, s + r * Bc + jend, lost<T>);
  alignas(64) T mnew[RP], alpha[RP];
  for (int r = 0; r < R; ++r) {
    T const* row = s + r * Bc;
    V mx = V::load_unaligned(row);
    for (int j = W; j < jend; j += W) mx = xsimd::max(mx, V::load_unaligned(row + j));
    mnew[r] = std::max(m[r], hmax<T>(mx));
    alpha[r] = m[r] - mnew[r];
  }
  for (int r = R; r < RP; ++r) alpha[r] = 0;
  for (int r = 0; r < RP; r += W) exp2<T>(V::load_aligned(alpha + r)).store_aligned(alpha + r);
  for (int r = 0; r < R; ++r) {
    T* row = s + r * Bc;
    V mr(mnew[r]), sum(T(0));
    for (int j = 0; j < jend; j += W) {
      V e = exp2<T>(V::load_unaligned(row + j) - mr);
      e.store_unaligned(row + j);
      sum = sum + e;
    }
    l[r] = l[r] * alpha[r] + hadd<T>(sum);
    m[r] = mnew[r];
  }
  accumulate_rows<T, R, Bc, 1>(th.o + (std::int64_t)i0 * p.dhp, p.dhp, s, vrb, nvalid, alpha);
}

// Work item (b, h, g): the valid queries among positions [g*Gq, (g+1)*Gq) of sequence b.
template <class T>
void forward_item(Problem<T> const& p, ForwardThread<T>& th, View<T, cpu_tag> out,
                  View<std::uint8_t const, cpu_tag> valid, T* lse, int b, int h, int g) {
  using Bl = Blocking<T>;
  constexpr int R = Bl::R, Bc = Bl::Bc;
  int const i0 = g * Bl::Gq, i1 = std::min(p.N, i0 + Bl::Gq);
  T* lse_bh = lse + ((std::int64_t)b * p.H + h) * p.N;
  for (int i = i0; i < i1; ++i)
    if (!valid(b, i, 0)) lse_bh[i] = 0;
  zero_padded(out, valid, b, h, p.dh, i0, i1);
  auto [lo, hi] = p.valid_range(b, i0, i1);
  int const nq = hi - lo;
  if (nq == 0) return;
  int const nk = p.count[b], nkb = int(round_up(nk, Bc) / Bc);
  if (th.cached != b * p.H + h) {
    pack_transposed(p, p.k, b, h, 0, nk, th.kt, T(1));
    pack_rows(p, p.v, b, h, 0, nk, nkb * Bc, th.vr, T(1));
    th.cached = b * p.H + h;
  }
  int const rows = int(round_up(nq, R));
  pack_tiles(p, p.q, b, h, lo, hi, th.qt, p.scale2);
  std::fill_n(th.o, (std::int64_t)rows * p.dhp, T(0));
  std::fill_n(th.m, rows, lost<T>);
  std::fill_n(th.l, rows, T(0));
  for (int kb = 0; kb < nkb; ++kb) {
    T const* ktb = th.kt + (std::int64_t)kb * p.dh * Bc;
    T const* vrb = th.vr + (std::int64_t)kb * Bc * p.dhp;
    int const nvalid = std::min(Bc, nk - kb * Bc);
    for (int t = 0; t < rows; t += R) forward_tile(p, th, ktb, vrb, nvalid, t);
  }
  std::int32_t const* pos = p.positions(b) + lo;
  for (int i = 0; i < nq; ++i) {
    if (i + write_prefetch_rows < nq)
      prefetch_slice_for_write(out.row(b, pos[i + write_prefetch_rows]) + h * p.dh, p.dh);
    T const inv = T(1) / th.l[i];
    T const* o = th.o + (std::int64_t)i * p.dhp;
    T* dst = out.row(b, pos[i]) + h * p.dh;
    for (int c = 0; c < p.dh; ++c) dst[c] = o[c] * inv;
    // lse in natural units of the 1/sqrt(dh) scores; rounded once, from double.
    lse_bh[pos[i]] = T((double(th.m[i]) + std::log2(double(th.l[i]))) * 0.6931471805599453);
  }
}

// ---- backward ------------------------------------------------------------------------------

template <class T>
struct BackwardThread {
  T *qt, *dot;      // queries (x log2(e)/sqrt(dh)) and dout of (b, h) as tiles [rows/R][dh][R]
  T *qr, *dor;      // the same as rows [rows][dhp]
  T *l2, *dd;       // lse in base 2, D_i = dout_i . out_i  [rows]
  T* dq;            // dq accumulator [rows][dhp]
  T *kt, *vt, *kr;  // the item's keys and values as K^T, V^T blocks [dh][Bc], keys as rows
  T *dk, *dv;       // one key block's accumulators [Bc][dhp]
  T *pb, *ds;       // P and dS of one query block [Bq][Bc]
  int cached = -1;  // b * H + h whose query side qt .. dd hold
};

template <class T>
struct BackwardArgs {
  View<T, cpu_tag> dq, dk, dv;              // [B, N, D]
  View<T const, cpu_tag> dout, out;         // [B, N, D]
  View<std::uint8_t const, cpu_tag> valid;  // [B, N, 1]
  T const* lse = nullptr;                   // [B, H, N]
  T* partial = nullptr;                     // [B, H, G, N, dh] dq per key group, if G > 1
  int G = 1, Ng = 0;                        // key groups and positions per group
};

// Packs the query side of (b, h): all valid queries of b.
template <class T>
void pack_queries(Problem<T> const& p, BackwardArgs<T> const& a, BackwardThread<T>& th, int b,
                  int h) {
  constexpr int R = Blocking<T>::R;
  int const nq = p.count[b], rows = int(round_up(nq, R));
  pack_tiles(p, p.q, b, h, 0, nq, th.qt, p.scale2);
  pack_rows(p, p.q, b, h, 0, nq, rows, th.qr, p.scale2);
  pack_tiles(p, a.dout, b, h, 0, nq, th.dot, T(1));
  pack_rows(p, a.dout, b, h, 0, nq, rows, th.dor, T(1));
  std::int32_t const* pos = p.positions(b);
  T const* lse = a.lse + ((std::int64_t)b * p.H + h) * p.N;
  for (int i = 0; i < rows; ++i) {
    th.l2[i] = th.dd[i] = 0;  // padded rows: P = 1 but dout = 0 and dS = 0, so they add nothing
    if (i >= nq) continue;
    th.l2[i] = T(double(lse[pos[i]]) * 1.4426950408889634);
    T const* o = a.out.row(b, pos[i]) + h * p.dh;
    T const* d = a.dout.row(b, pos[i]) + h * p.dh;
    if (i + 8 < nq) {
      prefetch_slice(a.out.row(b, pos[i + 8]) + h * p.dh, p.dh);
      prefetch_slice(a.dout.row(b, pos[i + 8]) + h * p.dh, p.dh);
    }
    using V = Batch<T>;
    constexpr int W = simd_width<T>;
    int c = 0;
    V acc(T(0));
    for (; c + W <= p.dh; c += W)
      acc = xsimd::fma(V::load_unaligned(d + c), V::load_unaligned(o + c), acc);
    T sum = hadd<T>(acc);
    for (; c < p.dh; ++c) sum += d[c] * o[c];
    th.dd[i] = sum;
  }
  th.cached = b * p.H + h;
}

// One key block against one block of query rows [q0, q0 + qrows): P, dS, dq += dS K, then
// dv += P^T dout and dk += dS^T q for the block's keys.
template <class T>
void backward_block(Problem<T> const& p, BackwardThread<T>& th, int kb, int nvalid, int q0,
                    int qrows) {
  using V = Batch<T>;
  using Bl = Blocking<T>;
  constexpr int W = Bl::W, R = Bl::R, Bc = Bl::Bc;
  T const* ktb = th.kt + (std::int64_t)kb * p.dh * Bc;
  T const* vtb = th.vt + (std::int64_t)kb * p.dh * Bc;
  T const* krb = th.kr + (std::int64_t)kb * Bc * p.dhp;
  alignas(64) T lane[W];
  for (int w = 0; w < W; ++w) lane[w] = T(w);
  V const iota = V::load_aligned(lane), limit = V(T(nvalid));
  int const dh = p.dh, dhp = p.dhp;
  for (int t = 0; t < qrows; t += R) {
    // Local pointers: SIMD stores may alias anything, so fields would be reloaded after each.
    int const i0 = q0 + t;
    T* const pb = th.pb + t * Bc;
    T* const ds = th.ds + t * Bc;
    T const* const l2 = th.l2 + i0;
    T const* const dd = th.dd + i0;
    score_tile(pb, th.qt + (std::int64_t)i0 * dh, ktb, dh, nvalid, [&](int r, int j, V acc) {
      V e = exp2<T>(acc - V(l2[r]));
      // Keys past the last are zero vectors, not -inf: their P must be cut to 0 explicitly.
      return nvalid < Bc ? xsimd::select(iota + V(T(j)) < limit, e, V(T(0))) : e;
    });
    score_tile(ds, th.dot + (std::int64_t)i0 * dh, vtb, dh, nvalid, [&](int r, int j, V acc) {
      return V::load_unaligned(pb + r * Bc + j) * (acc - V(dd[r]));
    });
    accumulate_rows<T, R, Bc, 1>(th.dq + (std::int64_t)i0 * dhp, dhp, ds, krb, nvalid);
  }
  // dv and dk go by whole register tiles of keys, which may reach past the scores computed.
  int const tiles_end = int(round_up(nvalid, R)), jend = key_end<T>(nvalid);
  if (tiles_end > jend)
    for (int i = 0; i < qrows; ++i) {
      std::fill(th.pb + i * Bc + jend, th.pb + i * Bc + tiles_end, T(0));
      std::fill(th.ds + i * Bc + jend, th.ds + i * Bc + tiles_end, T(0));
    }
  for (int j = 0; j < nvalid; j += R) {
    accumulate_rows<T, R, 1, Bc>(th.dv + j * p.dhp, p.dhp, th.pb + j,
                                 th.dor + (std::int64_t)q0 * p.dhp, qrows);
    accumulate_rows<T, R, 1, Bc>(th.dk + j * p.dhp, p.dhp, th.ds + j,
                                 th.qr + (std::int64_t)q0 * p.dhp, qrows);
  }
}

// Work item (b, h, g): dk and dv of the valid keys among positions [g*Ng, (g+1)*Ng) of b, and
// their part of dq.
template <class T>
void backward_item(Problem<T> const& p, BackwardArgs<T> const& a, BackwardThread<T>& th, int b,
                   int h, int g) {
  using Bl = Blocking<T>;
  constexpr int R = Bl::R, Bc = Bl::Bc, Bq = Bl::Bq;
  int const j0 = g * a.Ng, j1 = std::min(p.N, j0 + a.Ng);
  zero_padded(a.dk, a.valid, b, h, p.dh, j0, j1);
  zero_padded(a.dv, a.valid, b, h, p.dh, j0, j1);
  auto [lo, hi] = p.valid_range(b, j0, j1);
  int const nk = hi - lo, nkb = int(round_up(nk, Bc) / Bc);
  int const nq = p.count[b], rows = int(round_up(nq, R));
  if (nq > 0 && th.cached != b * p.H + h) pack_queries(p, a, th, b, h);
  std::fill_n(th.dq, (std::int64_t)rows * p.dhp, T(0));
  pack_transposed(p, p.k, b, h, lo, hi, th.kt, T(1));
  pack_transposed(p, p.v, b, h, lo, hi, th.vt, T(1));
  pack_rows(p, p.k, b, h, lo, hi, nkb * Bc, th.kr, T(1));
  std::int32_t const* kpos = p.positions(b) + lo;
  T const ln2 = T(0.6931471805599453);  // dk = sum_i dS_ij q_i / sqrt(dh) = ln2 sum_i dS_ij qr_i
  for (int kb = 0; kb < nkb; ++kb) {
    int const nvalid = std::min(Bc, nk - kb * Bc);
    std::fill_n(th.dk, Bc * p.dhp, T(0));
    std::fill_n(th.dv, Bc * p.dhp, T(0));
    for (int q0 = 0; q0 < rows; q0 += Bq)
      backward_block(p, th, kb, nvalid, q0, std::min(Bq, rows - q0));
    for (int j = 0; j < nvalid; ++j) {
      if (j + write_prefetch_rows < nvalid) {
        int const ahead = kpos[kb * Bc + j + write_prefetch_rows];
        prefetch_slice_for_write(a.dk.row(b, ahead) + h * p.dh, p.dh);
        prefetch_slice_for_write(a.dv.row(b, ahead) + h * p.dh, p.dh);
      }
      T* dk = a.dk.row(b, kpos[kb * Bc + j]) + h * p.dh;
      T* dv = a.dv.row(b, kpos[kb * Bc + j]) + h * p.dh;
      for (int c = 0; c < p.dh; ++c) {
        dk[c] = th.dk[j * p.dhp + c] * ln2;
        dv[c] = th.dv[j * p.dhp + c];
      }
    }
  }
  std::int32_t const* qpos = p.positions(b);
  if (a.G == 1) {
    zero_padded(a.dq, a.valid, b, h, p.dh, 0, p.N);
    for (int i = 0; i < nq; ++i) {
      if (i + write_prefetch_rows < nq)
        prefetch_slice_for_write(a.dq.row(b, qpos[i + write_prefetch_rows]) + h * p.dh, p.dh);
      T* dq = a.dq.row(b, qpos[i]) + h * p.dh;
      for (int c = 0; c < p.dh; ++c) dq[c] = th.dq[(std::int64_t)i * p.dhp + c] * p.scale;
    }
  } else {
    T* part = a.partial + (((std::int64_t)b * p.H + h) * a.G + g) * p.N * p.dh;
    for (int i = 0; i < nq; ++i)
      std::copy_n(th.dq + (std::int64_t)i * p.dhp, p.dh, part + (std::int64_t)i * p.dh);
  }
}

// dq of (b, h) from its G key groups' parts, summed in group order.
template <class T>
void reduce_dq(Problem<T> const& p, BackwardArgs<T> const& a, int b, int h) {
  zero_padded(a.dq, a.valid, b, h, p.dh, 0, p.N);
  T const* part = a.partial + ((std::int64_t)b * p.H + h) * a.G * p.N * p.dh;
  std::int64_t const stride = (std::int64_t)p.N * p.dh;
  std::int32_t const* qpos = p.positions(b);
  for (int i = 0; i < p.count[b]; ++i) {
    T* dq = a.dq.row(b, qpos[i]) + h * p.dh;
    for (int c = 0; c < p.dh; ++c) {
      T sum = part[(std::int64_t)i * p.dh + c];
      for (int g = 1; g < a.G; ++g) sum += part[g * stride + (std::int64_t)i * p.dh + c];
      dq[c] = sum * p.scale;
    }
  }
}

// ---- setup --------------------------------------------------------------------------------

template <class T>
struct Identity {
  using type = T;
};
// Keeps an argument out of template deduction, so Tensors and View<T> convert to View<T const>.
template <class T>
using Same = typename Identity<T>::type;

// The workspace's tag for this operator's forward and backward.
template <class T>
struct Op {};

// f(item, thread) for item in [0, n), handed out one at a time: items differ a lot in cost
// (padding), and each computes the same bits whichever thread runs it.
template <class F>
void for_each_item(int n, F&& f) {
#if PONET_HAS_OPENMP
#pragma omp parallel for schedule(dynamic, 1) if (n > 1)
#endif
  for (int it = 0; it < n; ++it) f(it, thread_id());
}

template <class T>
Problem<T> make_problem(char const* what, View<T const, cpu_tag> q, View<T const, cpu_tag> k,
                        View<T const, cpu_tag> v, View<std::uint8_t const, cpu_tag> valid, int H) {
  check_same_shape(what, "k", k.shape(), "q", q.shape());
  check_same_shape(what, "v", v.shape(), "q", q.shape());
  if (valid.B != q.B || valid.N != q.N || valid.D != 1)
    throw Error(std::string(what) + ": valid is " + to_string(valid.shape()) + " but q is " +
                to_string(q.shape()) + " (valid must be [B,N,1])");
  if (H < 1 || q.D % H != 0)
    throw Error(std::string(what) + ": H=" + std::to_string(H) + " does not divide D=" +
                std::to_string(q.D) + " (q is " + to_string(q.shape()) + ")");
  Problem<T> p;
  p.q = q;
  p.k = k;
  p.v = v;
  p.B = q.B;
  p.N = q.N;
  p.D = q.D;
  p.H = H;
  p.dh = q.D / H;
  p.dhp = int(round_up(std::max(p.dh, 1), simd_width<T>));
  p.scale = T(1 / std::sqrt(double(std::max(p.dh, 1))));
  p.scale2 = T(1.4426950408889634 / std::sqrt(double(std::max(p.dh, 1))));
  return p;
}

// Throws unless `out` shares no element with `in`: outputs are written while other work items
// still read the inputs.
template <class T, class U>
void check_no_overlap(char const* what, char const* out_name, View<T, cpu_tag> const& out,
                      char const* in_name, View<U, cpu_tag> const& in) {
  if (may_overlap(out, in))
    throw Error(std::string(what) + ": " + out_name + " overlaps " + in_name);
}

}  // namespace cpu::detail::attention

// out = softmax attention of q, k, v per head, over valid keys; 0 at padded queries. Saves each
// valid query's log-sum-exp lse[b, h, i] (natural log of the 1/sqrt(dh) scores) in ws's first
// saved slot, for attention_backward with the same ws. Spec: ref::attention_forward.
template <class T>
void attention_forward(View<T, cpu_tag> out,                                    // [B, N, D]
                       View<cpu::detail::attention::Same<T> const, cpu_tag> q,  // [B, N, D]
                       View<cpu::detail::attention::Same<T> const, cpu_tag> k,  // [B, N, D]
                       View<cpu::detail::attention::Same<T> const, cpu_tag> v,  // [B, N, D]
                       View<std::uint8_t const, cpu_tag> valid,                 // [B, N, 1]
                       int H, Workspace<cpu_tag>& ws) {
  namespace at = cpu::detail::attention;
  using Bl = at::Blocking<T>;
  char const* what = "attention_forward";
  at::Problem<T> p = at::make_problem<T>(what, q, k, v, valid, H);
  check_same_shape(what, "out", out.shape(), "q", q.shape());
  at::check_no_overlap(what, "out", out, "q", q);
  at::check_no_overlap(what, "out", out, "k", k);
  at::check_no_overlap(what, "out", out, "v", v);
  at::check_no_overlap(what, "out", out, "valid", valid);
  ws.begin_forward<at::Op<T>>(Mode::train, out.shape());
  T* lse = ws.saved<T>(std::size_t(p.B) * p.H * p.N);  // [B, H, N]
  if (out.shape().numel() > 0) {
    at::index_valid(p, valid, ws.scratch<std::int32_t>(std::size_t(p.B) * p.N + p.B));
    int const threads = cpu::max_threads(), nkb = int(at::round_up(p.N, Bl::Bc) / Bl::Bc);
    auto carve = [&](at::Carver<T>& cv, at::ForwardThread<T>& th) {
      th.kt = cv.take((std::int64_t)nkb * p.dh * Bl::Bc);
      th.vr = cv.take((std::int64_t)nkb * Bl::Bc * p.dhp);
      th.qt = cv.take((std::int64_t)Bl::Gq * p.dh);
      th.o = cv.take((std::int64_t)Bl::Gq * p.dhp);
      th.m = cv.take(Bl::Gq);
      th.l = cv.take(Bl::Gq);
      th.s = cv.take(Bl::R * Bl::Bc);
    };
    at::Carver<T> sizing{nullptr};
    at::ForwardThread<T> probe;
    carve(sizing, probe);
    at::Carver<T> cv{ws.scratch<T>(std::size_t(sizing.used) * threads)};
    std::vector<at::ForwardThread<T>> th(threads);
    for (auto& t : th) carve(cv, t);
    int const groups = int(at::round_up(p.N, Bl::Gq) / Bl::Gq);
    at::for_each_item(p.B * p.H * groups, [&](int item, int tid) {
      int const g = item % groups, bh = item / groups;
      at::forward_item(p, th[tid], out, valid, lse, bh / p.H, bh % p.H, g);
    });
  }
  ws.end_forward();
}

// The gradients of attention_forward's inputs, overwritten: zero at padded tokens (padded
// queries output nothing, padded keys are in no softmax). Reads the lse that attention_forward
// saved in ws, and its inputs and output, which must be unchanged. FlashAttention-2: D_i =
// dout_i . out_i, P from the saved lse, dS = P (dP - D_i). Spec: ref::attention_backward.
template <class T>
void attention_backward(View<T, cpu_tag> dq,                                        // [B, N, D]
                        View<cpu::detail::attention::Same<T>, cpu_tag> dk,          // [B, N, D]
                        View<cpu::detail::attention::Same<T>, cpu_tag> dv,          // [B, N, D]
                        View<cpu::detail::attention::Same<T> const, cpu_tag> dout,  // [B, N, D]
                        View<cpu::detail::attention::Same<T> const, cpu_tag> q,     // [B, N, D]
                        View<cpu::detail::attention::Same<T> const, cpu_tag> k,     // [B, N, D]
                        View<cpu::detail::attention::Same<T> const, cpu_tag> v,     // [B, N, D]
                        View<cpu::detail::attention::Same<T> const, cpu_tag> out,   // [B, N, D]
                        View<std::uint8_t const, cpu_tag> valid,                    // [B, N, 1]
                        int H, Workspace<cpu_tag>& ws) {
  namespace at = cpu::detail::attention;
  using Bl = at::Blocking<T>;
  char const* what = "attention_backward";
  at::Problem<T> p = at::make_problem<T>(what, q, k, v, valid, H);
  check_same_shape(what, "dout", dout.shape(), "q", q.shape());
  check_same_shape(what, "out", out.shape(), "q", q.shape());
  check_same_shape(what, "dq", dq.shape(), "q", q.shape());
  check_same_shape(what, "dk", dk.shape(), "q", q.shape());
  check_same_shape(what, "dv", dv.shape(), "q", q.shape());
  at::check_no_overlap(what, "dq", dq, "dk", dk);
  at::check_no_overlap(what, "dq", dq, "dv", dv);
  at::check_no_overlap(what, "dk", dk, "dv", dv);
  std::pair<char const*, View<T const, cpu_tag>> const inputs[] = {
      {"dout", dout}, {"q", q}, {"k", k}, {"v", v}, {"out", out}};
  std::pair<char const*, View<T, cpu_tag>> const grads[] = {{"dq", dq}, {"dk", dk}, {"dv", dv}};
  for (auto const& [gname, gv] : grads) {
    for (auto const& [iname, iv] : inputs) at::check_no_overlap(what, gname, gv, iname, iv);
    at::check_no_overlap(what, gname, gv, "valid", valid);
  }
  ws.begin_backward<at::Op<T>>(q.shape());
  at::BackwardArgs<T> a;
  a.lse = ws.saved<T>(std::size_t(p.B) * p.H * p.N);  // [B, H, N], from attention_forward
  if (q.shape().numel() > 0) {
    a.dq = dq;
    a.dk = dk;
    a.dv = dv;
    a.dout = dout;
    a.out = out;
    a.valid = valid;
    at::index_valid(p, valid, ws.scratch<std::int32_t>(std::size_t(p.B) * p.N + p.B));
    // Key groups: enough work items for a few threads when B * H is small; with G > 1 each
    // group's dq goes to its own slice of `partial`, summed in group order afterwards.
    int const nkb_all = int(at::round_up(p.N, Bl::Bc) / Bl::Bc);
    a.G = std::clamp((8 + p.B * p.H - 1) / (p.B * p.H), 1, nkb_all);
    a.Ng = int(at::round_up((p.N + a.G - 1) / a.G, Bl::Bc));
    a.G = (p.N + a.Ng - 1) / a.Ng;
    if (a.G > 1) a.partial = ws.scratch<T>(std::size_t(p.B) * p.H * a.G * p.N * p.dh);
    int const threads = cpu::max_threads(), rows = int(at::round_up(p.N, Bl::R));
    int const nkb = a.Ng / Bl::Bc;
    auto carve = [&](at::Carver<T>& cv, at::BackwardThread<T>& th) {
      th.qt = cv.take((std::int64_t)rows * p.dh);
      th.dot = cv.take((std::int64_t)rows * p.dh);
      th.qr = cv.take((std::int64_t)rows * p.dhp);
      th.dor = cv.take((std::int64_t)rows * p.dhp);
      th.l2 = cv.take(rows);
      th.dd = cv.take(rows);
      th.dq = cv.take((std::int64_t)rows * p.dhp);
      th.kt = cv.take((std::int64_t)nkb * p.dh * Bl::Bc);
      th.vt = cv.take((std::int64_t)nkb * p.dh * Bl::Bc);
      th.kr = cv.take((std::int64_t)nkb * Bl::Bc * p.dhp);
      th.dk = cv.take(Bl::Bc * p.dhp);
      th.dv = cv.take(Bl::Bc * p.dhp);
      th.pb = cv.take(Bl::Bq * Bl::Bc);
      th.ds = cv.take(Bl::Bq * Bl::Bc);
    };
    at::Carver<T> sizing{nullptr};
    at::BackwardThread<T> probe;
    carve(sizing, probe);
    at::Carver<T> cv{ws.scratch<T>(std::size_t(sizing.used) * threads)};
    std::vector<at::BackwardThread<T>> th(threads);
    for (auto& t : th) carve(cv, t);
    at::for_each_item(p.B * p.H * a.G, [&](int item, int tid) {
      int const g = item % a.G, bh = item / a.G;
      at::backward_item(p, a, th[tid], bh / p.H, bh % p.H, g);
    });
    if (a.G > 1)
      at::for_each_item(p.B * p.H, [&](int bh, int) { at::reduce_dq(p, a, bh / p.H, bh % p.H); });
  }
  ws.end_backward();
}

// The same with tensors for the outputs written (inputs convert to views by themselves).
template <class T>
void attention_forward(Tensor<T, cpu_tag>& out,                                 // [B, N, D]
                       View<cpu::detail::attention::Same<T> const, cpu_tag> q,  // [B, N, D]
                       View<cpu::detail::attention::Same<T> const, cpu_tag> k,  // [B, N, D]
                       View<cpu::detail::attention::Same<T> const, cpu_tag> v,  // [B, N, D]
                       View<std::uint8_t const, cpu_tag> valid,                 // [B, N, 1]
                       int H, Workspace<cpu_tag>& ws) {
  attention_forward<T>(out.view(), q, k, v, valid, H, ws);
}

template <class T>
void attention_backward(Tensor<T, cpu_tag>& dq,                                     // [B, N, D]
                        Tensor<T, cpu_tag>& dk,                                     // [B, N, D]
                        Tensor<T, cpu_tag>& dv,                                     // [B, N, D]
                        View<cpu::detail::attention::Same<T> const, cpu_tag> dout,  // [B, N, D]
                        View<cpu::detail::attention::Same<T> const, cpu_tag> q,     // [B, N, D]
                        View<cpu::detail::attention::Same<T> const, cpu_tag> k,     // [B, N, D]
                        View<cpu::detail::attention::Same<T> const, cpu_tag> v,     // [B, N, D]
                        View<cpu::detail::attention::Same<T> const, cpu_tag> out,   // [B, N, D]
                        View<std::uint8_t const, cpu_tag> valid,                    // [B, N, 1]
                        int H, Workspace<cpu_tag>& ws) {
  attention_backward<T>(dq.view(), dk.view(), dv.view(), dout, q, k, v, out, valid, H, ws);
}

}  // namespace ponet
