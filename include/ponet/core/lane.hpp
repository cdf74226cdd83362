// Lane<V>: the handful of operations an evaluator needs on a value V, where V is either a scalar
// T (CPU tails, reference-style calls, CUDA threads) or a SIMD batch of T (cpu/simd.hpp adds that
// specialisation). Evaluators are written once against Lane<V>, so the scalar tail and the SIMD
// body compute the same formula in the same order. docs/design.md#lanes
#pragma once

#include <cmath>
#include <cstdint>
#include <type_traits>

#include "ponet/config.hpp"

namespace ponet {

// A 32-bit mix of a key and a channel index (murmur3's finaliser over a multiplicative
// combination): dropout's keep bits. Lane<V>::keep evaluates it for every lane.
PONET_HD std::uint32_t hash32(std::uint32_t key, int c) {
  std::uint32_t h = key ^ (std::uint32_t(c) * 0xC2B2AE3Du);
  h ^= h >> 16;
  h *= 0x85EBCA6Bu;
  h ^= h >> 13;
  h *= 0xC2B2AE35u;
  h ^= h >> 16;
  return h;
}

template <class V, class Enable = void>
struct Lane;

template <class T>
struct Lane<T, std::enable_if_t<std::is_floating_point_v<T>>> {
  using scalar = T;
  static constexpr int width = 1;

  PONET_HD static T load(T const* p) { return *p; }
  PONET_HD static void store(T* p, T v) { *p = v; }
  PONET_HD static void stream(T* p, T v) { *p = v; }
  PONET_HD static T broadcast(T v) { return v; }
  PONET_HD static T zero() { return T(0); }
  PONET_HD static T select(bool m, T a, T b) { return m ? a : b; }
  // Window argmax offsets are saved as int8 (docs/decisions.md#saved-state).
  PONET_HD static void store_offset(std::int8_t* p, T v) { *p = static_cast<std::int8_t>(v); }
  PONET_HD static bool offset_is(std::int8_t const* p, int value) { return *p == value; }
  PONET_HD static bool keep(std::uint32_t key, int c, std::uint32_t threshold) {
    return hash32(key, c) >= threshold;
  }
  PONET_HD static T erf(T v) { return std::erf(v); }
  PONET_HD static T exp(T v) { return std::exp(v); }
  PONET_HD static T tanh(T v) { return std::tanh(v); }
};

template <class V>
using scalar_of_t = typename Lane<V>::scalar;

// Asks the cache for `bytes` starting at p (a row a loop will read soon). Host only: a no-op in
// CUDA device code. On x86 a volatile asm: GCC deletes a loop whose only effect is
// __builtin_prefetch (it counts as free of side effects), which silently drops the prefetches.
PONET_HD void prefetch_bytes(void const* p, std::int64_t bytes) {
#if !defined(__CUDA_ARCH__) && defined(__GNUC__) && (defined(__x86_64__) || defined(__i386__))
  char const* c = static_cast<char const*>(p);
  for (std::int64_t o = 0; o < bytes; o += 64) asm volatile("prefetcht0 %0" : : "m"(c[o]));
#elif !defined(__CUDA_ARCH__) && defined(__GNUC__)
  char const* c = static_cast<char const*>(p);
  for (std::int64_t o = 0; o < bytes; o += 64) __builtin_prefetch(c + o);
#else
  (void)p;
  (void)bytes;
#endif
}

}  // namespace ponet
