// Whole models: every parameter gradient of a 2-layer classifier against double finite
// differences (dropout on, fixed seed), a tiny training run that must learn, and AdamW.
#include <catch2/catch.hpp>

#include <ponet/nn/models.hpp>

#include "nn_testing.hpp"

using namespace ponet;
using namespace testing;

namespace {
constexpr double kFdTol = 1e-6;  // double central differences of a smooth loss (see layers)

nn::ClassifierConfig tiny_config() {
  nn::ClassifierConfig c;
  c.vocab = 10;
  c.max_len = 12;
  c.D = 8;
  c.ffn = 12;
  c.layers = 2;
  c.head_hidden = 8;
  c.classes = 3;
  c.dropout = 0.1;
  c.segment_num = 3;
  return c;
}

template <class Mixer>
void check_classifier_gradients(typename Mixer::Config mixer) {
  int const B = 2, N = 11;
  nn::SequenceClassifier<Mixer, double> model(tiny_config(), mixer, 7);
  Tensor<std::int32_t> tok({B, N, 1});
  for (int b = 0; b < B; ++b)
    for (int i = 0; i < N; ++i) tok(b, i, 0) = (3 * b + 5 * i + i * i) % 10;
  auto valid = lengths_mask(B, N, {N, 6});
  std::vector<int> labels{2, 0};
  auto loss = [&] { return model.forward(tok.cview(), valid.cview(), labels, true, 42).loss; };
  loss();
  model.params().zero_grad();
  model.backward();
  auto r = check_param_grads(model.params(), loss, 8);
  INFO("worst parameter: " << r.where);
  CHECK(r.worst < kFdTol);
}
}  // namespace

TEST_CASE("classifier (PoNet): every parameter gradient equals finite differences",
          "[nn][classifier][fd]") {
  check_classifier_gradients<nn::PoNetMixer<double>>({8, 2, 3});
}

TEST_CASE("classifier (Transformer): every parameter gradient equals finite differences",
          "[nn][classifier][fd]") {
  check_classifier_gradients<nn::AttentionMixer<double>>({8, 2});
}

TEST_CASE("classifier (FNet): every parameter gradient equals finite differences",
          "[nn][classifier][fd]") {
  check_classifier_gradients<nn::FNetMixer<double>>({8});
}

TEST_CASE("classifier: a tiny training run learns", "[nn][classifier][train]") {
  // Class c's sequences draw 80% of their tokens from {2c, 2c+1}: mean pooling sees the class.
  nn::ClassifierConfig c = tiny_config();
  c.vocab = 8;
  c.classes = 4;
  c.dropout = 0.0;
  nn::SequenceClassifier<nn::PoNetMixer<float>, float> model(c, {8, 2, 3}, 3);
  nn::AdamWConfig oc;
  oc.lr = 1e-2;
  oc.warmup = 10;
  oc.total = 150;
  nn::AdamW<float> opt(oc, model.params().size());
  nn::SplitMix64 rng{5};
  int const B = 16, N = 12;
  Tensor<std::int32_t> tok({B, N, 1});
  Tensor<std::uint8_t> valid({B, N, 1});
  std::vector<int> labels(B);
  auto make_batch = [&] {
    for (int b = 0; b < B; ++b) {
      labels[b] = int(rng.next() % 4);
      int len = 4 + int(rng.next() % (N - 3));
      for (int i = 0; i < N; ++i) {
        bool noise = rng.uniform() < 0.2;
        tok(b, i, 0) = noise ? int(rng.next() % 8) : 2 * labels[b] + int(rng.next() % 2);
        valid(b, i, 0) = i < len;
      }
    }
  };
  double first = 0, last = 0;
  for (int step = 0; step < 150; ++step) {
    make_batch();
    auto r = model.forward(tok.cview(), valid.cview(), labels, true, std::uint64_t(step));
    model.params().zero_grad();
    model.backward();
    opt.step(model.params().values().data(), model.params().grads().data(), model.params().size());
    if (step < 10) first += r.loss / 10;
    if (step >= 140) last += r.loss / 10;
  }
  INFO("mean loss, first 10 steps " << first << ", last 10 steps " << last);
  CHECK(first > 1.2);  // about ln 4 at the start
  CHECK(last < 0.25 * first);
}

TEST_CASE("AdamW: one step by hand, the schedule, clipping", "[nn][adamw]") {
  nn::AdamWConfig c;
  c.lr = 0.1;
  c.warmup = 4;
  c.total = 12;
  c.weight_decay = 0.01;
  c.clip_norm = 1.0;
  CHECK(nn::learning_rate(c, 0) == Approx(0.025));
  CHECK(nn::learning_rate(c, 3) == Approx(0.1));
  CHECK(nn::learning_rate(c, 7) == Approx(0.1 * 4 / 8));
  CHECK(nn::learning_rate(c, 11) == Approx(0.0));
  nn::AdamW<double> opt(c, 2);
  std::vector<double> w{1.0, -2.0}, g{3.0, 4.0};  // norm 5: clipped to 1
  double norm = opt.step(w.data(), g.data(), 2);
  CHECK(norm == Approx(5.0));
  // First step: m = 0.1 g', v = 0.001 g'^2, bias-corrected m/sqrt(v) = sign(g') (up to eps).
  double lr = 0.025;
  CHECK(w[0] == Approx(1.0 * (1 - lr * 0.01) - lr * (0.6 / (0.6 + 1e-6))).epsilon(1e-12));
  CHECK(w[1] == Approx(-2.0 * (1 - lr * 0.01) - lr * (0.8 / (0.8 + 1e-6))).epsilon(1e-12));
  CHECK(opt.steps() == 1);
}
