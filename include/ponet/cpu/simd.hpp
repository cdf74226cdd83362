// The one place xsimd enters ponet. Batch<T> is xsimd's batch for the architecture the compiler
// targets (-march=native gives AVX-512 on the machines we measure); no run-time dispatch.
// Lane<Batch<T>> gives evaluators the same operations the scalar Lane<T> has.
#pragma once

#include <xsimd/xsimd.hpp>

#include "ponet/core/lane.hpp"

namespace ponet {

template <class T, class A>
struct Lane<xsimd::batch<T, A>> {
  using V = xsimd::batch<T, A>;
  using scalar = T;
  static constexpr int width = int(V::size);

  static V load(T const* p) { return V::load_unaligned(p); }
  static void store(T* p, V v) { v.store_unaligned(p); }
  static V broadcast(T v) { return V(v); }
  static V zero() { return V(T(0)); }
  static V select(typename V::batch_bool_type m, V a, V b) { return xsimd::select(m, a, b); }
  // xsimd 8.1 has no int8 <-> float conversion; these loops vectorise (vpmovsxbd, vpmovdb).
  static V load_offset(std::int8_t const* p) {
    alignas(64) T t[width];
    for (int k = 0; k < width; ++k) t[k] = T(p[k]);
    return V::load_aligned(t);
  }
  static void store_offset(std::int8_t* p, V v) {
    alignas(64) T t[width];
    v.store_aligned(t);
    for (int k = 0; k < width; ++k) p[k] = static_cast<std::int8_t>(t[k]);
  }
};

namespace cpu {

template <class T>
using Batch = xsimd::batch<T>;
template <class T>
inline constexpr int simd_width = int(Batch<T>::size);

// Sum of the lanes, pairwise. (xsimd::hadd on double batches trips GCC 12's
// -Wmaybe-uninitialized inside _mm512_extractf64x4_pd.)
template <class T>
T hadd(Batch<T> const& v) {
  constexpr int W = simd_width<T>;
  alignas(64) T t[W];
  v.store_aligned(t);
  for (int half = W / 2; half > 0; half /= 2)
    for (int k = 0; k < half; ++k) t[k] += t[k + half];
  return t[0];
}

}  // namespace cpu
}  // namespace ponet
