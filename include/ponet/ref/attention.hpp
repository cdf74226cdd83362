// Reference multi-head softmax attention, the Transformer baseline. Per batch b, head h (channels
// [h*dh, (h+1)*dh)) and valid query i: z_ij = q_i . k_j / sqrt(dh) over valid keys j,
// lse_i = log sum_j exp(z_ij), out_i = sum_j exp(z_ij - lse_i) v_j. q, k, v, out [B, N, D], valid
// [B, N, 1]. Padded keys are in no softmax; padded queries output 0 and get zero gradient (the
// LRA code's -1e6 key bias and computed padded rows differ only in rows masked downstream).
// Saves lse [B, N, H], 0 at padded queries. docs/ops.md#attention
#pragma once

#include <cmath>
#include <limits>
#include <string>

#include "ponet/ref/common.hpp"

namespace ponet::ref {

namespace detail {
// Throws ponet::Error unless q, k, v share one shape, valid is [B, N, 1] and H divides D.
inline void check_attention(char const* what, Shape3 q, Shape3 k, Shape3 v, Shape3 valid, int H) {
  check_same_shape(what, "k", k, "q", q);
  check_same_shape(what, "v", v, "q", q);
  if (valid.B != q.B || valid.N != q.N || valid.D != 1)
    throw Error(std::string(what) + ": valid is " + to_string(valid) + " but q is " + to_string(q) +
                " (valid must be [B,N,1])");
  if (H < 1 || q.D % H != 0)
    throw Error(std::string(what) + ": H=" + std::to_string(H) +
                " does not divide D=" + std::to_string(q.D) + " (q is " + to_string(q) + ")");
}
}  // namespace detail

template <class T>
struct AttentionForward {
  Tensor<T> out;  // [B, N, D]
  Tensor<T> lse;  // [B, N, H] log-sum-exp of each valid query's scores; 0 at invalid queries
};

// A sequence with no valid token outputs 0: all its queries are padded.
template <class T>
AttentionForward<T> attention_forward(Tensor<T> const& q,  // [B, N, D]
                                      Tensor<T> const& k,  // [B, N, D]
                                      Tensor<T> const& v,  // [B, N, D]
                                      Mask const& valid,   // [B, N, 1]
                                      int H) {
  detail::check_attention("ref::attention", q.shape(), k.shape(), v.shape(), valid.shape(), H);
  int const B = q.B(), N = q.N(), D = q.D(), dh = D / H;
  T const scale = T(1) / std::sqrt(T(dh));
  AttentionForward<T> r{Tensor<T>(q.shape()), Tensor<T>(Shape3{B, N, H})};
  Tensor<T> z(Shape3{1, 1, N});  // one query's scores
  for (int b = 0; b < B; ++b)
    for (int h = 0; h < H; ++h)
      for (int i = 0; i < N; ++i) {
        if (!valid(b, i, 0)) continue;  // padded query: out = 0, lse = 0
        T zmax = -std::numeric_limits<T>::infinity();
        for (int j = 0; j < N; ++j) {
          if (!valid(b, j, 0)) continue;
          T s = 0;
          for (int c = h * dh; c < (h + 1) * dh; ++c) s += q(b, i, c) * k(b, j, c);
          z(0, 0, j) = s * scale;
          zmax = std::max(zmax, z(0, 0, j));
        }
        T sum = 0;  // query i is valid, so key i is too: sum >= 1
        for (int j = 0; j < N; ++j)
          if (valid(b, j, 0)) sum += z(0, 0, j) = std::exp(z(0, 0, j) - zmax);
        for (int j = 0; j < N; ++j) {
          if (!valid(b, j, 0)) continue;
          T p = z(0, 0, j) / sum;
          for (int c = h * dh; c < (h + 1) * dh; ++c) r.out(b, i, c) += p * v(b, j, c);
        }
        r.lse(b, i, h) = zmax + std::log(sum);
      }
  return r;
}

template <class T>
struct AttentionBackward {
  Tensor<T> dq;  // [B, N, D]
  Tensor<T> dk;  // [B, N, D]
  Tensor<T> dv;  // [B, N, D]
};

// Over valid i, j, per head, with p_ij = exp(z_ij - lse_i):
//   dp_ij = dout_i . v_j;  dz_ij = p_ij (dp_ij - sum_l p_il dp_il)
//   dq_i = sum_j dz_ij k_j / sqrt(dh);  dk_j = sum_i dz_ij q_i / sqrt(dh);  dv_j = sum_i p_ij
//   dout_i
// Zero at padded tokens.
template <class T>
AttentionBackward<T> attention_backward(Tensor<T> const& dout,  // [B, N, D]
                                        Tensor<T> const& q,     // [B, N, D]
                                        Tensor<T> const& k,     // [B, N, D]
                                        Tensor<T> const& v,     // [B, N, D]
                                        Mask const& valid,      // [B, N, 1]
                                        int H, AttentionForward<T> const& fwd) {
  detail::check_attention("ref::attention_backward", q.shape(), k.shape(), v.shape(), valid.shape(),
                          H);
  check_same_shape("ref::attention_backward", "dout", dout.shape(), "q", q.shape());
  check_same_shape("ref::attention_backward", "lse", fwd.lse.shape(), "[B,N,H]",
                   Shape3{q.B(), q.N(), H});
  int const B = q.B(), N = q.N(), D = q.D(), dh = D / H;
  T const scale = T(1) / std::sqrt(T(dh));
  AttentionBackward<T> r{Tensor<T>(q.shape()), Tensor<T>(q.shape()), Tensor<T>(q.shape())};
  Tensor<T> p(Shape3{1, 1, N}), dp(Shape3{1, 1, N});  // one query's probabilities, their adjoints
  for (int b = 0; b < B; ++b)
    for (int h = 0; h < H; ++h)
      for (int i = 0; i < N; ++i) {
        if (!valid(b, i, 0)) continue;
        T mean_dp = 0;  // sum_j p_ij dp_ij
        for (int j = 0; j < N; ++j) {
          if (!valid(b, j, 0)) continue;
          T s = 0, d = 0;
          for (int c = h * dh; c < (h + 1) * dh; ++c) {
            s += q(b, i, c) * k(b, j, c);
            d += dout(b, i, c) * v(b, j, c);
          }
          p(0, 0, j) = std::exp(s * scale - fwd.lse(b, i, h));
          dp(0, 0, j) = d;
          mean_dp += p(0, 0, j) * d;
        }
        for (int j = 0; j < N; ++j) {
          if (!valid(b, j, 0)) continue;
          T dz = p(0, 0, j) * (dp(0, 0, j) - mean_dp) * scale;
          for (int c = h * dh; c < (h + 1) * dh; ++c) {
            r.dq(b, i, c) += dz * k(b, j, c);
            r.dk(b, j, c) += dz * q(b, i, c);
            r.dv(b, j, c) += p(0, 0, j) * dout(b, i, c);
          }
        }
      }
  return r;
}

}  // namespace ponet::ref
