// Lane<V>: the handful of operations an evaluator needs on a value V, where V is either a scalar
// T (CPU tails, reference-style calls, CUDA threads) or a SIMD batch of T (cpu/simd.hpp adds that
// specialisation). Evaluators are written once against Lane<V>, so the scalar tail and the SIMD
// body compute the same formula in the same order. docs/design.md#lanes
#pragma once

#include <cstdint>
#include <type_traits>

#include "ponet/config.hpp"

namespace ponet {

template <class V, class Enable = void>
struct Lane;

template <class T>
struct Lane<T, std::enable_if_t<std::is_floating_point_v<T>>> {
  using scalar = T;
  static constexpr int width = 1;

  PONET_HD static T load(T const* p) { return *p; }
  PONET_HD static void store(T* p, T v) { *p = v; }
  PONET_HD static T broadcast(T v) { return v; }
  PONET_HD static T zero() { return T(0); }
  PONET_HD static T select(bool m, T a, T b) { return m ? a : b; }
  // Window argmax offsets are saved as int8 (docs/decisions.md#saved-state).
  PONET_HD static T load_offset(std::int8_t const* p) { return T(*p); }
  PONET_HD static void store_offset(std::int8_t* p, T v) { *p = static_cast<std::int8_t>(v); }
};

template <class V>
using scalar_of_t = typename Lane<V>::scalar;

}  // namespace ponet
