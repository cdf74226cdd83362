// View<T, Dev>: a non-owning [B, N, D] window on memory of device Dev: a pointer, the shape and
// the batch and token strides. Channels are always contiguous (stride 1), which is what lets one
// SIMD loop serve every view, including column slices of a fused projection output.
#pragma once

#include <cstdint>
#include <type_traits>

#include "ponet/config.hpp"
#include "ponet/core/device.hpp"
#include "ponet/core/shape.hpp"

namespace ponet {

template <class T, class Dev = cpu_tag>
struct View {
  using value_type = std::remove_const_t<T>;
  using device = Dev;

  T* data = nullptr;
  int B = 0, N = 0, D = 0;
  std::int64_t sb = 0;  // elements between batches
  std::int64_t sn = 0;  // elements between tokens

  View() = default;
  PONET_HD View(T* p, int b, int n, int d, std::int64_t stride_b, std::int64_t stride_n)
      : data(p), B(b), N(n), D(d), sb(stride_b), sn(stride_n) {}
  // A contiguous [B, N, D] view.
  PONET_HD View(T* p, Shape3 s)
      : data(p), B(s.B), N(s.N), D(s.D), sb((std::int64_t)s.N * s.D), sn(s.D) {}

  // View<T> converts to View<T const>, never the other way.
  template <class U, class = std::enable_if_t<std::is_same_v<T, U const> && !std::is_same_v<T, U>>>
  PONET_HD View(View<U, Dev> const& o) : data(o.data), B(o.B), N(o.N), D(o.D), sb(o.sb), sn(o.sn) {}

  PONET_HD Shape3 shape() const { return {B, N, D}; }
  PONET_HD T* row(int b, int i) const { return data + b * sb + i * sn; }
  PONET_HD T& operator()(int b, int i, int c) const { return row(b, i)[c]; }
  PONET_HD bool contiguous() const { return sn == D && sb == (std::int64_t)N * D; }

  // Channels [c0, c0 + n): e.g. Q, K, O, Sg, Lc as slices of one [B, N, 5D] projection output.
  View channels(int c0, int n) const {
    if (c0 < 0 || n < 0 || c0 + n > D)
      throw Error("View::channels: [" + std::to_string(c0) + "," + std::to_string(c0 + n) +
                  ") is outside D=" + std::to_string(D));
    return View(data + c0, B, N, n, sb, sn);
  }
  // Batches [b0, b0 + n).
  View batches(int b0, int n) const {
    if (b0 < 0 || n < 0 || b0 + n > B)
      throw Error("View::batches: [" + std::to_string(b0) + "," + std::to_string(b0 + n) +
                  ") is outside B=" + std::to_string(B));
    return View(data + b0 * sb, n, N, D, sb, sn);
  }
};

// False only when the two views certainly share no element: disjoint address ranges, or column
// slices of one row-major buffer (same strides) with disjoint channel ranges.
template <class T, class U, class Dev>
bool may_overlap(View<T, Dev> const& a, View<U, Dev> const& b) {
  if (a.shape().numel() == 0 || b.shape().numel() == 0) return false;
  auto end_of = [](auto const& v) {
    using E = std::remove_pointer_t<decltype(v.data)>;
    return reinterpret_cast<char const*>(v.data) +
           ((v.B - 1) * v.sb + (v.N - 1) * v.sn + v.D) * (std::int64_t)sizeof(E);
  };
  char const* a0 = reinterpret_cast<char const*>(a.data);
  char const* b0 = reinterpret_cast<char const*>(b.data);
  if (end_of(a) <= b0 || end_of(b) <= a0) return false;
  std::int64_t bytes = b0 - a0;
  if (sizeof(T) == sizeof(U) && a.sb == b.sb && a.sn == b.sn && a.sn > 0 && a.sb % a.sn == 0 &&
      bytes % (std::int64_t)sizeof(T) == 0 && a.D <= a.sn && b.D <= a.sn) {
    std::int64_t delta = bytes / (std::int64_t)sizeof(T);
    std::int64_t off = ((delta % a.sn) + a.sn) % a.sn;  // b's first channel within a's rows
    std::int64_t back = (a.sn - off) % a.sn;            // a's first channel within b's rows
    if (off >= a.D && off + b.D <= a.sn) return false;
    if (back >= b.D && back + a.D <= a.sn) return false;
  }
  return true;
}

template <class T>
struct is_view : std::false_type {};
template <class T, class Dev>
struct is_view<View<T, Dev>> : std::true_type {};

}  // namespace ponet
