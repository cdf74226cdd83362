// Linear: y = x W^T + b with W [out, in] (PyTorch's layout), on the GEMM entry point.
//   backward  dx = dy W (overwritten; skipped when dx is empty),  dW += dy^T x,  db += colsum(dy)
// The caller keeps x until the backward. Initialised like PyTorch: U(-1/sqrt(in), 1/sqrt(in)).
// docs/nn.md#linear
#pragma once

#include <cmath>
#include <string>

#include "ponet/cpu/linalg.hpp"
#include "ponet/nn/params.hpp"

namespace ponet::nn {

template <class T, class Dev = cpu_tag>
class Linear {
 public:
  Linear() = default;
  Linear(Params<T, Dev>& p, std::string const& name, int in, int out, bool bias = true)
      : p_(&p), in_(in), out_(out), has_bias_(bias) {
    double bound = 1.0 / std::sqrt(double(in));
    w_ = p.add(name + ".weight", out, in, Init::uniform, bound);
    if (bias) b_ = p.add(name + ".bias", 1, out, Init::uniform, bound);
  }

  void forward(Mat<T, Dev> y, Mat<T const, Dev> x) const {
    check("forward", y.rows, y.cols, x);
    Mat<T const, Dev> const w(p_->value_mat(w_));
    if (has_bias_)
      gemm_add_row(y, x, false, w, true, static_cast<T const*>(p_->value(b_)));
    else
      gemm(y, x, false, w, true);
  }

  void backward(Mat<T, Dev> dx, Mat<T const, Dev> dy, Mat<T const, Dev> x) const {
    check("backward", dy.rows, dy.cols, x);
    if (dx.data) gemm(dx, dy, false, Mat<T const, Dev>(p_->value_mat(w_)), false);
    gemm(p_->grad_mat(w_), dy, true, x, false, T(1), T(1));
    if (has_bias_) add_column_sums(p_->grad(b_), dy);
  }

  int in() const { return in_; }
  int out() const { return out_; }
  ParamRef weight() const { return w_; }
  ParamRef bias() const { return b_; }

 private:
  void check(char const* what, int rows, int cols, Mat<T const, Dev> const& x) const {
    if (x.cols != in_ || cols != out_ || rows != x.rows)
      throw Error(std::string("Linear ") + what + ": x " + mat_shape(x.rows, x.cols) + " and y " +
                  mat_shape(rows, cols) + " for a layer " + mat_shape(in_, out_));
  }

  Params<T, Dev>* p_ = nullptr;
  ParamRef w_, b_;
  int in_ = 0, out_ = 0;
  bool has_bias_ = true;
};

}  // namespace ponet::nn
