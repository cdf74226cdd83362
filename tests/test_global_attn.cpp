// global_attn: reference backward (through the masked-mean query) against finite differences,
// and the fused CPU path against the reference.
#include <catch2/catch.hpp>

#include "testing.hpp"

using namespace ponet;
using namespace testing;

namespace {
constexpr double kFdTol = 1e-6;     // double central differences, smooth op
constexpr double kFloatTol = 1e-5;  // float online softmax against the two-pass reference
}  // namespace

TEST_CASE("global_attn: ref backward equals finite differences", "[global_attn][fd]") {
  auto [B, N, D, H] =
      GENERATE(table<int, int, int, int>({{1, 1, 2, 1}, {2, 7, 6, 2}, {3, 9, 12, 3}}));
  auto valid = lengths_mask(B, N, {N, 1, N - 2});
  auto q = uniform<double>({B, N, D}, 1);
  auto k = uniform<double>({B, N, D}, 2);
  auto w = uniform<double>({B, 1, D}, 3);
  auto run = [&] {
    return ref::global_attn_forward(ref::masked_mean_forward(q, valid), k, valid, H);
  };
  auto loss = [&] { return dot(w, run().g); };
  auto qm = ref::masked_mean_forward(q, valid);
  auto g = ref::global_attn_backward(w, qm, k, valid, H, run());
  CHECK(max_rel_err(g.dk, central_difference(loss, k)) < kFdTol);
  CHECK(max_rel_err(ref::masked_mean_backward(g.dq, valid), central_difference(loss, q)) < kFdTol);
}

TEMPLATE_TEST_CASE("global_attn: fused equals ref", "[global_attn][parity]", float, double) {
  auto [B, N, D, H] = GENERATE(table<int, int, int, int>({{1, 1, 1, 1},
                                                          {2, 7, 18, 2},  // dh = 9: scalar tails
                                                          {3, 33, 64, 2},
                                                          {2, 4099, 48, 3},
                                                          {1, 700, 768, 12}}));
  auto valid = lengths_mask(B, N, {N, 1, (N + 1) / 2});
  auto q = uniform<TestType>({B, N, D}, 4);
  auto k = uniform<TestType>({B, N, D}, 5, -3, 3);  // peaked softmax: exercises the max shift
  auto dout = uniform<TestType>({B, N, D}, 6);
  auto e = expr::global_attn(q, k, valid, H);
  Tensor<TestType> out({B, N, D}), dq({B, N, D}), dk({B, N, D});
  Workspace<cpu_tag> ws;
  forward(out, e, ws);
  backward(e, dout, ws, {{q, dq}, {k, dk}});

  auto qm = ref::masked_mean_forward(q, valid);
  auto r = ref::global_attn_forward(qm, k, valid, H);
  auto g = ref::global_attn_backward(ref::sum_tokens(dout), qm, k, valid, H, r);
  double const tol = std::is_same_v<TestType, float> ? kFloatTol : 1e-11;
  CHECK(max_rel_err(out, ref::broadcast_tokens(r.g, N)) < tol);
  CHECK(max_rel_err(dk, g.dk) < tol);
  CHECK(max_rel_err(dq, ref::masked_mean_backward(g.dq, valid)) < tol);
}
