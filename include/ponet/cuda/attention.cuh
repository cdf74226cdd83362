// Multi-head softmax attention on the GPU, forward and backward: the overloads of
// cpu/attention.hpp for cuda_tag views. Spec: ref::attention_forward / _backward.
//   z_ij = q_i . k_j / sqrt(dh) over valid keys j;  out_i = softmax_j(z_ij) v_j;  0 at padded i
//   forward   tiled, FlashAttention style: a block per (b, h, 64 queries), a thread per query
//             keeping its q row and output accumulator in registers; key/value tiles staged in
//             shared memory; an online softmax in base 2 (rescaling only when the running max
//             grows). Never the N x N matrix: O(N) memory per head. Saves lse [B, H, N].
//   backward  D_i = dout_i . out_i; then two passes that each own their outputs, so no atomics:
//             dK, dV: a thread per key walks every query tile (p_ij from the saved lse,
//             dv += p dout_i, ds = p (dout_i . v_j - D_i), dk += ds q_i);
//             dQ: a thread per query walks every key tile (dq += ds k_j). Scores are recomputed.
// Head widths up to 128 (register arrays sized 32, 64 or 128). Deterministic: every sum runs in a
// fixed order. Untuned (CUDA cores, no tensor cores): the Transformer baseline, not a
// FlashAttention replacement. docs/cuda.md#attention
#pragma once

#include <cmath>
#include <string>

#include "ponet/core/tensor.hpp"
#include "ponet/core/workspace.hpp"
#include "ponet/cuda/common.cuh"
#include "ponet/cuda/memory.cuh"

namespace ponet {
namespace cuda::attention {

template <class T>
struct NoDeduce {
  using type = T;
};
// Keeps an argument out of template deduction, so Tensors and View<T> convert to View<T const>.
template <class T>
using Same = typename NoDeduce<T>::type;

// The workspace's tag for this operator's forward and backward.
template <class T>
struct Op {};

inline constexpr double log2e = 1.4426950408889634;

// Keys (or queries) staged per shared-memory tile, for register arrays of width DH.
template <class T, int DH>
inline constexpr int tile = DH * sizeof(T) <= 256 ? 32 : 16;
inline constexpr int rows_per_block = 64;  // queries (forward, dQ) or keys (dK, dV) per block

struct Shapes {
  int B, N, D, H, dh;
  float scale;  // 1 / sqrt(dh)  (double problems keep it in double via T(scale_d))
  double scale_d;
};

template <class T>
__device__ __forceinline__ T exp2_of(T x) {
  return exp2(x);
}

// Loads rows [r0, r0 + n) of head h of x into tile[n][DH], zero beyond N or dh.
template <class T, int DH>
__device__ __forceinline__ void load_tile(T (*tile_rows)[DH], View<T const, cuda_tag> x, int b,
                                          int h, int dh, int r0, int n, int N) {
  for (int e = threadIdx.x; e < n * DH; e += blockDim.x) {
    int const r = e / DH, c = e % DH;
    tile_rows[r][c] = (r0 + r < N && c < dh) ? x(b, r0 + r, h * dh + c) : T(0);
  }
}

template <class T, int DH>
__global__ void forward_kernel(View<T, cuda_tag> out, View<T const, cuda_tag> q,
                               View<T const, cuda_tag> k, View<T const, cuda_tag> v,
                               View<std::uint8_t const, cuda_tag> valid, T* lse, Shapes s) {
  constexpr int TK = tile<T, DH>;
  __shared__ T ks[TK][DH];
  __shared__ T vs[TK][DH];
  __shared__ bool kv[TK];
  int const bh = blockIdx.y, b = bh / s.H, h = bh % s.H;
  int const i = blockIdx.x * rows_per_block + threadIdx.x;
  bool const active = i < s.N && valid(b, i, 0) != 0;
  T const scale2 = T(s.scale_d * log2e);
  T qr[DH], o[DH];
#pragma unroll
  for (int c = 0; c < DH; ++c) {
    qr[c] = active && c < s.dh ? q(b, i, h * s.dh + c) * scale2 : T(0);
    o[c] = T(0);
  }
  T m = -INFINITY, l = T(0);  // running max (base-2 scores) and sum of 2^(z - m)
  for (int j0 = 0; j0 < s.N; j0 += TK) {
    int const n = s.N - j0 < TK ? s.N - j0 : TK;
    __syncthreads();  // the previous tile is consumed
    load_tile<T, DH>(ks, k, b, h, s.dh, j0, n, s.N);
    load_tile<T, DH>(vs, v, b, h, s.dh, j0, n, s.N);
    for (int r = threadIdx.x; r < n; r += blockDim.x) kv[r] = valid(b, j0 + r, 0) != 0;
    __syncthreads();
    if (!active) continue;
    for (int r = 0; r < n; ++r) {
      if (!kv[r]) continue;
      T z = T(0);
#pragma unroll
      for (int c = 0; c < DH; ++c) z += qr[c] * ks[r][c];
      if (z > m) {  // the running max grows: rescale what was summed so far
        T const f = exp2_of(m - z);
        l *= f;
#pragma unroll
        for (int c = 0; c < DH; ++c) o[c] *= f;
        m = z;
      }
      T const p = exp2_of(z - m);
      l += p;
#pragma unroll
      for (int c = 0; c < DH; ++c) o[c] += p * vs[r][c];
    }
  }
  if (i >= s.N) return;
  std::int64_t const at = (std::int64_t(b) * s.H + h) * s.N + i;
  if (!active) {
    for (int c = 0; c < s.dh; ++c) out(b, i, h * s.dh + c) = T(0);
    lse[at] = T(0);
    return;
  }
  T const inv = T(1) / l;  // query i is valid, so key i is: l >= 1
#pragma unroll
  for (int c = 0; c < DH; ++c)
    if (c < s.dh) out(b, i, h * s.dh + c) = o[c] * inv;
  lse[at] = T((double(m) + log2(double(l))) / log2e);  // natural log of the 1/sqrt(dh) scores
}

// dd[b, h, i] = dout_i . out_i over head h (0 at padded queries).
template <class T>
__global__ void dot_rows_kernel(View<T const, cuda_tag> dout, View<T const, cuda_tag> out,
                                View<std::uint8_t const, cuda_tag> valid, T* dd, Shapes s) {
  std::int64_t const n = std::int64_t(s.B) * s.H * s.N;
  for (std::int64_t idx = thread_index(); idx < n; idx += thread_stride()) {
    int const i = int(idx % s.N), bh = int(idx / s.N), b = bh / s.H, h = bh % s.H;
    T acc = T(0);
    if (valid(b, i, 0))
      for (int c = h * s.dh; c < (h + 1) * s.dh; ++c) acc += dout(b, i, c) * out(b, i, c);
    dd[idx] = acc;
  }
}

// dK, dV: a thread per key j, every query tile in order.
template <class T, int DH>
__global__ void backward_kv_kernel(View<T, cuda_tag> dk, View<T, cuda_tag> dv,
                                   View<T const, cuda_tag> dout, View<T const, cuda_tag> q,
                                   View<T const, cuda_tag> k, View<T const, cuda_tag> v,
                                   View<std::uint8_t const, cuda_tag> valid, T const* lse,
                                   T const* dd, Shapes s) {
  constexpr int TQ = tile<T, DH>;
  __shared__ T qs[TQ][DH];
  __shared__ T dos[TQ][DH];
  __shared__ T ls[TQ];  // lse in base 2
  __shared__ T ds_[TQ];
  __shared__ bool qv[TQ];
  int const bh = blockIdx.y, b = bh / s.H, h = bh % s.H;
  int const j = blockIdx.x * rows_per_block + threadIdx.x;
  bool const active = j < s.N && valid(b, j, 0) != 0;
  T const scale2 = T(s.scale_d * log2e);
  T kr[DH], vr[DH], dka[DH], dva[DH];
#pragma unroll
  for (int c = 0; c < DH; ++c) {
    kr[c] = active && c < s.dh ? k(b, j, h * s.dh + c) : T(0);
    vr[c] = active && c < s.dh ? v(b, j, h * s.dh + c) : T(0);
    dka[c] = dva[c] = T(0);
  }
  std::int64_t const row0 = (std::int64_t(b) * s.H + h) * s.N;
  for (int i0 = 0; i0 < s.N; i0 += TQ) {
    int const n = s.N - i0 < TQ ? s.N - i0 : TQ;
    __syncthreads();
    load_tile<T, DH>(qs, q, b, h, s.dh, i0, n, s.N);
    load_tile<T, DH>(dos, dout, b, h, s.dh, i0, n, s.N);
    for (int r = threadIdx.x; r < n; r += blockDim.x) {
      qv[r] = valid(b, i0 + r, 0) != 0;
      ls[r] = T(double(lse[row0 + i0 + r]) * log2e);
      ds_[r] = dd[row0 + i0 + r];
    }
    __syncthreads();
    if (!active) continue;
    for (int r = 0; r < n; ++r) {
      if (!qv[r]) continue;
      T z = T(0), dp = T(0);
#pragma unroll
      for (int c = 0; c < DH; ++c) {
        z += qs[r][c] * kr[c];
        dp += dos[r][c] * vr[c];
      }
      T const p = exp2_of(z * scale2 - ls[r]);
      T const dsv = p * (dp - ds_[r]);
#pragma unroll
      for (int c = 0; c < DH; ++c) {
        dva[c] += p * dos[r][c];
        dka[c] += dsv * qs[r][c];
      }
    }
  }
  if (j >= s.N) return;
  T const scale = T(s.scale_d);
#pragma unroll
  for (int c = 0; c < DH; ++c)
    if (c < s.dh) {
      dk(b, j, h * s.dh + c) = active ? dka[c] * scale : T(0);
      dv(b, j, h * s.dh + c) = active ? dva[c] : T(0);
    }
}

// dQ: a thread per query i, every key tile in order.
template <class T, int DH>
__global__ void backward_q_kernel(View<T, cuda_tag> dq, View<T const, cuda_tag> dout,
                                  View<T const, cuda_tag> q, View<T const, cuda_tag> k,
                                  View<T const, cuda_tag> v,
                                  View<std::uint8_t const, cuda_tag> valid, T const* lse,
                                  T const* dd, Shapes s) {
  constexpr int TK = tile<T, DH>;
  __shared__ T ks[TK][DH];
  __shared__ T vs[TK][DH];
  __shared__ bool kv[TK];
  int const bh = blockIdx.y, b = bh / s.H, h = bh % s.H;
  int const i = blockIdx.x * rows_per_block + threadIdx.x;
  bool const active = i < s.N && valid(b, i, 0) != 0;
  T const scale2 = T(s.scale_d * log2e);
  std::int64_t const at = (std::int64_t(b) * s.H + h) * s.N + i;
  T const l2 = active ? T(double(lse[at]) * log2e) : T(0);
  T const di = active ? dd[at] : T(0);
  T qr[DH], dor[DH], dqa[DH];
#pragma unroll
  for (int c = 0; c < DH; ++c) {
    qr[c] = active && c < s.dh ? q(b, i, h * s.dh + c) : T(0);
    dor[c] = active && c < s.dh ? dout(b, i, h * s.dh + c) : T(0);
    dqa[c] = T(0);
  }
  for (int j0 = 0; j0 < s.N; j0 += TK) {
    int const n = s.N - j0 < TK ? s.N - j0 : TK;
    __syncthreads();
    load_tile<T, DH>(ks, k, b, h, s.dh, j0, n, s.N);
    load_tile<T, DH>(vs, v, b, h, s.dh, j0, n, s.N);
    for (int r = threadIdx.x; r < n; r += blockDim.x) kv[r] = valid(b, j0 + r, 0) != 0;
    __syncthreads();
    if (!active) continue;
    for (int r = 0; r < n; ++r) {
      if (!kv[r]) continue;
      T z = T(0), dp = T(0);
#pragma unroll
      for (int c = 0; c < DH; ++c) {
        z += qr[c] * ks[r][c];
        dp += dor[c] * vs[r][c];
      }
      T const p = exp2_of(z * scale2 - l2);
      T const dsv = p * (dp - di);
#pragma unroll
      for (int c = 0; c < DH; ++c) dqa[c] += dsv * ks[r][c];
    }
  }
  if (i >= s.N) return;
  T const scale = T(s.scale_d);
#pragma unroll
  for (int c = 0; c < DH; ++c)
    if (c < s.dh) dq(b, i, h * s.dh + c) = active ? dqa[c] * scale : T(0);
}

template <class T>
Shapes make_shapes(char const* what, View<T const, cuda_tag> q, View<T const, cuda_tag> k,
                   View<T const, cuda_tag> v, View<std::uint8_t const, cuda_tag> valid, int H) {
  check_same_shape(what, "k", k.shape(), "q", q.shape());
  check_same_shape(what, "v", v.shape(), "q", q.shape());
  if (valid.B != q.B || valid.N != q.N || valid.D != 1)
    throw Error(std::string(what) + ": valid is " + to_string(valid.shape()) + " but q is " +
                to_string(q.shape()) + " (valid must be [B,N,1])");
  if (H < 1 || q.D % H != 0)
    throw Error(std::string(what) + ": H=" + std::to_string(H) + " does not divide D=" +
                std::to_string(q.D) + " (q is " + to_string(q.shape()) + ")");
  int const dh = q.D / H;
  if (dh > 128)
    throw Error(std::string(what) + ": head width dh=" + std::to_string(dh) +
                " exceeds the CUDA kernels' 128");
  double const scale = 1 / std::sqrt(double(dh < 1 ? 1 : dh));
  return {q.B, q.N, q.D, H, dh, float(scale), scale};
}

template <class T, class U>
void check_no_overlap(char const* what, char const* out_name, View<T, cuda_tag> const& out,
                      char const* in_name, View<U, cuda_tag> const& in) {
  if (may_overlap(out, in))
    throw Error(std::string(what) + ": " + out_name + " overlaps " + in_name);
}

// f(std::integral_constant<int, DH>) for the smallest supported DH >= dh.
template <class F>
void with_head_width(int dh, F&& f) {
  if (dh <= 32)
    f(std::integral_constant<int, 32>{});
  else if (dh <= 64)
    f(std::integral_constant<int, 64>{});
  else
    f(std::integral_constant<int, 128>{});
}

}  // namespace cuda::attention

// out = softmax attention of q, k, v per head over valid keys; 0 at padded queries. Saves each
// query's log-sum-exp lse[b, h, i] in ws's first saved slot, for attention_backward with the same
// ws. Spec: ref::attention_forward.
template <class T>
void attention_forward(View<T, cuda_tag> out,                             // [B, N, D]
                       View<cuda::attention::Same<T> const, cuda_tag> q,  // [B, N, D]
                       View<cuda::attention::Same<T> const, cuda_tag> k,  // [B, N, D]
                       View<cuda::attention::Same<T> const, cuda_tag> v,  // [B, N, D]
                       View<std::uint8_t const, cuda_tag> valid,          // [B, N, 1]
                       int H, Workspace<cuda_tag>& ws) {
  namespace at = cuda::attention;
  char const* what = "attention_forward";
  at::Shapes const s = at::make_shapes<T>(what, q, k, v, valid, H);
  check_same_shape(what, "out", out.shape(), "q", q.shape());
  at::check_no_overlap(what, "out", out, "q", q);
  at::check_no_overlap(what, "out", out, "k", k);
  at::check_no_overlap(what, "out", out, "v", v);
  ws.begin_forward<at::Op<T>>(Mode::train, out.shape());
  T* lse = ws.saved<T>(std::size_t(s.B) * s.H * s.N);  // [B, H, N]
  if (out.shape().numel() > 0)
    at::with_head_width(s.dh, [&](auto dh) {
      constexpr int DH = decltype(dh)::value;
      dim3 const grid(unsigned(cuda::ceil_div(s.N, at::rows_per_block)), unsigned(s.B * s.H));
      cuda::launch("ponet::cuda::attention::forward_kernel", at::forward_kernel<T, DH>, grid,
                   at::rows_per_block, 0, out, q, k, v, valid, lse, s);
    });
  ws.end_forward();
}

// The gradients of attention_forward's inputs, overwritten: zero at padded tokens. Reads the lse
// attention_forward saved in ws, and its inputs and output, which must be unchanged.
// Spec: ref::attention_backward.
template <class T>
void attention_backward(View<T, cuda_tag> dq,                                 // [B, N, D]
                        View<cuda::attention::Same<T>, cuda_tag> dk,          // [B, N, D]
                        View<cuda::attention::Same<T>, cuda_tag> dv,          // [B, N, D]
                        View<cuda::attention::Same<T> const, cuda_tag> dout,  // [B, N, D]
                        View<cuda::attention::Same<T> const, cuda_tag> q,     // [B, N, D]
                        View<cuda::attention::Same<T> const, cuda_tag> k,     // [B, N, D]
                        View<cuda::attention::Same<T> const, cuda_tag> v,     // [B, N, D]
                        View<cuda::attention::Same<T> const, cuda_tag> out,   // [B, N, D]
                        View<std::uint8_t const, cuda_tag> valid,             // [B, N, 1]
                        int H, Workspace<cuda_tag>& ws) {
  namespace at = cuda::attention;
  char const* what = "attention_backward";
  at::Shapes const s = at::make_shapes<T>(what, q, k, v, valid, H);
  check_same_shape(what, "dout", dout.shape(), "q", q.shape());
  check_same_shape(what, "out", out.shape(), "q", q.shape());
  check_same_shape(what, "dq", dq.shape(), "q", q.shape());
  check_same_shape(what, "dk", dk.shape(), "q", q.shape());
  check_same_shape(what, "dv", dv.shape(), "q", q.shape());
  at::check_no_overlap(what, "dq", dq, "dk", dk);
  at::check_no_overlap(what, "dq", dq, "dv", dv);
  at::check_no_overlap(what, "dk", dk, "dv", dv);
  std::pair<char const*, View<T const, cuda_tag>> const inputs[] = {
      {"dout", dout}, {"q", q}, {"k", k}, {"v", v}, {"out", out}};
  std::pair<char const*, View<T, cuda_tag>> const grads[] = {{"dq", dq}, {"dk", dk}, {"dv", dv}};
  for (auto const& [gname, gv] : grads)
    for (auto const& [iname, iv] : inputs) at::check_no_overlap(what, gname, gv, iname, iv);
  ws.begin_backward<at::Op<T>>(q.shape());
  struct Restore {
    Workspace<cuda_tag>& ws;
    ~Restore() { ws.end_backward(); }
  } restore{ws};
  T const* lse = ws.saved<T>(std::size_t(s.B) * s.H * s.N);
  if (q.shape().numel() == 0) return;
  T* dd = ws.scratch<T>(std::size_t(s.B) * s.H * s.N);
  cuda::launch("ponet::cuda::attention::dot_rows_kernel", at::dot_rows_kernel<T>,
               cuda::grid_for(std::int64_t(s.B) * s.H * s.N), cuda::block_threads, 0, dout, out,
               valid, dd, s);
  at::with_head_width(s.dh, [&](auto dh) {
    constexpr int DH = decltype(dh)::value;
    dim3 const grid(unsigned(cuda::ceil_div(s.N, at::rows_per_block)), unsigned(s.B * s.H));
    cuda::launch("ponet::cuda::attention::backward_kv_kernel", at::backward_kv_kernel<T, DH>, grid,
                 at::rows_per_block, 0, dk, dv, dout, q, k, v, valid, lse,
                 static_cast<T const*>(dd), s);
    cuda::launch("ponet::cuda::attention::backward_q_kernel", at::backward_q_kernel<T, DH>, grid,
                 at::rows_per_block, 0, dq, dout, q, k, v, valid, lse, static_cast<T const*>(dd),
                 s);
  });
}

// The same with tensors for the outputs written (inputs convert to views by themselves).
template <class T>
void attention_forward(Tensor<T, cuda_tag>& out, View<cuda::attention::Same<T> const, cuda_tag> q,
                       View<cuda::attention::Same<T> const, cuda_tag> k,
                       View<cuda::attention::Same<T> const, cuda_tag> v,
                       View<std::uint8_t const, cuda_tag> valid, int H, Workspace<cuda_tag>& ws) {
  attention_forward<T>(out.view(), q, k, v, valid, H, ws);
}

}  // namespace ponet
