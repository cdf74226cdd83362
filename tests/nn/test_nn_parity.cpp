// PyTorch parity of the LRA-style PoNet classifier, SequenceClassifier<PoNetMixer<T>, T>:
// tests/fixtures/make_classifier_fixture.py, an independent float64 PyTorch model written from
// PONET.md (2 pre-LN layers, D 8, 2 heads, FFN 12, head 12, 4 classes, B 3, N 13 with lengths
// 13, 9, 1, segment_num 3), stores every parameter, the batch, loss, logits and every parameter
// gradient. The classifier gets the same parameters by name, runs a training forward (dropout 0)
// and its backward; loss, logits and each gradient must match, in double and in float.
// The file format is make_fixtures.py's, described in make_classifier_fixture.py.
#include <catch2/catch.hpp>

#include <cerrno>
#include <cstdlib>
#include <fstream>
#include <map>
#include <set>
#include <sstream>
#include <stdexcept>
#include <string>
#include <vector>

#include "../fixture.hpp"
#include "nn_testing.hpp"

using namespace ponet;
using namespace testing;

namespace {
// Double: torch and ponet evaluate the same float64 formulas in other orders (GEMMs, LayerNorm
// statistics, softmax, token sums); rounding of ~1e-16 grows through two blocks, LayerNorm's
// 1/std and cancellation in small gradients (measured: 3e-15 at worst). A semantic difference
// shows up far above: fixtures made with the mean over all N tokens, chunks of N / S tokens, or
// a softmax over padding too fail every check, worst tensor 0.5 to 7.
constexpr double kDoubleTol = 1e-9;
// Float: the parameters are exact in float (a 2^-20 grid, checked below), so this is float
// arithmetic (eps 6e-8) alone against float64. The forward is a few dozen dependent operations:
// measured 4e-7; 1e-5 leaves headroom for loss and logits.
constexpr double kFloatOutTol = 1e-5;
// The backward doubles the depth, goes through LayerNorm's 1/std four more times, and norm-wise
// errors of small gradients (biases, rarely used rows) see cancellation (measured: 4e-7 at worst;
// the max poolings' winners lead by >= 1e-3, so float picks the same ones).
constexpr double kFloatGradTol = 1e-4;

// ---------------------------------------------------------------------------------- the model

Shape3 param_shape(nn::ParamRef const& r) { return {1, r.rows, r.cols}; }

template <class T>
Tensor<T> param_copy(T const* p, nn::ParamRef const& r) {
  Tensor<T> t(param_shape(r));
  std::copy(p, p + r.size(), t.data());
  return t;
}

template <class T>
void check_parity(double out_tol, double grad_tol) {
  Fixture const fx = read_fixture("classifier.txt");
  int const B = fx.param("B"), N = fx.param("N"), D = fx.param("D"), C = fx.param("C");
  nn::ClassifierConfig cc;
  cc.vocab = fx.param("V");
  cc.max_len = fx.param("max_len");
  cc.D = D;
  cc.ffn = fx.param("ffn");
  cc.layers = fx.param("layers");
  cc.head_hidden = fx.param("head_hidden");
  cc.classes = C;
  cc.dropout = 0.0;  // the fixture has no dropout; train = true below only keeps the state
  cc.ln_eps = 1e-5;
  cc.segment_num = fx.param("S");
  nn::SequenceClassifier<nn::PoNetMixer<T>, T> model(cc, {D, fx.param("H"), fx.param("k")},
                                                     /*seed=*/1);
  auto& params = model.params();

  // Every fixture parameter into the model by name; every model parameter set exactly once.
  std::string const value_prefix = "value/";
  std::set<std::string> set;
  for (auto const& [key, t] : fx.reals) {
    if (key.rfind(value_prefix, 0) != 0) continue;
    std::string const name = key.substr(value_prefix.size());
    INFO("fixture parameter " << name);
    nn::ParamRef r;
    REQUIRE_NOTHROW(r = params.find(name).ref);
    REQUIRE(t.shape() == param_shape(r));
    T* p = params.value(r);
    for (std::size_t n = 0; n < r.size(); ++n) {
      p[n] = T(t.data()[n]);
      REQUIRE(double(p[n]) == t.data()[n]);  // exact in T: float sees the same model
    }
    set.insert(name);
  }
  for (auto const& e : params.entries()) {
    INFO("model parameter " << e.name);
    CHECK(set.count(e.name) == 1);
  }
  REQUIRE(set.size() == params.entries().size());

  Shape3 const tok{B, N, 1};
  auto const tokens = cast<std::int32_t>(fx.integer("tokens", tok));
  auto const valid = cast<std::uint8_t>(fx.integer("valid", tok));
  auto const& lab = fx.integer("labels", {B, 1, 1});
  std::vector<int> const labels(lab.data(), lab.data() + B);

  params.zero_grad();
  auto const r = model.forward(tokens.cview(), valid.cview(), labels, /*train=*/true, 0);
  model.backward();

  double const loss = fx.real("loss", {1, 1, 1}).data()[0];
  double const loss_err = std::abs(r.loss - loss) / std::abs(loss);
  INFO("loss " << r.loss << " vs " << loss);
  CHECK(loss_err <= out_tol);
  CHECK(max_rel_err(model.logits(), fx.real("logits", {B, 1, C})) <= out_tol);
  for (auto const& e : params.entries()) {
    INFO("gradient of " << e.name);
    auto const& want = fx.real("grad/" + e.name, param_shape(e.ref));
    double const err = max_rel_err(param_copy<T>(params.grad(e.ref), e.ref), want);
    CHECK(err <= grad_tol);
  }
}
}  // namespace

TEST_CASE("classifier parity: PoNet classifier equals PyTorch in double", "[nn][parity]") {
  check_parity<double>(kDoubleTol, kDoubleTol);
}

TEST_CASE("classifier parity: PoNet classifier equals PyTorch in float", "[nn][parity]") {
  check_parity<float>(kFloatOutTol, kFloatGradTol);
}
