// PoNetMixer: PoNet's token mixer as a layer (PONET.md): the five projections q, k, o, sg, lc as
// ONE GEMM against the concatenated weight [5D, D], the fused mixing expression, and the output
// dense. The backward runs the expression's backward into the five slices of one [B, N, 5D]
// gradient, so the projections' backward is one GEMM too. docs/nn.md#ponet-mixer
#pragma once

#include <string>

#include "ponet/core/lowering.hpp"
#include "ponet/expr/fuse.hpp"
#include "ponet/nn/context.hpp"
#include "ponet/nn/linear.hpp"
#include "ponet/ponet.hpp"

namespace ponet::nn {

template <class T, class Dev = cpu_tag>
class PoNetMixer {
 public:
  struct Config {
    int D = 64;
    int heads = 2;
    int window = 3;
  };

  PoNetMixer() = default;
  PoNetMixer(Params<T, Dev>& p, std::string const& name, Config c)
      : cfg_(c),
        proj_(p, name + ".proj", c.D, 5 * c.D),  // rows: q, k, o, segment, local
        out_(p, name + ".out", c.D, c.D) {
    check_heads("PoNetMixer", c.D, c.heads);
  }

  void forward(View<T, Dev> y, View<T const, Dev> x, Batch<Dev> const& batch) {
    Shape3 const s = x.shape();
    x_ = x;
    p_.resize(Shape3{s.B, s.N, 5 * s.D});
    m_.resize(s);
    proj_.forward(as_mat(p_.view()), as_mat(x));
    auto e = expr::mixing(args(p_.view(), batch));
    if (batch.train)
      ponet::forward(m_, e, ws_);
    else
      ponet::assign(m_, e, ws_);
    out_.forward(as_mat(y), as_mat(m_.cview()));
  }

  // dx overwritten; parameter gradients accumulate. Needs a training forward.
  void backward(View<T, Dev> dx, View<T const, Dev> dy, Batch<Dev> const& batch,
                Scratch<T, Dev>& scratch) {
    Shape3 const s = dy.shape();
    auto& dm = scratch.get(mixer_a, s);
    auto& dp = scratch.get(mixer_b, Shape3{s.B, s.N, 5 * s.D});
    out_.backward(as_mat(dm.view()), as_mat(dy), as_mat(m_.cview()));
    View<T const, Dev> P = p_.view();
    View<T, Dev> dP = dp.view();
    int const D = s.D;
    ponet::backward(expr::mixing(args(P, batch)), dm, ws_,
                    {{P.channels(0, D), dP.channels(0, D)},
                     {P.channels(D, D), dP.channels(D, D)},
                     {P.channels(2 * D, D), dP.channels(2 * D, D)},
                     {P.channels(3 * D, D), dP.channels(3 * D, D)},
                     {P.channels(4 * D, D), dP.channels(4 * D, D)}});
    proj_.backward(as_mat(dx), as_mat(dP), as_mat(x_));
  }

  Linear<T, Dev> const& projections() const { return proj_; }
  Linear<T, Dev> const& output() const { return out_; }

 private:
  MixingArgs<T, Dev> args(View<T const, Dev> P, Batch<Dev> const& batch) const {
    int const D = cfg_.D;
    return {P.channels(0, D),     P.channels(D, D), P.channels(2 * D, D), P.channels(3 * D, D),
            P.channels(4 * D, D), batch.valid,      batch.pool,           batch.segments,
            cfg_.heads,           cfg_.window};
  }

  Config cfg_;
  Linear<T, Dev> proj_, out_;
  View<T const, Dev> x_;
  Tensor<T, Dev> p_, m_;  // projections [B, N, 5D], mixing output [B, N, D]
  Workspace<Dev> ws_;
};

}  // namespace ponet::nn
