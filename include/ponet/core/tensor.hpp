// Tensor<T, Dev>: an owning, contiguous [B, N, D] array in 64-byte aligned memory of device Dev.
// It converts to View<T, Dev> and View<T const, Dev>; every operation works on views.
#pragma once

#include <cstdint>
#include <initializer_list>
#include <vector>

#include "ponet/core/memory.hpp"
#include "ponet/core/view.hpp"

namespace ponet {

struct uninitialized_t {};
inline constexpr uninitialized_t uninitialized{};

template <class T, class Dev = cpu_tag>
class Tensor {
  static_assert(!std::is_const_v<T>, "ponet::Tensor holds mutable elements; use View<T const>");

 public:
  using value_type = T;
  using device = Dev;

  Tensor() = default;
  // Zero-filled.
  explicit Tensor(Shape3 s) : Tensor(s, uninitialized) { Memory<Dev>::zero(buf_.get(), bytes()); }
  // Contents undefined until written: for hot paths that overwrite everything.
  Tensor(Shape3 s, uninitialized_t) : shape_(check(s)) { buf_.reserve(bytes()); }
  // From host values in [b][i][c] order (CPU tensors).
  Tensor(Shape3 s, std::vector<T> const& values) : Tensor(s, uninitialized) {
    static_assert(std::is_same_v<Dev, cpu_tag>, "host values initialise CPU tensors only");
    if ((long long)values.size() != s.numel())
      throw Error("Tensor: " + std::to_string(values.size()) + " values for shape " + to_string(s));
    Memory<Dev>::copy(buf_.get(), values.data(), bytes());
  }

  Tensor(Tensor const& o) : Tensor(o.shape_, uninitialized) {
    Memory<Dev>::copy(buf_.get(), o.buf_.get(), bytes());
  }
  Tensor& operator=(Tensor const& o) {
    if (this != &o) {
      resize(o.shape_);
      Memory<Dev>::copy(buf_.get(), o.buf_.get(), bytes());
    }
    return *this;
  }
  Tensor(Tensor&&) noexcept = default;
  Tensor& operator=(Tensor&&) noexcept = default;

  // Changes the shape, keeping the allocation when it is large enough (contents undefined).
  void resize(Shape3 s) {
    shape_ = check(s);
    buf_.reserve(bytes());
  }

  Shape3 shape() const { return shape_; }
  int B() const { return shape_.B; }
  int N() const { return shape_.N; }
  int D() const { return shape_.D; }
  std::int64_t size() const { return shape_.numel(); }
  std::size_t bytes() const { return (std::size_t)size() * sizeof(T); }
  T* data() { return static_cast<T*>(buf_.get()); }
  T const* data() const { return static_cast<T const*>(buf_.get()); }

  View<T, Dev> view() { return View<T, Dev>(data(), shape_); }
  View<T const, Dev> view() const { return View<T const, Dev>(data(), shape_); }
  View<T const, Dev> cview() const { return view(); }
  operator View<T, Dev>() { return view(); }
  operator View<T const, Dev>() const { return view(); }

  // Element access, CPU tensors only.
  T& operator()(int b, int i, int c) { return data()[index(b, i, c)]; }
  T const& operator()(int b, int i, int c) const { return data()[index(b, i, c)]; }
  T* begin() { return data(); }
  T* end() { return data() + size(); }
  T const* begin() const { return data(); }
  T const* end() const { return data() + size(); }

  void fill(T v) {
    static_assert(std::is_same_v<Dev, cpu_tag>, "fill works on CPU tensors");
    for (T& x : *this) x = v;
  }

 private:
  static Shape3 check(Shape3 s) {
    if (s.B < 0 || s.N < 0 || s.D < 0) throw Error("Tensor: negative shape " + to_string(s));
    return s;
  }
  std::int64_t index(int b, int i, int c) const {
    static_assert(std::is_same_v<Dev, cpu_tag>, "element access works on CPU tensors");
    return ((std::int64_t)b * shape_.N + i) * shape_.D + c;
  }

  Shape3 shape_{};
  Buffer<Dev> buf_;
};

template <class T>
struct is_tensor : std::false_type {};
template <class T, class Dev>
struct is_tensor<Tensor<T, Dev>> : std::true_type {};

// view(x) gives the View of a View or a Tensor, so entry points accept both.
template <class T, class Dev>
View<T, Dev> view(View<T, Dev> v) {
  return v;
}
template <class T, class Dev>
View<T, Dev> view(Tensor<T, Dev>& t) {
  return t.view();
}
template <class T, class Dev>
View<T const, Dev> view(Tensor<T, Dev> const& t) {
  return t.view();
}

}  // namespace ponet
