// AdamW (Loshchilov and Hutter) over a model's flat parameter buffer, with the LRA schedule:
// linear warm-up from 0 to lr over `warmup` steps, then linear decay to 0 at `total` steps; and
// gradient clipping by global norm. Its state (step, first and second moments) is plain data so
// a checkpoint restores it exactly. docs/nn.md#optimizer
#pragma once

#include <cmath>
#include <cstdint>
#include <vector>

#include "ponet/core/tensor.hpp"
#include "ponet/cpu/parallel.hpp"

namespace ponet::nn {

struct AdamWConfig {
  double lr = 1e-4;
  double beta1 = 0.9;
  double beta2 = 0.999;
  double eps = 1e-6;
  double weight_decay = 0;
  std::int64_t warmup = 1000;
  std::int64_t total = 5000;
  double clip_norm = 1.0;  // <= 0: no clipping
};

inline double learning_rate(AdamWConfig const& c, std::int64_t step) {  // step counts from 0
  double s = double(step) + 1;
  if (c.warmup > 0 && s <= double(c.warmup)) return c.lr * s / double(c.warmup);
  if (c.total <= c.warmup) return c.lr;
  return c.lr * std::max(0.0, (double(c.total) - s) / double(c.total - c.warmup));
}

template <class T>
class AdamW {
 public:
  AdamW(AdamWConfig c, std::size_t n) : cfg_(c), m_(n, T(0)), v_(n, T(0)) {}

  // One update. Returns the gradient's global norm before clipping.
  double step(T* params, T* grads, std::size_t n) {
    if (n != m_.size())
      throw Error("AdamW: " + std::to_string(n) + " parameters, state for " +
                  std::to_string(m_.size()));
    // Global norm in blocks summed in order: the same bits on any thread count.
    int const blocks = int((n + 65535) / 65536);
    std::vector<double> partial(blocks);
    cpu::parallel_for(blocks, [&](int blk) {
      double s = 0;
      for (std::size_t k = std::size_t(blk) * 65536; k < std::min(n, std::size_t(blk + 1) * 65536);
           ++k)
        s += double(grads[k]) * double(grads[k]);
      partial[blk] = s;
    });
    double sq = 0;
    for (double p : partial) sq += p;
    double const norm = std::sqrt(sq);
    double const clip = cfg_.clip_norm > 0 && norm > cfg_.clip_norm ? cfg_.clip_norm / norm : 1.0;
    double const lr = learning_rate(cfg_, step_);
    ++step_;
    double const bc1 = 1 - std::pow(cfg_.beta1, double(step_));
    double const bc2 = 1 - std::pow(cfg_.beta2, double(step_));
    T const b1 = T(cfg_.beta1), b2 = T(cfg_.beta2);
    cpu::parallel_for(blocks, [&](int blk) {
      for (std::size_t k = std::size_t(blk) * 65536; k < std::min(n, std::size_t(blk + 1) * 65536);
           ++k) {
        T g = T(double(grads[k]) * clip);
        m_[k] = b1 * m_[k] + (1 - b1) * g;
        v_[k] = b2 * v_[k] + (1 - b2) * g * g;
        double update = (m_[k] / bc1) / (std::sqrt(v_[k] / bc2) + cfg_.eps);
        params[k] = T(double(params[k]) * (1 - lr * cfg_.weight_decay) - lr * update);
      }
    });
    return norm;
  }

  std::int64_t steps() const { return step_; }
  void set_steps(std::int64_t s) { step_ = s; }
  std::vector<T>& first_moment() { return m_; }
  std::vector<T>& second_moment() { return v_; }
  AdamWConfig const& config() const { return cfg_; }

 private:
  AdamWConfig cfg_;
  std::int64_t step_ = 0;
  std::vector<T> m_, v_;
};

}  // namespace ponet::nn
