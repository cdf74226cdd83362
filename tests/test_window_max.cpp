// window_max: reference backward against finite differences, the fused CPU path against the
// reference, and the tie rule.
#include <catch2/catch.hpp>

#include "testing.hpp"

using namespace ponet;
using namespace testing;

namespace {
// Double central differences, step 1e-5, inputs spaced 1e-2 apart: truncation ~1e-10.
constexpr double kFdTol = 1e-6;
}  // namespace

TEST_CASE("window_max: ref backward equals finite differences", "[window_max][fd]") {
  auto [B, N, D, k] = GENERATE(table<int, int, int, int>(
      {{1, 1, 1, 3}, {2, 7, 5, 3}, {1, 4, 3, 9}, {1, 33, 17, 5}, {2, 6, 16, 1}}));
  auto x = distinct<double>({B, N, D}, 1e-2, unsigned(N + D));
  auto w = uniform<double>({B, N, D}, unsigned(k));  // loss = sum(w * out)
  auto loss = [&] { return dot(w, ref::window_max_forward(x, k).out); };
  auto dx = ref::window_max_backward(w, k, ref::window_max_forward(x, k).argmax);
  CHECK(max_rel_err(dx, central_difference(loss, x)) < kFdTol);
}

TEMPLATE_TEST_CASE("window_max: fused equals ref, forward and backward bit for bit",
                   "[window_max][parity]", float, double) {
  auto [B, N, D, k] = GENERATE(table<int, int, int, int>({{1, 1, 1, 3},
                                                          {2, 7, 17, 3},
                                                          {1, 4, 3, 9},
                                                          {3, 65, 33, 5},
                                                          {1, 300, 64, 3},
                                                          {1, 16383, 16, 3}}));
  auto x = uniform<TestType>({B, N, D}, 7);
  auto dout = uniform<TestType>({B, N, D}, 8);
  auto e = expr::window_max(x, k);
  Tensor<TestType> out({B, N, D}), dx({B, N, D});
  Workspace<cpu_tag> ws;
  forward(out, e, ws);
  backward(e, dout, ws, {{x, dx}});
  auto r = ref::window_max_forward(x, k);
  CHECK(bit_equal(out, r.out));  // a max is exact
  // The gather sums the same values in the same order as the reference.
  CHECK(bit_equal(dx, ref::window_max_backward(dout, k, r.argmax)));
  // Inference (nothing saved) gives the same output.
  CHECK(bit_equal(evaluate(e), r.out));
}

TEST_CASE("window_max: ties send the gradient to the first token", "[window_max][ties]") {
  int const D = 19;  // a SIMD body and a scalar tail
  SECTION("all equal: every window's winner is its first token") {
    Tensor<float> x({1, 5, D}), dout({1, 5, D}), dx({1, 5, D}), out({1, 5, D});
    dout.fill(1);
    auto e = expr::window_max(x, 3);
    Workspace<cpu_tag> ws;
    forward(out, e, ws);
    backward(e, dout, ws, {{x, dx}});
    float const expect[5] = {2, 1, 1, 1, 0};  // windows i=0,1 pick j=0; i=2 j=1; i=3 j=2; i=4 j=3
    for (int j = 0; j < 5; ++j)
      for (int c = 0; c < D; ++c) CHECK(dx(0, j, c) == expect[j]);
    auto r = ref::window_max_forward(x, 3);
    CHECK(bit_equal(dx, ref::window_max_backward(dout, 3, r.argmax)));
  }
  SECTION("planted equal maxima") {
    float const v[4] = {3, 5, 5, 1};
    Tensor<float> x({1, 4, D}), dout({1, 4, D}), dx({1, 4, D}), out({1, 4, D});
    for (int i = 0; i < 4; ++i)
      for (int c = 0; c < D; ++c) x(0, i, c) = v[i];
    dout.fill(1);
    auto e = expr::window_max(x, 3);
    Workspace<cpu_tag> ws;
    forward(out, e, ws);
    backward(e, dout, ws, {{x, dx}});
    float const expect[4] = {0, 3, 1, 0};  // windows 0, 1, 2 pick token 1; window 3 picks token 2
    for (int j = 0; j < 4; ++j)
      for (int c = 0; c < D; ++c) CHECK(dx(0, j, c) == expect[j]);
  }
}
