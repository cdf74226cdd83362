// masked_mean: reference backward against finite differences and the fused CPU path against the
// reference, with full, nearly empty and empty sequences.
#include <catch2/catch.hpp>

#include "testing.hpp"

using namespace ponet;
using namespace testing;

namespace {
constexpr double kFdTol = 1e-6;     // double central differences, smooth op
constexpr double kFloatTol = 1e-5;  // float block-ordered sums against one running sum
}  // namespace

TEST_CASE("masked_mean: ref backward equals finite differences", "[masked_mean][fd]") {
  auto [B, N, D] = GENERATE(table<int, int, int>({{1, 1, 1}, {3, 7, 5}, {2, 12, 17}}));
  auto valid = lengths_mask(B, N, {N, 1, 0});  // full, all padding but one, all padding
  auto x = uniform<double>({B, N, D}, 5);
  auto w = uniform<double>({B, 1, D}, 6);
  auto loss = [&] { return dot(w, ref::masked_mean_forward(x, valid)); };
  auto dx = ref::masked_mean_backward(w, valid);
  CHECK(max_rel_err(dx, central_difference(loss, x)) < kFdTol);
}

TEMPLATE_TEST_CASE("masked_mean: fused equals ref", "[masked_mean][parity]", float, double) {
  auto [B, N, D] =
      GENERATE(table<int, int, int>({{1, 1, 1}, {3, 7, 17}, {3, 1000, 64}, {2, 16384, 16}}));
  auto valid = lengths_mask(B, N, {N, 1, 0});
  auto x = uniform<TestType>({B, N, D}, 9);
  auto dout = uniform<TestType>({B, N, D}, 10);
  auto e = expr::masked_mean(x, valid);
  Tensor<TestType> out({B, N, D}), dx({B, N, D});
  Workspace<cpu_tag> ws;
  forward(out, e, ws);
  backward(e, dout, ws, {{x, dx}});
  double const tol = std::is_same_v<TestType, float> ? kFloatTol : 1e-12;
  CHECK(max_rel_err(out, ref::broadcast_tokens(ref::masked_mean_forward(x, valid), N)) < tol);
  CHECK(max_rel_err(dx, ref::masked_mean_backward(ref::sum_tokens(dout), valid)) < tol);
  if (B == 3) {  // the empty sequence: zero output, zero gradient, no NaN
    for (int i = 0; i < N; ++i)
      for (int c = 0; c < D; ++c) {
        CHECK(out(2, i, c) == 0);
        CHECK(dx(2, i, c) == 0);
      }
  }
}
