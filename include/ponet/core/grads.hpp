// Grads<T, Dev>: which gradient buffer receives the gradient of which input. A backward matches
// each leaf of the expression to a pair by its view (same data, shape and strides) and writes
// dx there; a leaf used twice gets the sum. Every pair must match some leaf.
#pragma once

#include <initializer_list>
#include <vector>

#include "ponet/core/tensor.hpp"

namespace ponet {

template <class T, class Dev = cpu_tag>
struct GradPair {
  View<T const, Dev> x;
  View<T, Dev> dx;
  int uses = 0;

  GradPair(View<T const, Dev> input, View<T, Dev> grad) : x(input), dx(grad) {}
  GradPair(Tensor<T, Dev> const& input, Tensor<T, Dev>& grad) : x(input.view()), dx(grad.view()) {}
  GradPair(View<T, Dev> input, View<T, Dev> grad) : x(input), dx(grad) {}
  GradPair(Tensor<T, Dev> const& input, View<T, Dev> grad) : x(input.view()), dx(grad) {}
  GradPair(View<T const, Dev> input, Tensor<T, Dev>& grad) : x(input), dx(grad.view()) {}
  GradPair(View<T, Dev> input, Tensor<T, Dev>& grad) : x(input), dx(grad.view()) {}
};

template <class T, class Dev>
bool same_view(View<T const, Dev> const& a, View<T const, Dev> const& b) {
  return a.data == b.data && a.shape() == b.shape() && a.sb == b.sb && a.sn == b.sn;
}

template <class T, class Dev = cpu_tag>
class Grads {
 public:
  Grads(std::initializer_list<GradPair<T, Dev>> pairs) : pairs_(pairs) { check(); }
  explicit Grads(std::vector<GradPair<T, Dev>> pairs) : pairs_(std::move(pairs)) { check(); }

  GradPair<T, Dev>* find(View<T const, Dev> const& x) {
    for (auto& p : pairs_)
      if (same_view(p.x, x)) return &p;
    return nullptr;
  }

  // Counts how often each pair's input occurs among the leaves of `e`, and checks the backward
  // can write without clobbering what it reads: `reads` are dout and every leaf.
  template <class E>
  void bind(E const& e, View<T const, Dev> dout) {
    for (auto& p : pairs_) p.uses = 0;
    e.leaves([&](View<T const, Dev> const& x) {
      if (auto* p = find(x)) ++p->uses;
    });
    for (std::size_t k = 0; k < pairs_.size(); ++k) {
      auto const& p = pairs_[k];
      if (p.uses == 0)
        throw Error("backward: gradient #" + std::to_string(k) + " is for an input " +
                    to_string(p.x.shape()) + " that the expression does not read");
      if (may_overlap(p.dx, dout))
        throw Error("backward: gradient #" + std::to_string(k) + " overlaps dout");
      e.leaves([&](View<T const, Dev> const& x) {
        if (may_overlap(p.dx, x))
          throw Error("backward: gradient #" + std::to_string(k) +
                      " overlaps an input of the expression");
      });
    }
  }

  std::vector<GradPair<T, Dev>>& pairs() { return pairs_; }

 private:
  void check() const {
    for (std::size_t k = 0; k < pairs_.size(); ++k) {
      check_same_shape("backward", "input", pairs_[k].x.shape(), "its gradient",
                       pairs_[k].dx.shape());
      for (std::size_t m = 0; m < k; ++m)
        if (may_overlap(pairs_[k].dx, pairs_[m].dx))
          throw Error("backward: gradients #" + std::to_string(m) + " and #" + std::to_string(k) +
                      " overlap");
    }
  }
  std::vector<GradPair<T, Dev>> pairs_;
};

}  // namespace ponet
