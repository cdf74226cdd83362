// Helpers for the nn tests: finite differences over a model's flat parameter buffer, sampled per
// parameter so every weight matrix, bias and table is checked without evaluating thousands of
// perturbed forwards.
#pragma once

#include <ponet/nn.hpp>

#include "../testing.hpp"

namespace testing {

struct FdReport {
  double worst = 0;   // the largest norm-wise relative error over the parameters
  std::string where;  // which parameter
};

// For each parameter, up to `per_param` entries spread over it: compares grads (already
// computed) with central differences of loss(). Norm-wise relative error per parameter.
template <class T>
FdReport check_param_grads(ponet::nn::Params<T>& params, std::function<double()> const& loss,
                           int per_param = 16, double step = 1e-5) {
  FdReport r;
  for (auto const& e : params.entries()) {
    std::size_t n = e.ref.size();
    std::size_t stride = std::max<std::size_t>(1, n / per_param);
    double diff = 0, scale = 0;
    for (std::size_t k = 0; k < n; k += stride) {
      T& w = params.value(e.ref)[k];
      T keep = w;
      w = keep + step;
      double up = loss();
      w = keep - step;
      double down = loss();
      w = keep;
      double fd = (up - down) / (2 * step), an = params.grad(e.ref)[k];
      diff = std::max(diff, std::abs(fd - an));
      scale = std::max(scale, std::abs(fd));
    }
    double rel = scale > 1e-12 ? diff / scale : diff;
    if (rel > r.worst) {
      r.worst = rel;
      r.where = e.name;
    }
  }
  return r;
}

}  // namespace testing
