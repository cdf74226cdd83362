// Helpers shared by ponet's tests: random and distinct inputs, masks, central differences and
// error measures. Errors are norm-wise: max |a - b| / max |b| (elementwise relative error blows
// up on entries that are zero by construction, e.g. gradients at padding).
#pragma once

#include <algorithm>
#include <cmath>
#include <cstring>
#include <functional>
#include <numeric>
#include <random>
#include <vector>

#include <ponet/ponet.hpp>
#include <ponet/ref/ref.hpp>

namespace testing {

using ponet::Shape3;
using ponet::Tensor;
using Mask = Tensor<std::uint8_t>;

template <class T>
Tensor<T> uniform(Shape3 s, unsigned seed, double lo = -1, double hi = 1) {
  std::mt19937 rng(seed);
  std::uniform_real_distribution<double> u(lo, hi);
  Tensor<T> t(s);
  for (auto& x : t) x = T(u(rng));
  return t;
}

// Shuffled values spaced `gap` apart (plus a small jitter), so max ops meet no ties and finite
// differences with a step far below `gap` never cross a kink.
template <class T>
Tensor<T> distinct(Shape3 s, double gap, unsigned seed) {
  std::mt19937 rng(seed);
  std::vector<double> v(s.numel());
  std::iota(v.begin(), v.end(), 0.0);
  std::shuffle(v.begin(), v.end(), rng);
  std::uniform_real_distribution<double> jitter(0, 0.25);
  Tensor<T> t(s);
  double mid = 0.5 * double(v.size());
  for (std::size_t k = 0; k < v.size(); ++k) t.data()[k] = T((v[k] - mid + jitter(rng)) * gap);
  return t;
}

// valid[b, i] = i < lengths[b].
inline Mask lengths_mask(int B, int N, std::vector<int> const& lengths) {
  Mask m(Shape3{B, N, 1});
  for (int b = 0; b < B; ++b)
    for (int i = 0; i < N; ++i) m(b, i, 0) = i < lengths[std::min<int>(b, (int)lengths.size() - 1)];
  return m;
}

inline Mask ones_mask(int B, int N) { return lengths_mask(B, N, {N}); }

template <class T>
double dot(Tensor<T> const& a, Tensor<T> const& b) {
  double s = 0;
  for (std::int64_t k = 0; k < a.size(); ++k) s += double(a.data()[k]) * double(b.data()[k]);
  return s;
}

template <class A, class B>
double max_rel_err(Tensor<A> const& a, Tensor<B> const& b) {
  REQUIRE(a.shape() == b.shape());
  double diff = 0, scale = 0;
  for (std::int64_t k = 0; k < a.size(); ++k) {
    diff = std::max(diff, std::abs(double(a.data()[k]) - double(b.data()[k])));
    scale = std::max(scale, std::abs(double(b.data()[k])));
  }
  return scale > 0 ? diff / scale : diff;
}

template <class T>
bool bit_equal(Tensor<T> const& a, Tensor<T> const& b) {
  return a.shape() == b.shape() && std::memcmp(a.data(), b.data(), a.bytes()) == 0;
}

template <class U, class T>
Tensor<U> cast(Tensor<T> const& t) {
  Tensor<U> r(t.shape());
  for (std::int64_t k = 0; k < t.size(); ++k) r.data()[k] = U(t.data()[k]);
  return r;
}

// d loss / d x by central differences, perturbing x in place (loss reads x through views).
inline Tensor<double> central_difference(std::function<double()> const& loss, Tensor<double>& x,
                                         double step = 1e-5) {
  Tensor<double> g(x.shape());
  for (std::int64_t k = 0; k < x.size(); ++k) {
    double keep = x.data()[k];
    x.data()[k] = keep + step;
    double up = loss();
    x.data()[k] = keep - step;
    double down = loss();
    x.data()[k] = keep;
    g.data()[k] = (up - down) / (2 * step);
  }
  return g;
}

// Evaluates an expression into a fresh tensor (inference).
template <class E>
auto evaluate(ponet::expr::Expr<E> const& e) {
  Tensor<typename E::value_type> out(e.self().shape());
  ponet::assign(out, e);
  return out;
}

}  // namespace testing
