// Device-generic runners for the CPU <-> GPU parity tests (see parity.hpp): each takes host
// inputs, copies them to device Dev, runs ponet's entry points there (the lowering is chosen at
// compile time from Dev) and copies the results back. cpu_side.cpp instantiates them for cpu_tag
// (after ponet/ponet.hpp and the CPU headers), the test_cuda_*.cu files for cuda_tag (after the
// CUDA backend), so both devices run the very same calls on the very same inputs.
#pragma once

#include <type_traits>
#include <utility>

#include <ponet/core/grads.hpp>
#include <ponet/core/lowering.hpp>
#include <ponet/core/matrix.hpp>
#include <ponet/expr/activation.hpp>
#include <ponet/expr/fuse.hpp>
#include <ponet/nn/attention_mixer.hpp>
#include <ponet/nn/classifier.hpp>
#include <ponet/nn/fnet_mixer.hpp>
#include <ponet/nn/ponet_mixer.hpp>

#include "parity.hpp"

namespace parity {

using ponet::cpu_tag;
using ponet::cuda_tag;
using ponet::Mat;
using ponet::Memory;
using ponet::View;
namespace expr = ponet::expr;
namespace nn = ponet::nn;

// The optimizer of each device (nn::AdamW on the host, cuda::AdamW on the GPU): specialised by the
// translation unit that instantiates the runners.
template <class Dev>
struct OptimizerFor;

template <class Dev, class T>
Tensor<T, Dev> put(Tensor<T> const& h) {
  Tensor<T, Dev> d(h.shape(), ponet::uninitialized);
  Memory<Dev>::upload(d.data(), h.data(), h.bytes());
  return d;
}

template <class T, class Dev>
Tensor<T> get(Tensor<T, Dev> const& d) {
  Tensor<T> h(d.shape(), ponet::uninitialized);
  Memory<Dev>::download(h.data(), d.data(), d.bytes());
  return h;
}

template <class T, class Dev>
Tensor<T> get_values(T const* p, std::size_t n) {  // n elements at device pointer p, as [1,1,n]
  Tensor<T> h(Shape3{1, 1, int(n)}, ponet::uninitialized);
  Memory<Dev>::download(h.data(), p, n * sizeof(T));
  return h;
}

// ---- expressions ----------------------------------------------------------------------------

// f(expression) for case c over device views.
template <class Dev, class F>
void with_expr(ExprCase c, std::vector<View<float const, Dev>> const& x,
               View<std::uint8_t const, Dev> valid, View<std::uint8_t const, Dev> pool,
               ponet::SegmentsView<Dev> seg, ExprInputs const& in, F&& f) {
  auto x0 = expr::as_expr(x[0]);
  switch (c) {
    case ExprCase::add:
      return f(x0 + x[1]);
    case ExprCase::sub:
      return f(x0 - x[1]);
    case ExprCase::mul:
      return f(x0 * x[1]);
    case ExprCase::max:
      return f(expr::max(x[0], x[1]));
    case ExprCase::masked_fill:
      return f(expr::masked_fill(x[0], valid, -3.5));
    case ExprCase::gelu:
      return f(expr::gelu(x[0]));
    case ExprCase::relu:
      return f(expr::relu(x[0]));
    case ExprCase::tanh:
      return f(expr::tanh(x[0]));
    case ExprCase::dropout:
      return f(expr::dropout(x[0], 0.25, 0x5eedULL));
    case ExprCase::window_max:
      return f(expr::masked_fill(expr::window_max(expr::masked(x[0], pool), in.window), pool, 0));
    case ExprCase::masked_mean:
      return f(expr::masked_mean(x[0], valid));
    case ExprCase::global_attn:
      return f(expr::global_attn(x[0], x[1], valid, in.heads));
    case ExprCase::segment_max:
      return f(expr::masked_fill(expr::segment_max(expr::masked(x[0], pool), seg), pool, 0));
    case ExprCase::mixing:
      return f(expr::mixing<float, Dev>(x[0], x[1], x[2], x[3], x[4], valid, pool, seg, in.heads,
                                        in.window));
    case ExprCase::square_plus:
      return f(x0 * x[0] + x[1]);
    case ExprCase::segment_of_window:
      return f(expr::segment_max(expr::window_max(x[0], in.window), seg));
    case ExprCase::window_of_mean:
      return f(expr::window_max(x0 + expr::masked_mean(x[1], valid), in.window));
    case ExprCase::count:
      break;
  }
  throw ponet::Error("parity: unknown expression case");
}

template <class Dev>
ExprResult run_expr(ExprCase c, ExprInputs const& in) {
  int const k = inputs(c);
  std::vector<Tensor<float, Dev>> xd;
  for (int j = 0; j < 5; ++j) xd.push_back(put<Dev>(in.x[j]));
  std::vector<View<float const, Dev>> x(xd.begin(), xd.end());
  auto valid = put<Dev>(in.valid), pool = put<Dev>(in.pool);
  auto ids = put<Dev>(in.ids);
  auto dout = put<Dev>(in.dout);
  ponet::SegmentsView<Dev> seg{ids.view(), in.S};
  ExprResult r;
  with_expr<Dev>(c, x, valid.cview(), pool.cview(), seg, in, [&](auto const& e) {
    Tensor<float, Dev> out(e.shape(), ponet::uninitialized);
    ponet::Workspace<Dev> ws;
    ponet::forward(out, e, ws);
    std::vector<Tensor<float, Dev>> g;
    std::vector<ponet::GradPair<float, Dev>> pairs;
    for (int j = 0; j < k; ++j) g.emplace_back(in.x[j].shape(), ponet::uninitialized);
    for (int j = 0; j < k; ++j) pairs.emplace_back(x[j], g[j].view());
    ponet::backward(e, dout, ws, ponet::Grads<float, Dev>(pairs));
    r.out = get(out);
    for (auto const& t : g) r.grads.push_back(get(t));
  });
  return r;
}

// ---- dense ops and layers -------------------------------------------------------------------

template <class Dev>
DenseResult run_dense(DenseCase c, DenseInputs const& in) {
  DenseResult r;
  auto keep = [&](char const* n, Tensor<float> t, bool exact = false) {
    r.names.push_back(n);
    r.out.push_back(std::move(t));
    r.exact.push_back(exact);
  };
  std::vector<Tensor<float, Dev>> f;
  for (auto const& t : in.f) f.push_back(put<Dev>(t));
  auto mat = [](Tensor<float, Dev>& t) { return Mat<float, Dev>(t.data(), t.N(), t.D()); };
  auto cmat = [](Tensor<float, Dev> const& t) {
    return Mat<float const, Dev>(t.data(), t.N(), t.D());
  };
  switch (c) {
    case DenseCase::gemm: {
      // f: A [m,k], B [k,n], C0 [m,n], At [k,m], Bt [n,k]; C = 1.5 op(A) op(B) + 0.5 C0.
      char const* names[] = {"C = A B", "C = A B^T", "C = A^T B", "C = A^T B^T"};
      for (int t = 0; t < 4; ++t) {
        bool const ta = t >= 2, tb = t % 2 == 1;
        Tensor<float, Dev> C = f[2];
        ponet::gemm(mat(C), cmat(ta ? f[3] : f[0]), ta, cmat(tb ? f[4] : f[1]), tb, 1.5f, 0.5f);
        keep(names[t], get(C));
      }
      // A sub-matrix: C's first half of columns with ld = its full width (strided rows).
      Tensor<float, Dev> C = f[2];
      int const m = C.N(), n = C.D(), half = n / 2 > 0 ? n / 2 : 1;
      Mat<float const, Dev> bsub(f[1].data(), f[1].N(), half, f[1].D());
      ponet::gemm(Mat<float, Dev>(C.data(), m, half, n), cmat(f[0]), false, bsub, false);
      keep("C[:, :n/2] = A B[:, :n/2]", get(C));
      break;
    }
    case DenseCase::bias: {
      Tensor<float, Dev> C = f[0];
      ponet::add_row(mat(C), f[1].data());
      keep("add_row", get(C));
      Tensor<float, Dev> v = f[1];
      ponet::add_column_sums(v.data(), cmat(f[0]));
      keep("add_column_sums", get(v));
      break;
    }
    case DenseCase::layer_norm: {
      int const rows = f[0].N(), D = f[0].D();
      Tensor<float, Dev> y(f[0].shape()), dx(f[0].shape()), stats(Shape3{1, 2, rows});
      Tensor<float, Dev> dgamma(Shape3{1, 1, D}), dbeta(Shape3{1, 1, D});
      ponet::layer_norm_forward(mat(y), cmat(f[0]), f[1].data(), f[2].data(), 1e-5f, stats.data(),
                                stats.data() + rows);
      ponet::layer_norm_backward(mat(dx), cmat(f[3]), cmat(f[0]), f[1].data(), stats.data(),
                                 stats.data() + rows, dgamma.data(), dbeta.data());
      keep("y", get(y));
      keep("mean, rstd", get(stats));
      keep("dx", get(dx));
      keep("dgamma", get(dgamma));
      keep("dbeta", get(dbeta));
      break;
    }
    case DenseCase::embedding: {
      auto tok = put<Dev>(in.tokens);
      Shape3 const s = f[2].shape();
      Tensor<float, Dev> out(s, ponet::uninitialized);
      ponet::embedding_forward(out.view(), tok.cview(), cmat(f[0]), cmat(f[1]));
      keep("out", get(out), true);  // one addition per element, the same on both devices
      Tensor<float, Dev> dtable(f[0].shape()), dpos(f[1].shape());
      ponet::embedding_backward(mat(dtable), mat(dpos), f[2].cview(), tok.cview());
      keep("dtable", get(dtable), true);  // the same additions in the same (token) order
      keep("dpositions", get(dpos), true);
      break;
    }
    case DenseCase::pooling: {
      auto valid = put<Dev>(in.valid);
      Shape3 const s = f[0].shape();
      Tensor<float, Dev> out(Shape3{s.B, 1, s.D}), counts(Shape3{1, 1, s.B}), dx(s);
      ponet::Workspace<Dev> ws, ws2;
      ponet::masked_mean_rows_forward(out.view(), f[0].cview(), valid.cview(), counts.data(), ws);
      ponet::masked_mean_rows_backward(dx.view(), f[1].cview(), valid.cview(), counts.data(), ws2);
      keep("out", get(out));
      keep("counts", get(counts), true);
      keep("dx", get(dx), true);  // one division per element
      break;
    }
    case DenseCase::cross_entropy: {
      Tensor<float, Dev> dz(f[0].shape());
      int hits = -1;
      double const loss = ponet::softmax_cross_entropy(cmat(f[0]), in.labels, mat(dz), &hits);
      keep("loss", Tensor<float>(Shape3{1, 1, 1}, {float(loss)}), true);
      keep("dlogits", get(dz), true);  // the very same host arithmetic
      keep("correct", Tensor<float>(Shape3{1, 1, 1}, {float(hits)}), true);
      break;
    }
    case DenseCase::adamw: {
      nn::AdamWConfig cfg;
      cfg.lr = 1e-2;
      cfg.warmup = 2;
      cfg.total = 10;
      cfg.weight_decay = 0.01;
      cfg.clip_norm = 0.5;
      typename OptimizerFor<Dev>::type opt(cfg, std::size_t(f[0].size()));
      Tensor<float, Dev> p = f[0];
      double norms[2];
      for (double& nm : norms) nm = opt.step(p.data(), f[1].data(), std::size_t(p.size()));
      keep("params after 2 steps", get(p));
      keep("grad norms", Tensor<float>(Shape3{1, 1, 2}, {float(norms[0]), float(norms[1])}));
      break;
    }
    case DenseCase::attention: {
      auto valid = put<Dev>(in.valid);
      Shape3 const s = f[0].shape();
      Tensor<float, Dev> out(s), dq(s), dk(s), dv(s);
      ponet::Workspace<Dev> ws;
      ponet::attention_forward(out.view(), f[0].cview(), f[1].cview(), f[2].cview(), valid.cview(),
                               in.heads, ws);
      ponet::attention_backward(dq.view(), dk.view(), dv.view(), f[3].cview(), f[0].cview(),
                                f[1].cview(), f[2].cview(), out.cview(), valid.cview(), in.heads,
                                ws);
      keep("out", get(out));
      keep("dq", get(dq));
      keep("dk", get(dk));
      keep("dv", get(dv));
      break;
    }
    case DenseCase::fourier: {
      Shape3 const s = f[0].shape();
      Tensor<float, Dev> y(s), dx(s);
      using Ws = std::conditional_t<std::is_same_v<Dev, cpu_tag>, ponet::cpu::FourierWorkspace,
                                    ponet::cuda::FourierWorkspace>;
      Ws ws(ponet::cpu::FourierPlanning::estimate);
      ponet::fourier_mix_forward(y.view(), f[0].cview(), ws);
      ponet::fourier_mix_backward(dx.view(), f[1].cview(), ws);
      keep("y", get(y));
      keep("dx", get(dx));
      // A channel slice (strided rows): the GPU copies it to a contiguous scratch first.
      Shape3 const wide{s.B, s.N, 2 * s.D};
      Tensor<float, Dev> xw(wide), ys(s);
      ponet::assign(xw.view().channels(s.D, s.D), expr::as_expr(f[0].cview()));
      ponet::fourier_mix_forward(ys.view(), View<float const, Dev>(xw.view().channels(s.D, s.D)),
                                 ws);
      keep("y of a channel slice", get(ys));
      break;
    }
    case DenseCase::count:
      break;
  }
  return r;
}

// ---- whole models ---------------------------------------------------------------------------

inline nn::ClassifierConfig model_config() {
  nn::ClassifierConfig c;
  c.vocab = 16;
  c.max_len = 64;
  c.D = 32;
  c.ffn = 48;
  c.layers = 2;
  c.head_hidden = 24;
  c.classes = 3;
  c.dropout = 0.1;
  c.segment_num = 5;
  return c;
}

template <class Dev, class Mixer>
ModelResult run_model_with(typename Mixer::Config mc, ModelInputs const& in) {
  nn::SequenceClassifier<Mixer, float, Dev> model(model_config(), mc, 1234);
  auto tok = put<Dev>(in.tokens);
  auto valid = put<Dev>(in.valid);
  ModelResult r;
  model.params().zero_grad();
  auto const fwd = model.forward(tok.cview(), valid.cview(), in.labels, true, 99);
  r.loss = fwd.loss;
  r.correct = fwd.correct;
  r.logits = get(model.logits());
  model.backward();
  auto& p = model.params();
  r.grads = get(p.grads());
  nn::AdamWConfig cfg;
  cfg.lr = 1e-3;
  cfg.warmup = 1;
  typename OptimizerFor<Dev>::type opt(cfg, p.size());
  r.grad_norm = opt.step(p.values().data(), p.grads().data(), p.size());
  r.params = get(p.values());
  r.loss_after = model.forward(tok.cview(), valid.cview(), in.labels, false, 0).loss;
  return r;
}

template <class Dev>
ModelResult run_model(ModelKind m, ModelInputs const& in) {
  int const D = model_config().D;
  switch (m) {
    case ModelKind::ponet:
      return run_model_with<Dev, nn::PoNetMixer<float, Dev>>({D, 2, 3}, in);
    case ModelKind::transformer:
      return run_model_with<Dev, nn::AttentionMixer<float, Dev>>({D, 2}, in);
    case ModelKind::fnet:
      return run_model_with<Dev, nn::FNetMixer<float, Dev>>(
          {D, ponet::cpu::FourierPlanning::estimate}, in);
  }
  throw ponet::Error("parity: unknown model");
}

}  // namespace parity
