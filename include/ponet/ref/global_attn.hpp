// Reference global aggregation, second stage (PONET.md GA), per batch b and head h:
//   z_i = q_h . k_ih / sqrt(dh) over valid i,  a = softmax(z),  g_h = sum_i a_i k_ih
// q is the first stage's masked mean [B, 1, D]. Saves the probabilities a [B, N, H] (the spec
// may spend memory; the lowerings save only each head's softmax max and sum).
// docs/ops.md#global-attention
#pragma once

#include <cmath>
#include <limits>

#include "ponet/ref/common.hpp"

namespace ponet::ref {

template <class T>
struct GlobalAttnForward {
  Tensor<T> g;  // [B, 1, D]
  Tensor<T> a;  // [B, N, H] softmax probabilities, 0 at padding
};

template <class T>
GlobalAttnForward<T> global_attn_forward(Tensor<T> const& q, Tensor<T> const& k, Mask const& valid,
                                         int H) {
  int const B = k.B(), N = k.N(), D = k.D(), dh = D / H;
  GlobalAttnForward<T> r{Tensor<T>(Shape3{B, 1, D}), Tensor<T>(Shape3{B, N, H})};
  for (int b = 0; b < B; ++b)
    for (int h = 0; h < H; ++h) {
      T zmax = -std::numeric_limits<T>::infinity();
      for (int i = 0; i < N; ++i) {
        if (!valid(b, i, 0)) continue;
        T z = 0;
        for (int c = h * dh; c < (h + 1) * dh; ++c) z += q(b, 0, c) * k(b, i, c);
        z /= std::sqrt(T(dh));
        r.a(b, i, h) = z;
        zmax = std::max(zmax, z);
      }
      T sum = 0;
      for (int i = 0; i < N; ++i)
        if (valid(b, i, 0)) sum += r.a(b, i, h) = std::exp(r.a(b, i, h) - zmax);
      for (int i = 0; i < N; ++i) {
        if (!valid(b, i, 0)) continue;
        r.a(b, i, h) /= sum;
        for (int c = h * dh; c < (h + 1) * dh; ++c) r.g(b, 0, c) += r.a(b, i, h) * k(b, i, c);
      }
    }
  return r;
}

template <class T>
struct GlobalAttnBackward {
  Tensor<T> dq;  // [B, 1, D]
  Tensor<T> dk;  // [B, N, D]
};

// da_i = dg_h . k_ih;  dz_i = a_i (da_i - sum_j a_j da_j);  dk_i = a_i dg + dz_i q / sqrt(dh);
// dq = sum_i dz_i k_i / sqrt(dh).
template <class T>
GlobalAttnBackward<T> global_attn_backward(Tensor<T> const& dg, Tensor<T> const& q,
                                           Tensor<T> const& k, Mask const& valid, int H,
                                           GlobalAttnForward<T> const& fwd) {
  int const B = k.B(), N = k.N(), D = k.D(), dh = D / H;
  GlobalAttnBackward<T> r{Tensor<T>(Shape3{B, 1, D}), Tensor<T>(k.shape())};
  for (int b = 0; b < B; ++b)
    for (int h = 0; h < H; ++h) {
      T mean_da = 0;  // sum_j a_j da_j
      for (int i = 0; i < N; ++i) {
        if (!valid(b, i, 0)) continue;
        T da = 0;
        for (int c = h * dh; c < (h + 1) * dh; ++c) da += dg(b, 0, c) * k(b, i, c);
        mean_da += fwd.a(b, i, h) * da;
      }
      for (int i = 0; i < N; ++i) {
        if (!valid(b, i, 0)) continue;
        T da = 0;
        for (int c = h * dh; c < (h + 1) * dh; ++c) da += dg(b, 0, c) * k(b, i, c);
        T a = fwd.a(b, i, h), dz = a * (da - mean_da) / std::sqrt(T(dh));
        for (int c = h * dh; c < (h + 1) * dh; ++c) {
          r.dk(b, i, c) = a * dg(b, 0, c) + dz * q(b, 0, c);
          r.dq(b, 0, c) += dz * k(b, i, c);
        }
      }
    }
  return r;
}

}  // namespace ponet::ref
