// Reference FNet token mixing: y[b] = Re(DFT_N(DFT_D(x[b]))), the real part of the 2-D discrete
// Fourier transform of each sequence [N, D] over tokens and channels:
//   y[b,i,j] = sum over k, l of x[b,k,l] cos(2 pi (i k / N + j l / D))
// Linear with a symmetric matrix, so the backward is the same transform: dx = Re(DFT2(dy)).
// Saves nothing. docs/fnet.md
#pragma once

#include <cmath>
#include <vector>

#include "ponet/ref/common.hpp"

namespace ponet::ref {

// A direct DFT, no FFT: over channels first, then over tokens, O(N D (N + D)) per sequence.
// Angles are reduced exactly before std::cos/std::sin ((i k) mod N as an integer), so the
// twiddles are as accurate as T allows for any N.
template <class T>
Tensor<T> fourier_mix_forward(Tensor<T> const& x) {  // x [B, N, D] -> y [B, N, D]
  int const B = x.B(), N = x.N(), D = x.D();
  long double const two_pi = 6.283185307179586476925286766559L;
  std::vector<T> cos_n(N), sin_n(N), cos_d(D), sin_d(D);  // cos(2 pi m / N), m in [0, N)
  for (int m = 0; m < N; ++m) {
    cos_n[m] = T(std::cos(two_pi * m / N));
    sin_n[m] = T(std::sin(two_pi * m / N));
  }
  for (int m = 0; m < D; ++m) {
    cos_d[m] = T(std::cos(two_pi * m / D));
    sin_d[m] = T(std::sin(two_pi * m / D));
  }
  Tensor<T> y(x.shape());
  std::vector<T> re((std::size_t)N * D), im((std::size_t)N * D);  // [N, D] channel DFT
  for (int b = 0; b < B; ++b) {
    // z[k,j] = sum over l of x[b,k,l] e^{-2 pi i j l / D} = re - i im (re: cosines, im: sines)
    for (int k = 0; k < N; ++k)
      for (int j = 0; j < D; ++j) {
        T a = 0, s = 0;
        for (int l = 0; l < D; ++l) {
          int m = int((long long)j * l % D);
          a += x(b, k, l) * cos_d[m];
          s += x(b, k, l) * sin_d[m];
        }
        re[(std::size_t)k * D + j] = a;
        im[(std::size_t)k * D + j] = s;
      }
    // y[i,j] = Re(sum over k of z[k,j] e^{-2 pi i i k / N}), and Re((a - i s)(cos t - i sin t))
    // = a cos t - s sin t.
    for (int i = 0; i < N; ++i)
      for (int j = 0; j < D; ++j) {
        T sum = 0;
        for (int k = 0; k < N; ++k) {
          int m = int((long long)i * k % N);
          sum += re[(std::size_t)k * D + j] * cos_n[m] - im[(std::size_t)k * D + j] * sin_n[m];
        }
        y(b, i, j) = sum;
      }
  }
  return y;
}

// With C[(i,j),(k,l)] = cos(2 pi (i k / N + j l / D)), y = C x per sequence, so
// dx[k,l] = sum over i, j of dy[i,j] C[(i,j),(k,l)]. C is symmetric (swapping (i,j) with (k,l)
// leaves i k / N + j l / D unchanged), so dx = C dy: the forward transform of dy.
template <class T>
Tensor<T> fourier_mix_backward(Tensor<T> const& dy) {  // dy [B, N, D] -> dx [B, N, D]
  return fourier_mix_forward(dy);
}

}  // namespace ponet::ref
