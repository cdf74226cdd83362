// fourier_mix (FNet token mixing): the reference against the defining sum and finite differences,
// the FFTW path against the reference (float and double, odd and even N and D, strided views, in
// place, N near 16384), thread-count determinism and bad shapes.
#include <catch2/catch.hpp>

#include <cmath>
#include <vector>

#include <ponet/cpu/fourier.hpp>
#include <ponet/ref/fourier.hpp>
#include "testing.hpp"

using namespace ponet;
using namespace testing;
using Catch::Contains;
using cpu::FourierPlanning;
using cpu::FourierWorkspace;

namespace {
// Norm-wise relative errors (testing.hpp). An FFT's rounding error grows like eps log2(N D);
// at N D = 2^17 that is ~4e-15 in double and ~2e-6 in float, under these bounds with room.
constexpr double kDoubleTol = 1e-10;
constexpr double kFloatTol = 1e-5;
// The loss is linear, so central differences have no truncation error, only rounding.
constexpr double kFdTol = 1e-6;
// The separable reference against the four-loop definition: both double, only rounding differs.
constexpr double kDefinitionTol = 1e-12;

template <class T>
constexpr double tolerance() {
  return std::is_same_v<T, float> ? kFloatTol : kDoubleTol;
}

// y[b,i,j] = sum over k, l of x[b,k,l] cos(2 pi (i k / N + j l / D)), as written: O(N^2 D^2).
Tensor<double> defining_sum(Tensor<double> const& x) {
  int const B = x.B(), N = x.N(), D = x.D();
  double const two_pi = 6.283185307179586;
  Tensor<double> y(x.shape());
  for (int b = 0; b < B; ++b)
    for (int i = 0; i < N; ++i)
      for (int j = 0; j < D; ++j)
        for (int k = 0; k < N; ++k)
          for (int l = 0; l < D; ++l)
            y(b, i, j) +=
                x(b, k, l) * std::cos(two_pi * (double(i * k % N) / N + double(j * l % D) / D));
  return y;
}

// A strided view's elements as a contiguous tensor.
template <class T>
Tensor<T> gather(View<T const> v) {
  Tensor<T> t(v.shape());
  for (int b = 0; b < v.B; ++b)
    for (int i = 0; i < v.N; ++i)
      for (int c = 0; c < v.D; ++c) t(b, i, c) = v(b, i, c);
  return t;
}

template <class T>
Tensor<T> cpu_forward(Tensor<T> const& x, FourierPlanning planning = FourierPlanning::measure) {
  Tensor<T> y(x.shape());
  FourierWorkspace ws(planning);
  fourier_mix_forward(y.view(), x, ws);
  return y;
}

template <class T>
Tensor<T> cpu_backward(Tensor<T> const& dy) {
  Tensor<T> dx(dy.shape());
  fourier_mix_backward(dx.view(), dy);
  return dx;
}

// Restores the thread count a test changed.
struct ThreadsGuard {
  int saved = cpu::max_threads();
  ~ThreadsGuard() { cpu::set_num_threads(saved); }
};
}  // namespace

TEST_CASE("fourier_mix: ref equals the defining sum", "[fourier][ref]") {
  auto [B, N, D] = GENERATE(
      table<int, int, int>({{1, 1, 1}, {1, 1, 6}, {2, 7, 1}, {2, 8, 6}, {1, 9, 5}, {3, 12, 10}}));
  auto x = uniform<double>({B, N, D}, unsigned(N * 31 + D));
  CHECK(max_rel_err(ref::fourier_mix_forward(x), defining_sum(x)) < kDefinitionTol);
}

TEST_CASE("fourier_mix: ref backward equals finite differences", "[fourier][ref][fd]") {
  auto [B, N, D] = GENERATE(table<int, int, int>({{1, 1, 1}, {2, 7, 5}, {1, 8, 6}, {1, 5, 12}}));
  auto x = uniform<double>({B, N, D}, unsigned(N + D));
  auto w = uniform<double>({B, N, D}, unsigned(N * D));  // loss = sum(w * y)
  auto loss = [&] { return dot(w, ref::fourier_mix_forward(x)); };
  CHECK(max_rel_err(ref::fourier_mix_backward(w), central_difference(loss, x)) < kFdTol);
}

TEST_CASE("fourier_mix: FFTW backward equals finite differences", "[fourier][fd]") {
  auto [B, N, D] = GENERATE(table<int, int, int>({{1, 1, 1}, {2, 7, 5}, {1, 8, 6}, {2, 9, 12}}));
  auto x = uniform<double>({B, N, D}, unsigned(N + 2 * D));
  auto w = uniform<double>({B, N, D}, unsigned(N * D + 1));  // loss = sum(w * y)
  auto loss = [&] { return dot(w, cpu_forward(x)); };
  CHECK(max_rel_err(cpu_backward(w), central_difference(loss, x)) < kFdTol);
}

TEMPLATE_TEST_CASE("fourier_mix: FFTW forward and backward equal the direct DFT",
                   "[fourier][parity]", float, double) {
  auto [B, N, D] = GENERATE(table<int, int, int>({{1, 1, 1},  // N = 1 and D = 1
                                                  {1, 1, 9},
                                                  {2, 9, 1},
                                                  {2, 8, 6},
                                                  {3, 7, 5},  // odd N and D; batches misaligned
                                                  {2, 12, 10},
                                                  {1, 33, 17},
                                                  {4, 64, 48},
                                                  {2, 100, 96},
                                                  {1, 250, 12},
                                                  {2, 128, 64}}));
  auto planning = GENERATE(FourierPlanning::measure, FourierPlanning::estimate);
  CAPTURE(B, N, D, planning == FourierPlanning::measure);
  auto x = uniform<TestType>({B, N, D}, unsigned(N * 7 + D));
  auto dy = uniform<TestType>({B, N, D}, unsigned(N * 11 + D));
  auto y = cpu_forward(x, planning);
  CHECK(max_rel_err(y, ref::fourier_mix_forward(cast<double>(x))) < tolerance<TestType>());
  Tensor<TestType> dx({B, N, D});
  FourierWorkspace ws(planning);
  fourier_mix_backward(dx.view(), dy, ws);
  CHECK(max_rel_err(dx, ref::fourier_mix_backward(cast<double>(dy))) < tolerance<TestType>());
}

// Long sequences, checked against the closed form of a sparse input: a few nonzeros x[b,k,l] = v
// give y[b,i,j] = sum of v cos(2 pi ((i k mod N) / N + (j l mod D) / D)) at every (i, j).
TEMPLATE_TEST_CASE("fourier_mix: N near 16384 equals the closed form of a sparse input",
                   "[fourier][parity][long]", float, double) {
  // FFTW_MEASURE takes 1.5 s to plan [16383, 5] but 0.02 s for [16384, 4]: the odd shape gets
  // the heuristic plan, to keep the test quick.
  auto [B, N, D, planning] = GENERATE(table<int, int, int, FourierPlanning>(
      {{1, 16384, 4, FourierPlanning::measure}, {2, 16383, 5, FourierPlanning::estimate}}));
  struct Spike {
    int b, k, l;
    double v;
  };
  std::vector<Spike> spikes = {{0, 0, 0, 0.5}, {0, 1, 1, -1.0}, {0, N / 3, D - 1, 0.75}};
  if (B > 1) spikes.push_back({1, N - 1, 2, 1.25});
  Tensor<TestType> x({B, N, D});
  for (auto const& s : spikes) x(s.b, s.k, s.l) += TestType(s.v);
  Tensor<double> expected({B, N, D});
  long double const two_pi = 6.283185307179586476925286766559L;
  for (auto const& s : spikes)
    for (int i = 0; i < N; ++i)
      for (int j = 0; j < D; ++j) {
        long double turns =
            (long double)((long long)i * s.k % N) / N + (long double)((long long)j * s.l % D) / D;
        expected(s.b, i, j) += s.v * double(std::cos(two_pi * turns));
      }
  CHECK(max_rel_err(cpu_forward(x, planning), expected) < tolerance<TestType>());
}

TEMPLATE_TEST_CASE("fourier_mix: strided views", "[fourier][strided]", float, double) {
  auto [B, N, D] = GENERATE(table<int, int, int>({{3, 7, 5}, {2, 16, 8}, {1, 1, 3}}));
  // x: channels [1, 1 + D) of [B, N, D + 3] (rows strided and misaligned); y: channels
  // [2, 2 + D) of [B, N, D + 5], whose other channels must keep their sentinel.
  auto wide_x = uniform<TestType>({B, N, D + 3}, unsigned(N + D));
  Tensor<TestType> wide_y({B, N, D + 5}), wide_dx({B, N, D + 5});
  wide_y.fill(TestType(7));
  wide_dx.fill(TestType(7));
  View<TestType const> x = wide_x.view().channels(1, D);
  View<TestType> y = wide_y.view().channels(2, D), dx = wide_dx.view().channels(2, D);
  FourierWorkspace ws;
  fourier_mix_forward(y, x, ws);
  fourier_mix_backward(dx, x, ws);  // dy = x
  auto expected = ref::fourier_mix_forward(cast<double>(gather(x)));
  CHECK(max_rel_err(gather<TestType>(y), expected) < tolerance<TestType>());
  CHECK(max_rel_err(gather<TestType>(dx), expected) < tolerance<TestType>());
  for (auto const* wide : {&wide_y, &wide_dx})
    for (int b = 0; b < B; ++b)
      for (int i = 0; i < N; ++i)
        for (int c = 0; c < D + 5; ++c)
          if (c < 2 || c >= 2 + D) REQUIRE((*wide)(b, i, c) == TestType(7));
}

TEMPLATE_TEST_CASE("fourier_mix: in place equals out of place", "[fourier][inplace]", float,
                   double) {
  auto [B, N, D] = GENERATE(table<int, int, int>({{2, 8, 6}, {3, 7, 5}}));
  auto x = uniform<TestType>({B, N, D}, 5);
  auto out_of_place = cpu_forward(x);
  fourier_mix_forward(x.view(), x);
  CHECK(bit_equal(x, out_of_place));
  // A strided view in place: the copy path.
  auto wide = uniform<TestType>({B, N, D + 2}, 6);
  auto strided = wide.view().channels(1, D);
  auto expected = cpu_forward(gather<TestType>(strided));
  fourier_mix_forward(strided, strided);
  CHECK(bit_equal(gather<TestType>(strided), expected));
}

TEMPLATE_TEST_CASE("fourier_mix: bit-identical on 1 and 2 threads", "[fourier][threads]", float,
                   double) {
  ThreadsGuard guard;
  auto [B, N, D] = GENERATE(table<int, int, int>({{5, 33, 17}, {2, 64, 48}, {1, 8, 6}}));
  auto wide = uniform<TestType>({B, N, D + 1}, 9);
  auto x = wide.view().channels(1, D);  // copies for every sequence
  auto dy = uniform<TestType>({B, N, D}, 10);
  Tensor<TestType> y[2], dx[2], ys[2];
  for (int t : {1, 2}) {
    cpu::set_num_threads(t);
    FourierWorkspace ws;
    y[t - 1] = Tensor<TestType>({B, N, D});
    dx[t - 1] = Tensor<TestType>({B, N, D});
    ys[t - 1] = Tensor<TestType>({B, N, D});
    fourier_mix_forward(y[t - 1].view(), dy, ws);
    fourier_mix_backward(dx[t - 1].view(), dy, ws);
    fourier_mix_forward(ys[t - 1].view(), x, ws);
  }
  CHECK(bit_equal(y[0], y[1]));
  CHECK(bit_equal(dx[0], dx[1]));
  CHECK(bit_equal(ys[0], ys[1]));
  CHECK(bit_equal(y[0], dx[0]));  // the backward is the forward transform
}

TEST_CASE("fourier_mix: a warm workspace does not grow", "[fourier][workspace]") {
  auto x = uniform<float>({4, 64, 48}, 3);
  Tensor<float> y(x.shape());
  FourierWorkspace ws;
  fourier_mix_forward(y.view(), x, ws);
  auto const bytes = ws.bytes();
  CHECK(bytes > 0);
  fourier_mix_forward(y.view(), x, ws);
  fourier_mix_backward(y.view(), x, ws);
  CHECK(ws.bytes() == bytes);
}

TEST_CASE("fourier_mix: bad shapes", "[fourier][errors]") {
  Tensor<float> x({2, 7, 4}), y({2, 8, 4}), dy({2, 8, 5}), empty({0, 8, 4}), y_empty({0, 8, 4});
  CHECK_THROWS_AS(fourier_mix_forward(y.view(), x), Error);
  CHECK_THROWS_WITH(fourier_mix_forward(y.view(), x),
                    Contains("fourier_mix_forward: y is [2,8,4] but x is [2,7,4]"));
  CHECK_THROWS_WITH(fourier_mix_backward(y.view(), dy),
                    Contains("fourier_mix_backward: dx is [2,8,4] but dy is [2,8,5]"));
  CHECK_THROWS_WITH(fourier_mix_forward(y_empty.view(), empty),
                    Contains("fourier_mix_forward: x is empty [0,8,4]"));
  Tensor<double> wide({1, 8, 6});
  CHECK_THROWS_WITH(fourier_mix_forward(wide.view().channels(1, 4), wide.view().channels(0, 4)),
                    Contains("fourier_mix_forward: y overlaps x"));
}
