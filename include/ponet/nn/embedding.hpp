// Embedding: token embeddings [V, D] plus learned position embeddings [max_len, D] (optional),
// initialised N(0, 0.02^2) as the LRA code does. Token ids are int32 [B, N, 1]; ids outside
// [0, V) and sequences longer than max_len throw. docs/nn.md#embedding
#pragma once

#include <string>

#include "ponet/cpu/embedding.hpp"
#include "ponet/nn/params.hpp"

namespace ponet::nn {

template <class T, class Dev = cpu_tag>
class Embedding {
 public:
  Embedding() = default;
  Embedding(Params<T, Dev>& p, std::string const& name, int vocab, int D, int max_len) : p_(&p) {
    tokens_ = p.add(name + ".tokens", vocab, D, Init::normal, 0.02);
    if (max_len > 0) positions_ = p.add(name + ".positions", max_len, D, Init::normal, 0.02);
  }

  void forward(View<T, Dev> out, View<std::int32_t const, Dev> tokens) const {
    embedding_forward(out, tokens, Mat<T const, Dev>(p_->value_mat(tokens_)), positions());
  }
  // Gradients accumulate into the tables.
  void backward(View<T const, Dev> dout, View<std::int32_t const, Dev> tokens) const {
    Mat<T, Dev> dpos;
    if (positions_.rows) dpos = p_->grad_mat(positions_);
    embedding_backward(p_->grad_mat(tokens_), dpos, dout, tokens);
  }

  ParamRef token_table() const { return tokens_; }
  ParamRef position_table() const { return positions_; }

 private:
  Mat<T const, Dev> positions() const {
    if (!positions_.rows) return {};
    return Mat<T const, Dev>(p_->value_mat(positions_));
  }
  Params<T, Dev>* p_ = nullptr;
  ParamRef tokens_, positions_;
};

}  // namespace ponet::nn
