// Elementwise nodes: forward against plain loops, fused backward against finite differences, the
// max tie rule, leaves used twice, strided leaves and gradients not asked for.
#include <catch2/catch.hpp>

#include "testing.hpp"

using namespace ponet;
using namespace testing;

namespace {
constexpr double kFdTol = 1e-6;  // double central differences on inputs spaced 1e-2 apart
}

TEST_CASE("elementwise: forward equals plain loops", "[elementwise][parity]") {
  auto [N, D] = GENERATE(table<int, int>({{1, 1}, {5, 17}, {9, 64}}));
  auto a = uniform<float>({2, N, D}, 1), b = uniform<float>({2, N, D}, 2);
  auto out = evaluate(expr::max(a, b) * 2.0 - expr::as_expr(a) * b + 1.5);
  for (int bb = 0; bb < 2; ++bb)
    for (int i = 0; i < N; ++i)
      for (int c = 0; c < D; ++c) {
        float x = a(bb, i, c), y = b(bb, i, c);
        CHECK(out(bb, i, c) == Approx((x > y ? x : y) * 2.0f - x * y + 1.5f).margin(1e-6));
      }
}

TEST_CASE("elementwise: fused backward equals finite differences", "[elementwise][fd]") {
  auto [N, D] = GENERATE(table<int, int>({{1, 1}, {5, 17}, {3, 33}}));
  auto a = distinct<double>({2, N, D}, 1e-2, 1), b = distinct<double>({2, N, D}, 1e-2, 2);
  auto w = uniform<double>({2, N, D}, 3);
  // a appears three times: its gradient is the sum over the occurrences.
  auto e = expr::max(a, b) * 2.0 - expr::as_expr(a) * b + expr::as_expr(a) * a - 0.5;
  Tensor<double> out({2, N, D}), da({2, N, D}), db({2, N, D});
  Workspace<cpu_tag> ws;
  forward(out, e, ws);
  backward(e, w, ws, {{a, da}, {b, db}});
  auto loss = [&] { return dot(w, evaluate(e)); };
  CHECK(max_rel_err(da, central_difference(loss, a)) < kFdTol);
  CHECK(max_rel_err(db, central_difference(loss, b)) < kFdTol);
}

TEST_CASE("elementwise: max ties send the gradient to the left operand", "[elementwise][ties]") {
  Tensor<float> a({1, 3, 20}), b({1, 3, 20}), out({1, 3, 20}), da({1, 3, 20}), db({1, 3, 20});
  a.fill(2);
  b.fill(2);
  Tensor<float> dout({1, 3, 20});
  dout.fill(1);
  auto e = expr::max(a, b);
  Workspace<cpu_tag> ws;
  forward(out, e, ws);
  backward(e, dout, ws, {{a, da}, {b, db}});
  for (float v : da) CHECK(v == 1);
  for (float v : db) CHECK(v == 0);
}

TEST_CASE("elementwise: strided channel slices and partial gradients", "[elementwise][views]") {
  int const B = 2, N = 6, D = 19;
  auto packed = uniform<double>({B, N, 3 * D}, 4);  // three inputs side by side, as projections
  Tensor<double> dpacked({B, N, 3 * D});
  dpacked.fill(7);
  View<double> p = packed.view(), dp = dpacked.view();
  auto x = p.channels(0, D), y = p.channels(D, D), z = p.channels(2 * D, D);
  auto e = expr::as_expr(x) * y + z;
  Tensor<double> out({B, N, D});
  auto w = uniform<double>({B, N, D}, 5);
  Workspace<cpu_tag> ws;
  forward(out, e, ws);
  // Only dx and dz are asked for; dy's columns must stay untouched.
  backward(e, w, ws, {{x, dp.channels(0, D)}, {z, dp.channels(2 * D, D)}});
  for (int b = 0; b < B; ++b)
    for (int i = 0; i < N; ++i)
      for (int c = 0; c < D; ++c) {
        CHECK(out(b, i, c) == x(b, i, c) * y(b, i, c) + z(b, i, c));
        CHECK(dpacked(b, i, c) == w(b, i, c) * y(b, i, c));
        CHECK(dpacked(b, i, D + c) == 7);
        CHECK(dpacked(b, i, 2 * D + c) == w(b, i, c));
      }
}
