// attention: the reference backward against finite differences; the blocked CPU forward and
// backward against the reference (double) at edge shapes, padding and strided slices; the same
// bits on any number of threads; bad inputs.
#include <catch2/catch.hpp>

#include <ponet/cpu/attention.hpp>
#include <ponet/ref/attention.hpp>

#include "testing.hpp"

using namespace ponet;
using namespace testing;
using Catch::Contains;

namespace {
constexpr double kFdTol = 1e-6;  // double central differences of a smooth op
// The blocked online softmax sums in another order than the reference, computes exp2 by a
// polynomial (float: 2e-9 relative) and recomputes P from the saved lse in the backward.
constexpr double kFloatTol = 1e-5;
constexpr double kDoubleTol = 1e-10;

template <class T>
double tolerance() {
  return std::is_same_v<T, float> ? kFloatTol : kDoubleTol;
}

struct Case {
  int B, N, D, H;
  std::vector<int> lengths;  // valid tokens of each sequence (a prefix)
};

// True when head channels of x are exactly 0 at every padded token.
template <class T>
bool zero_at_padding(View<T const> x, Mask const& valid) {
  for (int b = 0; b < x.B; ++b)
    for (int i = 0; i < x.N; ++i)
      if (!valid(b, i, 0))
        for (int c = 0; c < x.D; ++c)
          if (x(b, i, c) != T(0)) return false;
  return true;
}

template <class T>
Tensor<T> copy_of(View<T const> x) {
  Tensor<T> t(x.shape());
  for (int b = 0; b < x.B; ++b)
    for (int i = 0; i < x.N; ++i)
      for (int c = 0; c < x.D; ++c) t(b, i, c) = x(b, i, c);
  return t;
}

struct ThreadsGuard {
  int saved = cpu::max_threads();
  ~ThreadsGuard() { cpu::set_num_threads(saved); }
};

template <class T>
struct Grads {
  Tensor<T> out, dq, dk, dv;
};

template <class T>
Grads<T> run_cpu(Tensor<T> const& q, Tensor<T> const& k, Tensor<T> const& v, Tensor<T> const& dout,
                 Mask const& valid, int H) {
  Shape3 s = q.shape();
  Grads<T> g{Tensor<T>(s), Tensor<T>(s), Tensor<T>(s), Tensor<T>(s)};
  Workspace<cpu_tag> ws;
  attention_forward(g.out, q, k, v, valid, H, ws);
  attention_backward(g.dq, g.dk, g.dv, dout, q, k, v, g.out, valid, H, ws);
  return g;
}
}  // namespace

TEST_CASE("attention: ref backward equals finite differences", "[attention][fd]") {
  auto [B, N, D, H] = GENERATE(
      table<int, int, int, int>({{1, 1, 2, 1}, {2, 7, 6, 2}, {3, 9, 12, 3}, {4, 6, 4, 2}}));
  // Full, one token, partly padded; the last case has a fully padded sequence (length 0).
  auto valid = B == 4 ? lengths_mask(B, N, {6, 0, 3, 1}) : lengths_mask(B, N, {N, 1, N - 2});
  auto q = uniform<double>({B, N, D}, 1);
  auto k = uniform<double>({B, N, D}, 2, -2, 2);
  auto v = uniform<double>({B, N, D}, 3);
  auto w = uniform<double>({B, N, D}, 4);  // loss = sum(w * out), so dout = w
  auto loss = [&] { return dot(w, ref::attention_forward(q, k, v, valid, H).out); };
  auto g = ref::attention_backward(w, q, k, v, valid, H, ref::attention_forward(q, k, v, valid, H));
  CHECK(max_rel_err(g.dq, central_difference(loss, q)) < kFdTol);
  CHECK(max_rel_err(g.dk, central_difference(loss, k)) < kFdTol);
  CHECK(max_rel_err(g.dv, central_difference(loss, v)) < kFdTol);
}

TEST_CASE("attention: ref forward averages values when all scores tie", "[attention]") {
  int const B = 2, N = 5, D = 4, H = 2;
  auto valid = lengths_mask(B, N, {5, 3});
  Tensor<double> q = uniform<double>({B, N, D}, 1), k({B, N, D}), v = uniform<double>({B, N, D}, 2);
  k.fill(0.5);  // every key the same: softmax is uniform over valid keys
  auto r = ref::attention_forward(q, k, v, valid, H);
  for (int b = 0; b < B; ++b)
    for (int i = 0; i < N; ++i)
      for (int c = 0; c < D; ++c) {
        double mean = 0;
        int n = b == 0 ? 5 : 3;
        for (int j = 0; j < n; ++j) mean += v(b, j, c) / n;
        CHECK(r.out(b, i, c) == Approx(valid(b, i, 0) ? mean : 0.0).margin(1e-15));
      }
}

TEMPLATE_TEST_CASE("attention: blocked CPU equals ref", "[attention][parity]", float, double) {
  static Case const cases[] = {
      {1, 1, 1, 1, {1}},                // N = 1, dh = 1
      {2, 7, 18, 2, {7, 5}},            // odd N; dh = 9, not a SIMD multiple
      {3, 33, 64, 2, {33, 1, 0}},       // all but one token padded; a fully padded sequence
      {2, 97, 40, 1, {97, 60}},         // dh = 40: whole and partial vectors
      {2, 300, 16, 4, {300, 299}},      // dh = 4, many heads, N not a block multiple
      {1, 130, 768, 12, {130}},         // BERT-base heads, dh = 64
      {2, 1500, 64, 2, {1500, 1111}}};  // many key blocks and query groups; LRA heads (dh 32)
  Case const& cs = cases[GENERATE(range(0, 7))];
  int const B = cs.B, N = cs.N, D = cs.D, H = cs.H;
  CAPTURE(B, N, D, H);
  auto valid = lengths_mask(B, N, cs.lengths);
  auto q = uniform<TestType>({B, N, D}, 5);
  auto k = uniform<TestType>({B, N, D}, 6, -3, 3);  // peaked softmax: exercises the max shift
  auto v = uniform<TestType>({B, N, D}, 7);
  auto dout = uniform<TestType>({B, N, D}, 8);
  auto g = run_cpu(q, k, v, dout, valid, H);

  auto r = ref::attention_forward(cast<double>(q), cast<double>(k), cast<double>(v), valid, H);
  auto rg = ref::attention_backward(cast<double>(dout), cast<double>(q), cast<double>(k),
                                    cast<double>(v), valid, H, r);
  double const tol = tolerance<TestType>();
  CHECK(max_rel_err(g.out, r.out) < tol);
  CHECK(max_rel_err(g.dq, rg.dq) < tol);
  CHECK(max_rel_err(g.dk, rg.dk) < tol);
  CHECK(max_rel_err(g.dv, rg.dv) < tol);
  // Padded queries output exactly 0; padded tokens get exactly 0 gradient.
  for (auto* t : {&g.out, &g.dq, &g.dk, &g.dv}) CHECK(zero_at_padding(t->cview(), valid));
}

TEMPLATE_TEST_CASE("attention: strided q, k, v slices of one projection", "[attention][strided]",
                   float, double) {
  int const B = 2, N = 150, D = 64, H = 2;
  auto valid = lengths_mask(B, N, {150, 91});
  auto qkv = uniform<TestType>({B, N, 3 * D}, 9, -2, 2);  // [B, N, 3D] projection output
  auto dout = uniform<TestType>({B, N, D}, 10);
  View<TestType> all = qkv.view();
  View<TestType const> q = all.channels(0, D), k = all.channels(D, D), v = all.channels(2 * D, D);
  Tensor<TestType> out2({B, N, 2 * D}), dqkv({B, N, 3 * D});
  out2.fill(TestType(7));  // the output slice is the second half; the first must stay 7
  View<TestType> out = out2.view().channels(D, D);
  Workspace<cpu_tag> ws;
  attention_forward(out, q, k, v, valid, H, ws);
  View<TestType> dq = dqkv.view().channels(0, D), dk = dqkv.view().channels(D, D),
                 dv = dqkv.view().channels(2 * D, D);
  attention_backward(dq, dk, dv, dout, q, k, v, out, valid, H, ws);

  auto qc = cast<double>(copy_of(q)), kc = cast<double>(copy_of(k)), vc = cast<double>(copy_of(v));
  auto r = ref::attention_forward(qc, kc, vc, valid, H);
  auto rg = ref::attention_backward(cast<double>(dout), qc, kc, vc, valid, H, r);
  double const tol = tolerance<TestType>();
  CHECK(max_rel_err(copy_of<TestType>(out), r.out) < tol);
  CHECK(max_rel_err(copy_of<TestType>(dq), rg.dq) < tol);
  CHECK(max_rel_err(copy_of<TestType>(dk), rg.dk) < tol);
  CHECK(max_rel_err(copy_of<TestType>(dv), rg.dv) < tol);
  bool untouched = true;
  for (int b = 0; b < B; ++b)
    for (int i = 0; i < N; ++i)
      for (int c = 0; c < D; ++c) untouched = untouched && out2(b, i, c) == TestType(7);
  CHECK(untouched);
}

TEST_CASE("attention: padded tokens change nothing", "[attention][padding]") {
  int const B = 2, N = 200, D = 32, H = 2;
  auto valid = lengths_mask(B, N, {120, 7});
  auto q = uniform<float>({B, N, D}, 11), k = uniform<float>({B, N, D}, 12);
  auto v = uniform<float>({B, N, D}, 13), dout = uniform<float>({B, N, D}, 14);
  auto a = run_cpu(q, k, v, dout, valid, H);
  for (auto* t : {&q, &k, &v, &dout})  // huge values at padding: would dominate if read
    for (int b = 0; b < B; ++b)
      for (int i = 0; i < N; ++i)
        if (!valid(b, i, 0))
          for (int c = 0; c < D; ++c) (*t)(b, i, c) = 1e3f;
  auto z = run_cpu(q, k, v, dout, valid, H);
  CHECK(bit_equal(a.out, z.out));
  CHECK(bit_equal(a.dq, z.dq));
  CHECK(bit_equal(a.dk, z.dk));
  CHECK(bit_equal(a.dv, z.dv));
}

TEST_CASE("attention: bit-identical on 1, 2 and 3 threads", "[attention][determinism]") {
  ThreadsGuard guard;
  // B * H = 2 splits the backward into key groups; B * H = 6 does not.
  static Case const cases[] = {{1, 700, 64, 2, {700}}, {3, 300, 32, 2, {300, 250, 1}}};
  Case const& cs = cases[GENERATE(0, 1)];
  int const B = cs.B, N = cs.N, D = cs.D, H = cs.H;
  auto valid = lengths_mask(B, N, cs.lengths);
  auto q = uniform<float>({B, N, D}, 15), k = uniform<float>({B, N, D}, 16, -3, 3);
  auto v = uniform<float>({B, N, D}, 17), dout = uniform<float>({B, N, D}, 18);
  cpu::set_num_threads(1);
  auto one = run_cpu(q, k, v, dout, valid, H);
  for (int threads : {2, 3}) {
    cpu::set_num_threads(threads);
    auto g = run_cpu(q, k, v, dout, valid, H);
    CAPTURE(threads);
    CHECK(bit_equal(g.out, one.out));
    CHECK(bit_equal(g.dq, one.dq));
    CHECK(bit_equal(g.dk, one.dk));
    CHECK(bit_equal(g.dv, one.dv));
  }
}

TEST_CASE("attention: bad inputs throw ponet::Error naming them", "[attention][errors]") {
  auto q = uniform<float>({2, 8, 64}, 1);
  auto k7 = uniform<float>({2, 7, 64}, 2);
  auto valid = ones_mask(2, 8);
  Tensor<float> out({2, 8, 64}), dq({2, 8, 64}), dk({2, 8, 64}), dv({2, 8, 64});
  Workspace<cpu_tag> ws;
  CHECK_THROWS_WITH(attention_forward(out, q, q, q, valid, 3, ws),
                    Contains("H=3 does not divide D=64"));
  CHECK_THROWS_WITH(attention_forward(out, q, q, q, valid, 0, ws), Contains("H=0"));
  CHECK_THROWS_WITH(attention_forward(out, q, k7, q, valid, 2, ws),
                    Contains("k is [2,7,64] but q is [2,8,64]"));
  CHECK_THROWS_WITH(attention_forward(out, q, q, k7, valid, 2, ws), Contains("v is [2,7,64]"));
  Mask wide(Shape3{2, 8, 2});
  CHECK_THROWS_WITH(attention_forward(out, q, q, q, wide, 2, ws),
                    Contains("valid is [2,8,2] but q is [2,8,64]"));
  Tensor<float> small({2, 8, 32});
  CHECK_THROWS_WITH(attention_forward(small, q, q, q, valid, 2, ws),
                    Contains("out is [2,8,32] but q is [2,8,64]"));
  CHECK_THROWS_WITH(attention_forward(q.view().channels(0, 64), q, q, q, valid, 2, ws),
                    Contains("out overlaps q"));
  // No training forward in this workspace yet.
  CHECK_THROWS_WITH(attention_backward(dq, dk, dv, q, q, q, q, out, valid, 2, ws),
                    Contains("no training forward"));
  attention_forward(out, q, q, q, valid, 2, ws);
  auto q7 = uniform<float>({2, 7, 64}, 3);
  Tensor<float> d7({2, 7, 64}), e7({2, 7, 64}), f7({2, 7, 64}), o7({2, 7, 64});
  CHECK_THROWS_WITH(attention_backward(d7, e7, f7, q7, q7, q7, q7, o7, ones_mask(2, 7), 2, ws),
                    Contains("differs from the last forward's [2,8,64]"));
  CHECK_THROWS_WITH(attention_backward(dq, dq, dv, q, q, q, q, out, valid, 2, ws),
                    Contains("dq overlaps dk"));
  CHECK_THROWS_WITH(attention_backward(dq, dk, dv, q, q, q, q, dk, valid, 2, ws),
                    Contains("dk overlaps out"));
  CHECK_THROWS_WITH(attention_backward(dq, dk, dv, small, q, q, q, out, valid, 2, ws),
                    Contains("dout is [2,8,32] but q is [2,8,64]"));
  CHECK_THROWS_WITH(ref::attention_forward(q, q, q, valid, 3), Contains("H=3 does not divide"));
  CHECK_THROWS_WITH(ref::attention_forward(q, k7, q, valid, 2), Contains("k is [2,7,64]"));
}
