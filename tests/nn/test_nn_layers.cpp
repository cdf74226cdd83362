// Every nn layer's hand-written backward against double central differences, and the CPU
// entry points they use against plain loops.
#include <catch2/catch.hpp>

#include "nn_testing.hpp"

using namespace ponet;
using namespace testing;

namespace {
// Double central differences, step 1e-5, smooth functions (max-pooling inputs are spaced 1e-2
// apart): truncation and rounding stay below 1e-8 relative.
constexpr double kFdTol = 1e-6;

Mat<double> mat(Tensor<double>& t) { return as_mat(t.view()); }
Mat<double const> cmat(Tensor<double> const& t) { return as_mat(t.view()); }
}  // namespace

TEST_CASE("gemm and bias helpers equal plain loops", "[nn][linalg]") {
  auto [m, k, n] =
      GENERATE(table<int, int, int>({{1, 1, 1}, {7, 5, 3}, {33, 17, 65}, {600, 9, 5}}));
  auto A = uniform<double>({1, m, k}, 1), B = uniform<double>({1, k, n}, 2);
  auto Bt = uniform<double>({1, n, k}, 3), C = uniform<double>({1, m, n}, 4);
  Tensor<double> C0 = C;
  gemm(mat(C), cmat(A), false, cmat(B), false, 2.0, 0.5);
  Tensor<double> D({1, m, n});
  gemm(mat(D), cmat(A), false, cmat(Bt), true);
  auto bias = uniform<double>({1, 1, n}, 5);
  Tensor<double> E({1, m, n});  // 600 rows: three row blocks, each started from the bias
  gemm_add_row(mat(E), cmat(A), false, cmat(Bt), true, bias.data());
  for (int i = 0; i < m; ++i)
    for (int j = 0; j < n; ++j) {
      double s = 0, t = 0;
      for (int l = 0; l < k; ++l) {
        s += A(0, i, l) * B(0, l, j);
        t += A(0, i, l) * Bt(0, j, l);
      }
      CHECK(C(0, i, j) == Approx(2 * s + 0.5 * C0(0, i, j)).epsilon(1e-12).margin(1e-13));
      CHECK(D(0, i, j) == Approx(t).epsilon(1e-12).margin(1e-13));
      CHECK(E(0, i, j) == Approx(t + bias(0, 0, j)).epsilon(1e-12).margin(1e-13));
    }
  std::vector<double> sums(n, 1.0);
  add_column_sums(sums.data(), cmat(C));
  for (int j = 0; j < n; ++j) {
    double s = 1;
    for (int i = 0; i < m; ++i) s += C(0, i, j);
    CHECK(sums[j] == Approx(s).epsilon(1e-12));
  }
  Tensor<double> wrong({1, m + 1, n});
  CHECK_THROWS_WITH(gemm(mat(wrong), cmat(A), false, cmat(B), false),
                    Catch::Contains("gemm: C [" + std::to_string(m + 1)));
  CHECK_THROWS_WITH(gemm_add_row(mat(wrong), cmat(A), false, cmat(Bt), true, bias.data()),
                    Catch::Contains("gemm: C [" + std::to_string(m + 1)));
}

TEST_CASE("Linear: backward equals finite differences", "[nn][linear][fd]") {
  nn::Params<double> p;
  nn::Linear<double> lin(p, "lin", 7, 5);
  p.allocate(3);
  auto x = uniform<double>({1, 9, 7}, 1), w = uniform<double>({1, 9, 5}, 2);
  Tensor<double> y({1, 9, 5}), dx({1, 9, 7});
  auto loss = [&] {
    lin.forward(mat(y), cmat(x));
    return dot(w, y);
  };
  loss();
  p.zero_grad();
  lin.backward(mat(dx), cmat(w), cmat(x));
  CHECK(max_rel_err(dx, central_difference(loss, x)) < kFdTol);
  CHECK(check_param_grads(p, loss).worst < kFdTol);
}

TEST_CASE("LayerNorm: backward equals finite differences", "[nn][layer_norm][fd]") {
  int const D = GENERATE(1, 7, 64);
  nn::Params<double> p;
  nn::LayerNorm<double> ln(p, "ln", D, 1e-5);
  p.allocate(3);
  for (std::size_t k = 0; k < p.size(); ++k) p.values().data()[k] += 0.1 * double(k % 5);
  auto x = uniform<double>({2, 5, D}, 1, -2, 2), w = uniform<double>({2, 5, D}, 2);
  Tensor<double> y({2, 5, D}), dx({2, 5, D});
  auto loss = [&] {
    ln.forward(mat(y), cmat(x));
    return dot(w, y);
  };
  loss();
  p.zero_grad();
  ln.backward(mat(dx), cmat(w), cmat(x));
  if (D > 1) CHECK(max_rel_err(dx, central_difference(loss, x)) < kFdTol);
  CHECK(check_param_grads(p, loss).worst < kFdTol);
  // Normalised rows: mean 0, variance 1 (gamma 1, beta 0 before the perturbation above).
  nn::Params<double> q;
  nn::LayerNorm<double> plain(q, "ln", D, 1e-5);
  q.allocate(1);
  plain.forward(mat(y), cmat(x));
  if (D > 1) {
    double mean = 0, var = 0;
    for (int c = 0; c < D; ++c) mean += y(1, 3, c) / D;
    for (int c = 0; c < D; ++c) var += (y(1, 3, c) - mean) * (y(1, 3, c) - mean) / D;
    CHECK(std::abs(mean) < 1e-12);
    CHECK(var == Approx(1.0).epsilon(1e-4));
  }
}

TEST_CASE("Embedding: forward and accumulated backward", "[nn][embedding][fd]") {
  nn::Params<double> p;
  nn::Embedding<double> emb(p, "embed", 6, 5, 12);
  p.allocate(3);
  Tensor<std::int32_t> tok({2, 9, 1});
  for (int b = 0; b < 2; ++b)
    for (int i = 0; i < 9; ++i) tok(b, i, 0) = (b + i * i) % 6;  // repeated ids
  auto w = uniform<double>({2, 9, 5}, 2);
  Tensor<double> y({2, 9, 5});
  auto loss = [&] {
    emb.forward(y, tok.cview());
    return dot(w, y);
  };
  loss();
  p.zero_grad();
  emb.backward(w, tok.cview());
  CHECK(check_param_grads(p, loss, 64).worst < kFdTol);
  tok(1, 4, 0) = 6;
  CHECK_THROWS_WITH(emb.forward(y, tok.cview()),
                    Catch::Contains("token id 6 at [b=1, i=4] is outside [0, 6)"));
  Tensor<std::int32_t> longer({1, 13, 1});
  Tensor<double> y13({1, 13, 5});
  CHECK_THROWS_WITH(emb.forward(y13, longer.cview()), Catch::Contains("exceeds the 12"));
}

TEST_CASE("masked mean pooling and cross-entropy: backward equals finite differences",
          "[nn][pooling][fd]") {
  auto x = uniform<double>({3, 7, 6}, 1);
  auto valid = lengths_mask(3, 7, {7, 1, 4});
  auto w = uniform<double>({3, 1, 6}, 2);
  Tensor<double> pooled({3, 1, 6}), counts({1, 1, 3}), dx({3, 7, 6});
  Workspace<cpu_tag> ws;
  auto loss = [&] {
    masked_mean_rows_forward(pooled.view(), x.cview(), valid.cview(), counts.data(), ws);
    return dot(w, pooled);
  };
  loss();
  masked_mean_rows_backward(dx.view(), w.cview(), valid.cview(), counts.data(), ws);
  CHECK(max_rel_err(dx, central_difference(loss, x)) < kFdTol);

  auto logits = uniform<double>({1, 4, 5}, 3, -3, 3);
  std::vector<int> labels{0, 4, 2, 2};
  Tensor<double> dlogits({1, 4, 5});
  int correct = 0;
  softmax_cross_entropy(cmat(logits), labels, mat(dlogits), &correct);
  auto ce = [&] { return softmax_cross_entropy(cmat(logits), labels, Mat<double>()); };
  CHECK(max_rel_err(dlogits, central_difference(ce, logits)) < kFdTol);
  labels[1] = 5;
  CHECK_THROWS_WITH(ce(), Catch::Contains("label 5 of row 1 is outside [0, 5)"));
}

TEST_CASE("gelu, relu, dropout: backward equals finite differences", "[nn][activation][fd]") {
  auto x = distinct<double>({2, 6, 19}, 1e-2, 5);  // away from relu's kink at 0
  for (auto& v : x) v *= 40;
  auto w = uniform<double>({2, 6, 19}, 6);
  auto check = [&](auto const& e) {
    Tensor<double> y({2, 6, 19}), dx({2, 6, 19});
    Workspace<cpu_tag> ws;
    forward(y, e, ws);
    backward(e, w, ws, {{x, dx}});
    auto loss = [&] { return dot(w, evaluate(e)); };
    CHECK(max_rel_err(dx, central_difference(loss, x)) < kFdTol);
  };
  check(expr::gelu(x));
  check(expr::relu(x));
  check(expr::dropout(expr::gelu(x), 0.3, 77));
  // GELU's erf form at known points
  Tensor<double> pts({1, 1, 3}, std::vector<double>{-1.0, 0.0, 2.0});
  auto g = evaluate(expr::gelu(pts));
  CHECK(g(0, 0, 0) == Approx(-0.15865525393145705).epsilon(1e-12));
  CHECK(g(0, 0, 1) == 0.0);
  CHECK(g(0, 0, 2) == Approx(1.9544997361036416).epsilon(1e-12));
}

TEST_CASE("dropout: keeps 1 - p of the elements, scaled, the same for the same seed",
          "[nn][dropout]") {
  Tensor<float> ones({4, 100, 37});
  ones.fill(1);
  auto a = evaluate(expr::dropout(ones, 0.25, 11));
  auto b = evaluate(expr::dropout(ones, 0.25, 11));
  auto c = evaluate(expr::dropout(ones, 0.25, 12));
  CHECK(bit_equal(a, b));
  CHECK(!bit_equal(a, c));
  double kept = 0;
  for (float v : a) {
    CHECK((v == 0.0f || v == Approx(1 / 0.75f)));
    kept += v != 0;
  }
  CHECK(kept / double(a.size()) == Approx(0.75).margin(0.01));
  CHECK(bit_equal(evaluate(expr::dropout(ones, 0.0, 3)), ones));
  // SIMD packets and scalar tails (D = 37) draw the same bit as the scalar formula.
  eval::DropMask<float> m{11, std::uint32_t(0.25 * 4294967296.0), 1 / 0.75f};
  int mismatches = 0;
  for (int b = 0; b < a.B(); ++b)
    for (int i = 0; i < a.N(); ++i)
      for (int c = 0; c < a.D(); ++c)
        mismatches += (a(b, i, c) != 0) != (hash32(m.row_key(b, i), c) >= m.threshold);
  CHECK(mismatches == 0);
  CHECK_THROWS_WITH(expr::dropout(ones, 1.0, 3), Catch::Contains("p must be in [0, 1)"));
}

TEST_CASE("PoNetMixer: backward equals finite differences", "[nn][ponet_mixer][fd]") {
  int const B = 2, N = 11, D = 8;
  nn::Params<double> p;
  nn::PoNetMixer<double> mixer(p, "mixer", {D, 2, 3});
  p.allocate(5);
  auto x = uniform<double>({B, N, D}, 1), w = uniform<double>({B, N, D}, 2);
  auto valid = lengths_mask(B, N, {N, 7});
  auto seg = Segments::chunks(B, N, 3);
  nn::Batch<cpu_tag> batch{valid, valid, seg.view(), true, 9};
  Tensor<double> y({B, N, D}), dx({B, N, D});
  nn::Scratch<double> scratch;
  auto loss = [&] {
    mixer.forward(y, x, batch);
    return dot(w, y);
  };
  loss();
  p.zero_grad();
  mixer.backward(dx, w, batch, scratch);
  CHECK(max_rel_err(dx, central_difference(loss, x)) < kFdTol);
  auto r = check_param_grads(p, loss);
  INFO(r.where);
  CHECK(r.worst < kFdTol);
}

TEMPLATE_TEST_CASE("blocks: backward equals finite differences", "[nn][block][fd]",
                   (nn::PreLNBlock<nn::PoNetMixer<double>, double>),
                   (nn::PostLNBlock<nn::PoNetMixer<double>, double>)) {
  int const B = 2, N = 9, D = 8;
  nn::Params<double> p;
  TestType block(p, "block", nn::BlockConfig{D, 12, 0.2, 1e-5, 0}, {D, 2, 3});
  p.allocate(5);
  auto x = uniform<double>({B, N, D}, 1), w = uniform<double>({B, N, D}, 2);
  auto valid = lengths_mask(B, N, {N, 6});
  auto seg = Segments::chunks(B, N, 2);
  nn::Batch<cpu_tag> batch{valid, valid, seg.view(), true, 9};  // dropout on, fixed seed
  Tensor<double> y({B, N, D}), dx({B, N, D});
  nn::Scratch<double> scratch;
  auto loss = [&] {
    block.forward(y, x, batch);
    return dot(w, y);
  };
  loss();
  p.zero_grad();
  block.backward(dx, w, batch, scratch);
  CHECK(max_rel_err(dx, central_difference(loss, x)) < kFdTol);
  auto r = check_param_grads(p, loss);
  INFO(r.where);
  CHECK(r.worst < kFdTol);
}
