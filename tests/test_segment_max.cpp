// segment_max: reference backward against finite differences, the fused CPU path against the
// reference for every way of building segments, and the tie rule.
#include <catch2/catch.hpp>

#include "testing.hpp"

using namespace ponet;
using namespace testing;

namespace {
constexpr double kFdTol = 1e-6;  // double central differences on inputs spaced 1e-2 apart

Segments make_segments(std::string const& kind, int B, int N) {
  if (kind == "chunks4") return Segments::chunks(B, N, 4);
  if (kind == "one") return Segments::chunks(B, N, 1);
  if (kind == "singletons") {  // every token its own segment
    Tensor<std::int32_t> ids({B, N, 1});
    for (int b = 0; b < B; ++b)
      for (int i = 0; i < N; ++i) ids(b, i, 0) = i;
    return Segments::from_ids(ids, N);
  }
  if (kind == "gaps") {  // explicit ids that skip values: empty segments
    Tensor<std::int32_t> ids({B, N, 1});
    for (int b = 0; b < B; ++b)
      for (int i = 0; i < N; ++i) ids(b, i, 0) = 3 * (i / 3) + b % 2;
    return Segments::from_ids(ids, 3 * (N / 3) + 2);
  }
  // [CLS] a b [SEP] c ... : delimiters every 5 tokens, per-batch offset
  Tensor<std::int64_t> tok({B, N, 1});
  for (int b = 0; b < B; ++b)
    for (int i = 0; i < N; ++i) tok(b, i, 0) = i == 0 ? 101 : ((i + b) % 5 == 0 ? 102 : 1000 + i);
  return Segments::from_tokens<std::int64_t>(tok.view(), 101, 102);
}
}  // namespace

TEST_CASE("segment_max: ref backward equals finite differences", "[segment_max][fd]") {
  auto kind = GENERATE(as<std::string>{}, "chunks4", "one", "singletons", "gaps", "tokens");
  auto [B, N, D] = GENERATE(table<int, int, int>({{1, 1, 1}, {2, 9, 5}, {1, 13, 17}}));
  auto seg = make_segments(kind, B, N);
  auto x = distinct<double>({B, N, D}, 1e-2, unsigned(N * D));
  auto w = uniform<double>({B, N, D}, 3);
  auto loss = [&] { return dot(w, ref::segment_max_forward(x, seg.ids(), seg.S()).out); };
  auto dx = ref::segment_max_backward(w, seg.ids(), seg.S(),
                                      ref::segment_max_forward(x, seg.ids(), seg.S()).argmax);
  CHECK(max_rel_err(dx, central_difference(loss, x)) < kFdTol);
}

TEMPLATE_TEST_CASE("segment_max: fused equals ref, forward and backward", "[segment_max][parity]",
                   float, double) {
  auto kind = GENERATE(as<std::string>{}, "chunks4", "one", "singletons", "gaps", "tokens");
  auto [B, N, D] = GENERATE(
      table<int, int, int>({{1, 1, 1}, {2, 9, 17}, {3, 130, 33}, {1, 2000, 64}, {2, 16383, 8}}));
  auto seg = make_segments(kind, B, N);
  auto x = uniform<TestType>({B, N, D}, 11);
  auto dout = uniform<TestType>({B, N, D}, 12);
  auto e = expr::segment_max(x, seg);
  Tensor<TestType> out({B, N, D}), dx({B, N, D});
  Workspace<cpu_tag> ws;
  forward(out, e, ws);
  backward(e, dout, ws, {{x, dx}});
  auto r = ref::segment_max_forward(x, seg.ids(), seg.S());
  CHECK(bit_equal(out, r.out));  // a max is exact
  // dtable sums a segment's dout in blocks, then blocks in order: rounding differs from the
  // reference's single running sum.
  CHECK(max_rel_err(dx, ref::segment_max_backward(dout, seg.ids(), seg.S(), r.argmax)) <
        (std::is_same_v<TestType, float> ? 1e-5 : 1e-12));
}

TEST_CASE("segment_max: ties send the gradient to the first token of the segment",
          "[segment_max][ties]") {
  int const B = 1, N = 3000, D = 19;  // segments span several token blocks
  auto seg = Segments::chunks(B, N, 3);
  Tensor<float> x({B, N, D}), dout({B, N, D}), dx({B, N, D}), out({B, N, D});
  for (int i = 0; i < N; ++i)
    for (int c = 0; c < D; ++c) x(0, i, c) = float(i % 7 == 3);  // many equal maxima
  dout.fill(1);
  auto e = expr::segment_max(x, seg);
  Workspace<cpu_tag> ws;
  forward(out, e, ws);
  backward(e, dout, ws, {{x, dx}});
  int const len = N / 3 + 1;
  for (int i = 0; i < N; ++i) {
    int start = (i / len) * len, first = start + ((3 - start % 7) + 7) % 7;  // first i%7==3
    int size = std::min(N, start + len) - start;
    for (int c = 0; c < D; ++c) REQUIRE(dx(0, i, c) == (i == first ? float(size) : 0.f));
  }
}
