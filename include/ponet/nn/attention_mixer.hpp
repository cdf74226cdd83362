// AttentionMixer: the Transformer baseline's token mixer, multi-head softmax attention with its
// projections: q, k, v as ONE GEMM against the concatenated weight [3D, D], attention computed
// block by block with an online softmax (ponet::attention_forward: O(N) memory per head, never
// the N x N matrix), and the output dense. Keys at padding are masked, padded queries output 0.
// No dropout on the attention probabilities (the LRA code has 0.1 there; blockwise kernels
// cannot drop probabilities without materialising them). docs/nn.md#baselines
#pragma once

#include <string>

#include "ponet/cpu/attention.hpp"
#include "ponet/nn/context.hpp"
#include "ponet/nn/linear.hpp"

namespace ponet::nn {

template <class T, class Dev = cpu_tag>
class AttentionMixer {
 public:
  struct Config {
    int D = 64;
    int heads = 2;
  };

  AttentionMixer() = default;
  AttentionMixer(Params<T, Dev>& p, std::string const& name, Config c)
      : cfg_(c), proj_(p, name + ".proj", c.D, 3 * c.D), out_(p, name + ".out", c.D, c.D) {
    check_heads("AttentionMixer", c.D, c.heads);
  }

  void forward(View<T, Dev> y, View<T const, Dev> x, Batch<Dev> const& batch) {
    Shape3 const s = x.shape();
    x_ = x;
    p_.resize(Shape3{s.B, s.N, 3 * s.D});
    a_.resize(s);
    proj_.forward(as_mat(p_.view()), as_mat(x));
    View<T const, Dev> P = p_.view();
    int const D = s.D;
    attention_forward(a_.view(), P.channels(0, D), P.channels(D, D), P.channels(2 * D, D),
                      batch.valid, cfg_.heads, ws_);
    out_.forward(as_mat(y), as_mat(a_.cview()));
  }

  void backward(View<T, Dev> dx, View<T const, Dev> dy, Batch<Dev> const& batch,
                Scratch<T, Dev>& scratch) {
    Shape3 const s = dy.shape();
    int const D = s.D;
    auto& da = scratch.get(mixer_a, s);
    auto& dp = scratch.get(mixer_b, Shape3{s.B, s.N, 3 * D});
    out_.backward(as_mat(da.view()), as_mat(dy), as_mat(a_.cview()));
    View<T const, Dev> P = p_.view();
    View<T, Dev> dP = dp.view();
    attention_backward(dP.channels(0, D), dP.channels(D, D), dP.channels(2 * D, D), da.cview(),
                       P.channels(0, D), P.channels(D, D), P.channels(2 * D, D), a_.cview(),
                       batch.valid, cfg_.heads, ws_);
    proj_.backward(as_mat(dx), as_mat(dP), as_mat(x_));
  }

 private:
  Config cfg_;
  Linear<T, Dev> proj_, out_;
  View<T const, Dev> x_;
  Tensor<T, Dev> p_, a_;  // projections [B, N, 3D], attention output [B, N, D]
  Workspace<Dev> ws_;
};

}  // namespace ponet::nn
