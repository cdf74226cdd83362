// LayerNorm over the last dimension, per row of a matrix [rows, D]:
//   forward   y = (x - mean) * rstd * gamma + beta,  rstd = 1 / sqrt(var + eps)  (biased var)
//   backward  xh = (x - mean) * rstd,  g = dy * gamma
//             dx = rstd * (g - mean(g) - xh * mean(g * xh));  dgamma += sum dy * xh;  dbeta += sum
//             dy
// Saves mean and rstd per row. Parameter gradients are summed in row blocks of 256, combined in
// block order (the same bits on any thread count). docs/nn.md#layer-norm
#pragma once

#include <cmath>

#include "ponet/core/matrix.hpp"
#include "ponet/cpu/chunks.hpp"
#include "ponet/cpu/parallel.hpp"

namespace ponet {

namespace cpu::detail {
template <class T, class F>
PONET_INLINE T row_sum(int D, F&& f) {  // sum over c of f(c) with packets, then a scalar tail
  using V = Batch<T>;
  constexpr int W = simd_width<T>;
  V acc = Lane<V>::zero();
  int c = 0;
  for (; c + W <= D; c += W) acc = acc + f(LaneTag<V>{}, c);
  T s = hadd<T>(acc);
  for (; c < D; ++c) s += f(LaneTag<T>{}, c);
  return s;
}
}  // namespace cpu::detail

template <class T>
void layer_norm_forward(Mat<T, cpu_tag> y, Mat<T const, cpu_tag> x, T const* gamma, T const* beta,
                        T eps, T* mean, T* rstd) {
  if (y.rows != x.rows || y.cols != x.cols)
    throw Error("layer_norm: y " + mat_shape(y.rows, y.cols) + " but x " +
                mat_shape(x.rows, x.cols));
  int const D = x.cols;
  cpu::parallel_for((x.rows + 15) / 16, [&](int blk) {
    for (int r = blk * 16; r < std::min(x.rows, blk * 16 + 16); ++r) {
      T const* xr = x.row(r);
      T* yr = y.row(r);
      T const mu =
          cpu::detail::row_sum<T>(
              D,
              [&](auto tag, int c) { return Lane<cpu::lane_of_t<decltype(tag)>>::load(xr + c); }) /
          T(D);
      T const var = cpu::detail::row_sum<T>(D,
                                            [&](auto tag, int c) {
                                              using L = cpu::lane_of_t<decltype(tag)>;
                                              L d = Lane<L>::load(xr + c) - Lane<L>::broadcast(mu);
                                              return d * d;
                                            }) /
                    T(D);
      T const rs = T(1) / std::sqrt(var + eps);
      mean[r] = mu;
      rstd[r] = rs;
      cpu::for_each_chunk<T>(0, D, [&](auto tag, auto kc, int c0) {
        using L = cpu::lane_of_t<decltype(tag)>;
        constexpr int K = decltype(kc)::value, w = Lane<L>::width;
        for (int k = 0; k < K; ++k) {
          int c = c0 + k * w;
          L xh = (Lane<L>::load(xr + c) - Lane<L>::broadcast(mu)) * Lane<L>::broadcast(rs);
          Lane<L>::store(yr + c, xh * Lane<L>::load(gamma + c) + Lane<L>::load(beta + c));
        }
      });
    }
  });
}

template <class T>
void layer_norm_backward(Mat<T, cpu_tag> dx, Mat<T const, cpu_tag> dy, Mat<T const, cpu_tag> x,
                         T const* gamma, T const* mean, T const* rstd, T* dgamma, T* dbeta) {
  if (dx.rows != x.rows || dx.cols != x.cols || dy.rows != x.rows || dy.cols != x.cols)
    throw Error("layer_norm backward: dx " + mat_shape(dx.rows, dx.cols) + ", dy " +
                mat_shape(dy.rows, dy.cols) + ", x " + mat_shape(x.rows, x.cols));
  int const D = x.cols, blocks = (x.rows + 255) / 256;
  struct Partial;
  T* partial = cpu::reusable<Partial, T>((std::size_t)blocks * 2 * D);  // per block: dgamma, dbeta
  cpu::parallel_for(blocks, [&](int blk) {
    T* pg = partial + (std::size_t)blk * 2 * D;
    T* pb = pg + D;
    for (int c = 0; c < 2 * D; ++c) pg[c] = T(0);
    for (int r = blk * 256; r < std::min(x.rows, blk * 256 + 256); ++r) {
      T const *xr = x.row(r), *dyr = dy.row(r);
      T* dxr = dx.row(r);
      T const mu = mean[r], rs = rstd[r];
      auto xhat = [&](auto tag, int c) {
        using L = cpu::lane_of_t<decltype(tag)>;
        return (Lane<L>::load(xr + c) - Lane<L>::broadcast(mu)) * Lane<L>::broadcast(rs);
      };
      auto g = [&](auto tag, int c) {
        using L = cpu::lane_of_t<decltype(tag)>;
        return Lane<L>::load(dyr + c) * Lane<L>::load(gamma + c);
      };
      T const mg = cpu::detail::row_sum<T>(D, g) / T(D);
      T const mgx =
          cpu::detail::row_sum<T>(D, [&](auto tag, int c) { return g(tag, c) * xhat(tag, c); }) /
          T(D);
      cpu::for_each_chunk<T>(0, D, [&](auto tag, auto kc, int c0) {
        using L = cpu::lane_of_t<decltype(tag)>;
        constexpr int K = decltype(kc)::value, w = Lane<L>::width;
        for (int k = 0; k < K; ++k) {
          int c = c0 + k * w;
          L xh = xhat(tag, c);
          Lane<L>::store(dxr + c, Lane<L>::broadcast(rs) * (g(tag, c) - Lane<L>::broadcast(mg) -
                                                            xh * Lane<L>::broadcast(mgx)));
          L d = Lane<L>::load(dyr + c);
          Lane<L>::store(pg + c, Lane<L>::load(pg + c) + d * xh);
          Lane<L>::store(pb + c, Lane<L>::load(pb + c) + d);
        }
      });
    }
  });
  for (int blk = 0; blk < blocks; ++blk)
    for (int c = 0; c < D; ++c) {
      dgamma[c] += partial[(std::size_t)blk * 2 * D + c];
      dbeta[c] += partial[(std::size_t)blk * 2 * D + D + c];
    }
}

}  // namespace ponet
