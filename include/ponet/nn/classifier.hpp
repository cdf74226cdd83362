// SequenceClassifier<Mixer>: the LRA-style model of PONET.md around any token mixer:
//   x = drop(tokens + positions);  x = PreLNBlock(x) x layers;  z = LN(x)
//   pooled = masked mean of z over valid tokens;  logits = W2 relu(W1 pooled + b1) + b2
//   loss = softmax cross-entropy, mean over the batch
// Parameters and gradients live in one buffer each (params()). forward() with train = true
// keeps what backward() needs; backward() accumulates into the gradient buffer (zero it first).
// Model<T> is the interface trainers hold, so the mixer can be chosen at run time.
// docs/nn.md#classifier
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "ponet/core/lowering.hpp"
#include "ponet/cpu/cross_entropy.hpp"
#include "ponet/cpu/pooling.hpp"
#include "ponet/expr/activation.hpp"
#include "ponet/nn/block.hpp"
#include "ponet/nn/embedding.hpp"
#include "ponet/ponet.hpp"

namespace ponet::nn {

struct ClassifierConfig {
  int vocab = 16;
  int max_len = 2000;
  int D = 64;
  int ffn = 128;
  int layers = 2;
  int head_hidden = 128;
  int classes = 10;
  double dropout = 0.1;
  double ln_eps = 1e-5;
  int segment_num = 64;  // PoNet's LRA chunks
};

struct StepResult {
  double loss = 0;
  int correct = 0;  // argmax hits in the batch
};

template <class T, class Dev = cpu_tag>
class Model {
 public:
  virtual ~Model() = default;
  // tokens int32 [B, N, 1], valid [B, N, 1]; labels one per sequence.
  virtual StepResult forward(View<std::int32_t const, Dev> tokens,
                             View<std::uint8_t const, Dev> valid, std::vector<int> const& labels,
                             bool train, std::uint64_t step_seed) = 0;
  virtual void backward() = 0;
  virtual Params<T, Dev>& params() = 0;
  virtual Tensor<T, Dev> const& logits() const = 0;  // [B, 1, classes] of the last forward
};

template <class Mixer, class T, class Dev = cpu_tag>
class SequenceClassifier final : public Model<T, Dev> {
 public:
  SequenceClassifier(ClassifierConfig c, typename Mixer::Config mixer, std::uint64_t seed)
      : cfg_(c), embed_(params_, "embed", c.vocab, c.D, c.max_len) {
    for (int l = 0; l < c.layers; ++l)
      blocks_.push_back(std::make_unique<PreLNBlock<Mixer, T, Dev>>(
          params_, "layers." + std::to_string(l), BlockConfig{c.D, c.ffn, c.dropout, c.ln_eps, l},
          mixer));
    final_ln_ = LayerNorm<T, Dev>(params_, "final_ln", c.D, c.ln_eps);
    head1_ = Linear<T, Dev>(params_, "head.fc1", c.D, c.head_hidden);
    head2_ = Linear<T, Dev>(params_, "head.fc2", c.head_hidden, c.classes);
    params_.allocate(seed);
  }

  StepResult forward(View<std::int32_t const, Dev> tokens, View<std::uint8_t const, Dev> valid,
                     std::vector<int> const& labels, bool train, std::uint64_t step_seed) override {
    int const B = tokens.B, N = tokens.N, D = cfg_.D;
    Shape3 const s{B, N, D};
    check_per_token("classifier", "valid", valid.shape(), s);
    tokens_ = tokens;
    if (segments_.shape() != Shape3{B, N, 1}) {
      segments_ = Segments::chunks(B, N, cfg_.segment_num);
      if constexpr (!std::is_same_v<Dev, cpu_tag>) {  // a device copy of the ids
        segment_ids_ = Tensor<std::int32_t, Dev>(segments_.shape(), uninitialized);
        Memory<Dev>::upload(segment_ids_.data(), segments_.ids().data(), segment_ids_.bytes());
      }
    }
    batch_ = Batch<Dev>{valid, valid, segments_view(), train, step_seed};

    xs_.resize(cfg_.layers + 2);
    for (auto& x : xs_) x.resize(s);
    embed_.forward(xs_[0], tokens);
    run(xs_[1], expr::dropout(xs_[0], train ? cfg_.dropout : 0.0, dropout_seed(step_seed, -1, 0)),
        ws_[0]);
    for (int l = 0; l < cfg_.layers; ++l) blocks_[l]->forward(xs_[l + 2], xs_[l + 1], batch_);
    z_.resize(s);
    final_ln_.forward(as_mat(z_.view()), as_mat(xs_.back().cview()));
    pooled_.resize(Shape3{B, 1, D});
    counts_.resize(Shape3{1, 1, B});
    masked_mean_rows_forward(pooled_.view(), z_.cview(), valid, counts_.data(), ws_[1]);
    h_pre_.resize(Shape3{B, 1, cfg_.head_hidden});
    h_.resize(Shape3{B, 1, cfg_.head_hidden});
    head1_.forward(as_mat(h_pre_.view()), as_mat(pooled_.cview()));
    run(h_, expr::relu(h_pre_), ws_[2]);
    logits_.resize(Shape3{B, 1, cfg_.classes});
    head2_.forward(as_mat(logits_.view()), as_mat(h_.cview()));
    dlogits_.resize(logits_.shape());
    StepResult r;
    r.loss = softmax_cross_entropy(as_mat(logits_.cview()), labels,
                                   train ? as_mat(dlogits_.view()) : Mat<T, Dev>(), &r.correct);
    return r;
  }

  void backward() override {
    if (!batch_.train) throw Error("classifier: backward() needs a training forward()");
    int const B = tokens_.B, N = tokens_.N, D = cfg_.D;
    Shape3 const s{B, N, D};
    auto& dh = scratch_.get(model_a, Shape3{B, 1, cfg_.head_hidden});
    head2_.backward(as_mat(dh.view()), as_mat(dlogits_.cview()), as_mat(h_.cview()));
    auto& dh_pre = scratch_.get(model_b, Shape3{B, 1, cfg_.head_hidden});
    ponet::backward(expr::relu(h_pre_), dh, ws_[2], {{h_pre_, dh_pre}});
    auto& dpooled = scratch_.get(model_a, Shape3{B, 1, D});
    head1_.backward(as_mat(dpooled.view()), as_mat(dh_pre.cview()), as_mat(pooled_.cview()));
    auto& dz = scratch_.get(model_b, s);
    masked_mean_rows_backward(dz.view(), dpooled.cview(), batch_.valid, counts_.data(), ws_[3]);
    auto& dx = scratch_.get(model_a + 2, s);
    auto& dx_next = scratch_.get(model_a + 3, s);
    final_ln_.backward(as_mat(dx.view()), as_mat(dz.cview()), as_mat(xs_.back().cview()));
    for (int l = cfg_.layers - 1; l >= 0; --l) {
      blocks_[l]->backward(dx_next, dx, batch_, scratch_);
      std::swap(dx, dx_next);
    }
    ponet::backward(expr::dropout(xs_[0], cfg_.dropout, dropout_seed(batch_.seed, -1, 0)), dx,
                    ws_[0], {{xs_[0], dz}});
    embed_.backward(dz, tokens_);
  }

  Params<T, Dev>& params() override { return params_; }
  Tensor<T, Dev> const& logits() const override { return logits_; }
  ClassifierConfig const& config() const { return cfg_; }

 private:
  template <class Dst, class E>
  void run(Dst&& dst, expr::Expr<E> const& e, Workspace<Dev>& ws) {
    if (batch_.train)
      ponet::forward(dst, e, ws);
    else
      ponet::assign(dst, e, ws);
  }

  SegmentsView<Dev> segments_view() const {
    if constexpr (std::is_same_v<Dev, cpu_tag>)
      return segments_.view();
    else
      return {segment_ids_.view(), segments_.S()};
  }

  ClassifierConfig cfg_;
  Params<T, Dev> params_;
  Embedding<T, Dev> embed_;
  std::vector<std::unique_ptr<PreLNBlock<Mixer, T, Dev>>> blocks_;
  LayerNorm<T, Dev> final_ln_;
  Linear<T, Dev> head1_, head2_;

  View<std::int32_t const, Dev> tokens_;
  Segments segments_;
  Tensor<std::int32_t, Dev> segment_ids_;  // segments_' ids on a device other than the CPU
  Batch<Dev> batch_;
  std::vector<Tensor<T, Dev>> xs_;  // embeddings, after dropout, after each block
  Tensor<T, Dev> z_, pooled_, counts_, h_pre_, h_, logits_, dlogits_;
  Scratch<T, Dev> scratch_;
  Workspace<Dev> ws_[4];
};

}  // namespace ponet::nn
