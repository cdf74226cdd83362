// Encoder blocks around any token mixer (PoNetMixer, AttentionMixer, FNetMixer), both styles of
// PONET.md. The mixer includes its projections and output dense.
//   PreLNBlock  (LRA):  x1 = x + drop(mix(LN1(x)));  y = x1 + drop(W2 drop(GELU(W1 LN2(x1))))
//   PostLNBlock (BERT): a = LN1(x + drop(mix(x)));   y = LN2(a + drop(W2 GELU(W1 a)))
// Residuals, GELU and dropout are expressions (fused passes with their backward). Each block
// keeps the activations its backward needs; backward temporaries come from the shared Scratch.
// docs/nn.md#blocks
#pragma once

#include <string>

#include "ponet/core/lowering.hpp"
#include "ponet/expr/activation.hpp"
#include "ponet/expr/elementwise.hpp"
#include "ponet/nn/context.hpp"
#include "ponet/nn/layer_norm.hpp"
#include "ponet/nn/linear.hpp"
#include "ponet/ponet.hpp"

namespace ponet::nn {

struct BlockConfig {
  int D = 64;
  int ffn = 128;
  double dropout = 0.1;
  double ln_eps = 1e-5;
  int layer = 0;  // index, for dropout seeds
};

// What both styles share: the configuration, running an expression (saving for the backward
// only in training), and dropout seeds per call site.
template <class T, class Dev>
class BlockBase {
 protected:
  explicit BlockBase(BlockConfig c) : cfg_(c) {}
  template <class Dst, class E>
  static void run(Dst&& dst, expr::Expr<E> const& e, Workspace<Dev>& ws, Batch<Dev> const& b) {
    if (b.train)
      ponet::forward(dst, e, ws);
    else
      ponet::assign(dst, e, ws);
  }
  std::uint64_t seed(Batch<Dev> const& b, int site) const {
    return dropout_seed(b.seed, cfg_.layer, site);
  }
  BlockConfig cfg_;
};

template <class Mixer, class T, class Dev = cpu_tag>
class PreLNBlock : BlockBase<T, Dev> {
  using Base = BlockBase<T, Dev>;
  using Base::cfg_;
  using Base::run;
  using Base::seed;

 public:
  PreLNBlock(Params<T, Dev>& p, std::string const& name, BlockConfig c,
             typename Mixer::Config mixer)
      : Base(c),
        ln1_(p, name + ".ln1", c.D, c.ln_eps),
        mixer_(p, name + ".mixer", mixer),
        ln2_(p, name + ".ln2", c.D, c.ln_eps),
        ff1_(p, name + ".ffn1", c.D, c.ffn),
        ff2_(p, name + ".ffn2", c.ffn, c.D) {}

  void forward(View<T, Dev> y, View<T const, Dev> x, Batch<Dev> const& batch) {
    Shape3 const s = x.shape(), sf{s.B, s.N, cfg_.ffn};
    for (auto* t : {&h1_, &m_, &x1_, &h2_, &f2_}) t->resize(s);
    for (auto* t : {&f1_, &g_}) t->resize(sf);
    x_ = x;
    double const p = batch.train ? cfg_.dropout : 0.0;
    ln1_.forward(as_mat(h1_.view()), as_mat(x));
    mixer_.forward(m_, h1_, batch);
    run(x1_, x + expr::dropout(m_, p, seed(batch, 0)), ws_[0], batch);
    ln2_.forward(as_mat(h2_.view()), as_mat(x1_.cview()));
    ff1_.forward(as_mat(f1_.view()), as_mat(h2_.cview()));
    run(g_, expr::dropout(expr::gelu(f1_), p, seed(batch, 1)), ws_[1], batch);
    ff2_.forward(as_mat(f2_.view()), as_mat(g_.cview()));
    run(y, x1_ + expr::dropout(f2_, p, seed(batch, 2)), ws_[2], batch);
  }

  void backward(View<T, Dev> dx, View<T const, Dev> dy, Batch<Dev> const& batch,
                Scratch<T, Dev>& scratch) {
    Shape3 const s = dy.shape(), sf{s.B, s.N, cfg_.ffn};
    double const p = cfg_.dropout;
    auto& dx1 = scratch.get(block_a, s);
    auto& df2 = scratch.get(block_b, s);
    auto& dg = scratch.get(block_c, sf);
    auto& df1 = scratch.get(block_d, sf);
    // y = x1 + drop(f2)
    ponet::backward(x1_ + expr::dropout(f2_, p, seed(batch, 2)), dy, ws_[2],
                    {{x1_, dx1}, {f2_, df2}});
    ff2_.backward(as_mat(dg.view()), as_mat(df2.cview()), as_mat(g_.cview()));
    ponet::backward(expr::dropout(expr::gelu(f1_), p, seed(batch, 1)), dg, ws_[1], {{f1_, df1}});
    auto& dh2 = df2;  // reuse: df2 is consumed
    ff1_.backward(as_mat(dh2.view()), as_mat(df1.cview()), as_mat(h2_.cview()));
    auto& dtmp = scratch.get(block_c, s);  // dg is consumed
    ln2_.backward(as_mat(dtmp.view()), as_mat(dh2.cview()), as_mat(x1_.cview()));
    ponet::assign(dx1, expr::as_expr(dx1) + dtmp);
    // x1 = x + drop(m)
    auto& dm = dh2;
    ponet::backward(x_ + expr::dropout(m_, p, seed(batch, 0)), dx1, ws_[0], {{m_, dm}});
    auto& dh1 = scratch.get(block_d, s);
    mixer_.backward(dh1, dm, batch, scratch);
    ln1_.backward(as_mat(dtmp.view()), as_mat(dh1.cview()), as_mat(x_));
    ponet::assign(dx, expr::as_expr(dx1) + dtmp);
  }

  Mixer& mixer() { return mixer_; }

 private:
  LayerNorm<T, Dev> ln1_;
  Mixer mixer_;
  LayerNorm<T, Dev> ln2_;
  Linear<T, Dev> ff1_, ff2_;
  View<T const, Dev> x_;
  Tensor<T, Dev> h1_, m_, x1_, h2_, f1_, g_, f2_;
  Workspace<Dev> ws_[3];
};

template <class Mixer, class T, class Dev = cpu_tag>
class PostLNBlock : BlockBase<T, Dev> {
  using Base = BlockBase<T, Dev>;
  using Base::cfg_;
  using Base::run;
  using Base::seed;

 public:
  PostLNBlock(Params<T, Dev>& p, std::string const& name, BlockConfig c,
              typename Mixer::Config mixer)
      : Base(c),
        mixer_(p, name + ".mixer", mixer),
        ln1_(p, name + ".ln1", c.D, c.ln_eps),
        ff1_(p, name + ".ffn1", c.D, c.ffn),
        ff2_(p, name + ".ffn2", c.ffn, c.D),
        ln2_(p, name + ".ln2", c.D, c.ln_eps) {}

  void forward(View<T, Dev> y, View<T const, Dev> x, Batch<Dev> const& batch) {
    Shape3 const s = x.shape(), sf{s.B, s.N, cfg_.ffn};
    for (auto* t : {&m_, &r1_, &a_, &f2_, &r2_}) t->resize(s);
    for (auto* t : {&f1_, &g_}) t->resize(sf);
    x_ = x;
    double const p = batch.train ? cfg_.dropout : 0.0;
    mixer_.forward(m_, x, batch);
    run(r1_, x + expr::dropout(m_, p, seed(batch, 0)), ws_[0], batch);
    ln1_.forward(as_mat(a_.view()), as_mat(r1_.cview()));
    ff1_.forward(as_mat(f1_.view()), as_mat(a_.cview()));
    run(g_, expr::gelu(f1_), ws_[1], batch);
    ff2_.forward(as_mat(f2_.view()), as_mat(g_.cview()));
    run(r2_, a_ + expr::dropout(f2_, p, seed(batch, 1)), ws_[2], batch);
    ln2_.forward(as_mat(y), as_mat(r2_.cview()));
  }

  void backward(View<T, Dev> dx, View<T const, Dev> dy, Batch<Dev> const& batch,
                Scratch<T, Dev>& scratch) {
    Shape3 const s = dy.shape(), sf{s.B, s.N, cfg_.ffn};
    double const p = cfg_.dropout;
    auto& dr2 = scratch.get(block_a, s);
    auto& da = scratch.get(block_b, s);
    auto& df2 = scratch.get(block_c, s);
    auto& dg = scratch.get(block_d, sf);
    ln2_.backward(as_mat(dr2.view()), as_mat(dy), as_mat(r2_.cview()));
    ponet::backward(a_ + expr::dropout(f2_, p, seed(batch, 1)), dr2, ws_[2],
                    {{a_, da}, {f2_, df2}});
    ff2_.backward(as_mat(dg.view()), as_mat(df2.cview()), as_mat(g_.cview()));
    auto& df1 = scratch.get(mixer_d + 0, sf);  // free until the mixer's backward
    ponet::backward(expr::gelu(f1_), dg, ws_[1], {{f1_, df1}});
    ff1_.backward(as_mat(df2.view()), as_mat(df1.cview()), as_mat(a_.cview()));
    ponet::assign(da, expr::as_expr(da) + df2);
    auto& dr1 = dr2;  // consumed
    ln1_.backward(as_mat(dr1.view()), as_mat(da.cview()), as_mat(r1_.cview()));
    auto& dm = df2;
    ponet::backward(x_ + expr::dropout(m_, p, seed(batch, 0)), dr1, ws_[0], {{m_, dm}});
    auto& dxm = da;
    mixer_.backward(dxm, dm, batch, scratch);
    ponet::assign(dx, expr::as_expr(dr1) + dxm);
  }

  Mixer& mixer() { return mixer_; }

 private:
  Mixer mixer_;
  LayerNorm<T, Dev> ln1_;
  Linear<T, Dev> ff1_, ff2_;
  LayerNorm<T, Dev> ln2_;
  View<T const, Dev> x_;
  Tensor<T, Dev> m_, r1_, a_, f1_, g_, f2_, r2_;
  Workspace<Dev> ws_[3];
};

}  // namespace ponet::nn
