// LayerNorm over channels (PyTorch's nn.LayerNorm(D, eps)): gamma ones, beta zeros. Saves each
// row's mean and 1/std for the backward; the caller keeps x. docs/nn.md#layer-norm
#pragma once

#include <string>

#include "ponet/cpu/layer_norm.hpp"
#include "ponet/nn/params.hpp"

namespace ponet::nn {

template <class T, class Dev = cpu_tag>
class LayerNorm {
 public:
  LayerNorm() = default;
  LayerNorm(Params<T, Dev>& p, std::string const& name, int D, double eps) : p_(&p), eps_(T(eps)) {
    gamma_ = p.add(name + ".weight", 1, D, Init::ones);
    beta_ = p.add(name + ".bias", 1, D, Init::zeros);
  }

  void forward(Mat<T, Dev> y, Mat<T const, Dev> x) {
    stats_.resize(Shape3{1, 2, x.rows});
    layer_norm_forward(y, x, p_->value(gamma_), p_->value(beta_), eps_, stats_.data(),
                       stats_.data() + x.rows);
  }
  // dx is overwritten; dgamma and dbeta accumulate.
  void backward(Mat<T, Dev> dx, Mat<T const, Dev> dy, Mat<T const, Dev> x) {
    layer_norm_backward(dx, dy, x, p_->value(gamma_), stats_.data(), stats_.data() + x.rows,
                        p_->grad(gamma_), p_->grad(beta_));
  }

 private:
  Params<T, Dev>* p_ = nullptr;
  ParamRef gamma_, beta_;
  T eps_ = T(1e-5);
  Tensor<T, Dev> stats_;  // mean and rstd per row
};

}  // namespace ponet::nn
