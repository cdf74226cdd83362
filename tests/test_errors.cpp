// Bad input throws ponet::Error naming the problem; nothing runs on inconsistent data.
#include <catch2/catch.hpp>

#include "testing.hpp"

using namespace ponet;
using namespace testing;
using Catch::Contains;

TEST_CASE("errors: shapes", "[errors]") {
  Tensor<float> a({2, 8, 4}), b({2, 7, 4}), out({2, 8, 4});
  auto valid = ones_mask(2, 8), short_mask = ones_mask(2, 7), one_batch = ones_mask(1, 8);
  CHECK_THROWS_AS(expr::as_expr(a) + b, Error);
  CHECK_THROWS_WITH(expr::as_expr(a) + b, Contains("left is [2,8,4] but right is [2,7,4]"));
  CHECK_THROWS_WITH(expr::as_expr(a) * b, Contains("operator*"));
  CHECK_THROWS_WITH(expr::max(a, b), Contains("max"));
  CHECK_THROWS_WITH(expr::masked(a, short_mask),
                    Contains("mask is [2,7,1] but x is [2,8,4] (mask must be [B,N,1])"));
  CHECK_THROWS_WITH(expr::masked_mean(a, one_batch), Contains("valid is [1,8,1]"));
  CHECK_THROWS_WITH(expr::global_attn(a, b, valid, 1), Contains("q is [2,8,4] but k is [2,7,4]"));
  Tensor<float> wrong({2, 8, 5});
  CHECK_THROWS_WITH(assign(wrong, expr::as_expr(a) + a),
                    Contains("destination is [2,8,5] but expression is [2,8,4]"));
}

TEST_CASE("errors: parameters", "[errors]") {
  Tensor<float> x({2, 8, 6});
  auto valid = ones_mask(2, 8);
  CHECK_THROWS_WITH(expr::global_attn(x, x, valid, 4), Contains("H=4 does not divide D=6"));
  CHECK_THROWS_WITH(expr::global_attn(x, x, valid, 0), Contains("H=0"));
  for (int k : {0, -1, 2, 4, 257})
    CHECK_THROWS_WITH(expr::window_max(x, k),
                      Contains("k must be odd and in [1, 255], got " + std::to_string(k)));
  CHECK_THROWS_WITH(Segments::chunks(2, 8, 0), Contains("segment_num"));
  CHECK_THROWS_WITH(x.view().channels(4, 3), Contains("outside D=6"));
  CHECK_THROWS_WITH(Tensor<float>(Shape3{1, 2, 3}, std::vector<float>(5)), Contains("5 values"));
}

TEST_CASE("errors: segment ids", "[errors]") {
  Tensor<std::int32_t> ids({1, 6, 1}, std::vector<std::int32_t>{0, 0, 1, 1, 2, 4});
  CHECK_THROWS_WITH(Segments::from_ids(ids, 4), Contains("id 4 at [b=0, i=5] is outside [0, 4)"));
  Tensor<std::int32_t> neg({1, 3, 1}, std::vector<std::int32_t>{0, -1, 0});
  CHECK_THROWS_WITH(Segments::from_ids(neg, 2), Contains("id -1"));
  Tensor<std::int32_t> dec({2, 4, 1}, std::vector<std::int32_t>{0, 0, 1, 1, 0, 2, 1, 3});
  CHECK_THROWS_WITH(Segments::from_ids(dec, 4), Contains("ids decrease at [b=1, i=2] (1 after 2)"));
  CHECK_THROWS_WITH(Segments::from_ids(ids, 0), Contains("S must be >= 1"));
  Tensor<std::int32_t> wide({1, 6, 2});
  CHECK_THROWS_WITH(Segments::from_ids(wide, 4), Contains("must be [B,N,1]"));
  Tensor<float> x({1, 7, 3});
  auto seg = Segments::chunks(1, 6, 2);
  CHECK_THROWS_WITH(expr::segment_max(x, seg), Contains("segment ids is [1,6,1] but x is [1,7,3]"));
}

TEST_CASE("errors: empty tensors", "[errors]") {
  Tensor<float> e0({0, 4, 4}), e1({2, 0, 4}), e2({2, 4, 0});
  CHECK_THROWS_WITH(expr::window_max(e1, 3), Contains("is empty [2,0,4]"));
  auto valid = ones_mask(2, 4);
  CHECK_THROWS_WITH(expr::masked_mean(e2, valid), Contains("is empty"));
  CHECK_THROWS_WITH(assign(e0, expr::as_expr(e0) * 2.0), Contains("destination is empty"));
  CHECK_THROWS_WITH(Tensor<float>(Shape3{-1, 2, 2}), Contains("negative shape"));
}

TEST_CASE("errors: backward misuse", "[errors]") {
  auto x = uniform<float>({1, 5, 4}, 1), y = uniform<float>({1, 5, 4}, 2);
  Tensor<float> out({1, 5, 4}), dx({1, 5, 4}), dout({1, 5, 4});
  auto e = expr::window_max(x, 3);
  Workspace<cpu_tag> ws;
  CHECK_THROWS_WITH(backward(e, dout, ws, {{x, dx}}), Contains("holds no training forward"));
  assign(out, e, ws);
  CHECK_THROWS_WITH(backward(e, dout, ws, {{x, dx}}), Contains("holds no training forward"));
  forward(out, e, ws);
  auto other = expr::window_max(expr::as_expr(x) * 2.0, 3);
  CHECK_THROWS_WITH(backward(other, dout, ws, {{x, dx}}),
                    Contains("differs from the last forward"));
  Tensor<float> small({1, 4, 4});
  CHECK_THROWS_WITH(backward(e, dout, ws, {{x, small}}),
                    Contains("input is [1,5,4] but its gradient is [1,4,4]"));
  CHECK_THROWS_WITH(backward(e, dout, ws, {{y, dx}}), Contains("does not read"));
  CHECK_THROWS_WITH(backward(e, dout, ws, {{x, dout}}), Contains("overlaps dout"));
  CHECK_THROWS_WITH(backward(e, dout, ws, {{x, x}}), Contains("overlaps an input"));
  CHECK_THROWS_WITH(backward(e, small, ws, {{x, dx}}), Contains("dout is [1,4,4]"));
  CHECK_NOTHROW(backward(e, dout, ws, {{x, dx}}));
  CHECK_NOTHROW(backward(e, dout, ws, {{x, dx}}));  // a second backward of the same forward
}

TEST_CASE("errors: a window_max cannot write over its own input", "[errors]") {
  auto x = uniform<float>({1, 5, 4}, 1);
  CHECK_THROWS_WITH(assign(x, expr::window_max(x, 3)), Contains("overlaps an input"));
  CHECK_NOTHROW(assign(x, expr::as_expr(x) * 2.0));  // elementwise in place is fine
}
