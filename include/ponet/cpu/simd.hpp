// The one place xsimd enters ponet. Batch<T> is xsimd's batch for the architecture the compiler
// targets (-march=native gives AVX-512 on the machines we measure); no run-time dispatch.
// Lane<Batch<T>> gives evaluators the same operations the scalar Lane<T> has.
#pragma once

#include <xsimd/xsimd.hpp>

#if defined(__x86_64__) || defined(__i386__)
#include <immintrin.h>
#endif

#include "ponet/core/lane.hpp"
#include "ponet/core/view.hpp"

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
  // hash32(key, c + lane) >= threshold for every lane (the scalar Lane's keep, vectorised).
  static typename V::batch_bool_type keep(std::uint32_t key, int c, std::uint32_t threshold) {
#if defined(__AVX512F__)
    if constexpr (std::is_same_v<T, float> && width == 16) {
      __m512i h =
          _mm512_add_epi32(_mm512_set1_epi32(c),
                           _mm512_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15));
      h = _mm512_xor_si512(_mm512_set1_epi32(int(key)),
                           _mm512_mullo_epi32(h, _mm512_set1_epi32(int(0xC2B2AE3Du))));
      h = _mm512_xor_si512(h, _mm512_srli_epi32(h, 16));
      h = _mm512_mullo_epi32(h, _mm512_set1_epi32(int(0x85EBCA6Bu)));
      h = _mm512_xor_si512(h, _mm512_srli_epi32(h, 13));
      h = _mm512_mullo_epi32(h, _mm512_set1_epi32(int(0xC2B2AE35u)));
      h = _mm512_xor_si512(h, _mm512_srli_epi32(h, 16));
      return _mm512_cmpge_epu32_mask(h, _mm512_set1_epi32(int(threshold)));
    }
#endif
    alignas(64) T t[width];
    for (int k = 0; k < width; ++k) t[k] = hash32(key, c + k) >= threshold ? T(1) : T(0);
    return V::load_aligned(t) > V(T(0.5));
  }
  static V erf(V v) { return xsimd::erf(v); }
  static V exp(V v) { return xsimd::exp(v); }
  static V tanh(V v) { return xsimd::tanh(v); }
  // A non-temporal store of one packet; p must be aligned to the packet's size. Outputs larger
  // than the cache are written once and read much later, so skipping the read-for-ownership a
  // normal store costs saves a third of a copy's traffic.
  static void stream(T* p, V v) {
#if defined(__AVX512F__)
    if constexpr (sizeof(V) == 64) {
      if constexpr (std::is_same_v<T, float>)
        _mm512_stream_ps(p, v);
      else
        _mm512_stream_pd(p, v);
      return;
    }
#endif
#if defined(__AVX__)
    if constexpr (sizeof(V) == 32) {
      if constexpr (std::is_same_v<T, float>)
        _mm256_stream_ps(p, v);
      else
        _mm256_stream_pd(p, v);
      return;
    }
#endif
    v.store_aligned(p);
  }
  // Window winners are int8 offsets (docs/decisions.md#saved-state). xsimd 8.1 has no int8
  // conversions, so AVX-512 gets intrinsics and other targets a loop the compiler vectorises.
  // (The maskz forms: GCC 12 warns that the plain ones read an uninitialised pass-through.)
  static void store_offset(std::int8_t* p, V idx) {
#if defined(__AVX512F__)
    if constexpr (std::is_same_v<T, float> && width == 16) {
      _mm_storeu_si128(reinterpret_cast<__m128i*>(p),
                       _mm512_maskz_cvtepi32_epi8(0xFFFF, _mm512_maskz_cvttps_epi32(0xFFFF, idx)));
      return;
    }
#if defined(__AVX512VL__)
    if constexpr (std::is_same_v<T, double> && width == 8) {
      _mm_storel_epi64(reinterpret_cast<__m128i*>(p),
                       _mm256_maskz_cvtepi32_epi8(0xFF, _mm512_maskz_cvttpd_epi32(0xFF, idx)));
      return;
    }
#endif
#endif
    alignas(64) T t[width];
    idx.store_aligned(t);
    for (int k = 0; k < width; ++k) p[k] = static_cast<std::int8_t>(t[k]);
  }
  // Lanes whose saved offset equals `value`.
  static typename V::batch_bool_type offset_is(std::int8_t const* p, int value) {
#if defined(__AVX512BW__) && defined(__AVX512VL__)
    if constexpr (std::is_same_v<T, float> && width == 16)
      return _mm_cmpeq_epi8_mask(_mm_loadu_si128(reinterpret_cast<__m128i const*>(p)),
                                 _mm_set1_epi8(static_cast<char>(value)));
    if constexpr (std::is_same_v<T, double> && width == 8)
      return static_cast<__mmask8>(
          _mm_cmpeq_epi8_mask(_mm_loadl_epi64(reinterpret_cast<__m128i const*>(p)),
                              _mm_set1_epi8(static_cast<char>(value))));
#endif
    alignas(64) T t[width];
    for (int k = 0; k < width; ++k) t[k] = T(p[k]);
    return V::load_aligned(t) == V(T(value));
  }
};

namespace cpu {

template <class T>
using Batch = xsimd::batch<T>;
template <class T>
inline constexpr int simd_width = int(Batch<T>::size);

// Orders this thread's non-temporal stores before whatever follows (another thread's reads).
inline void stream_fence() {
#if defined(__x86_64__) || defined(__i386__)
  _mm_sfence();
#endif
}

// Destinations at least this large are written with non-temporal stores: they do not fit in the
// last-level cache next to their inputs anyway.
inline constexpr std::size_t stream_threshold_bytes = std::size_t(8) << 20;

// True when every SIMD packet of every row of v starts on a packet-size boundary and v is large.
template <class T>
bool streamable(View<T, cpu_tag> const& v) {
  constexpr std::size_t packet = sizeof(Batch<std::remove_const_t<T>>);
  if (packet < 32 || std::size_t(v.shape().numel()) * sizeof(T) < stream_threshold_bytes)
    return false;
  return reinterpret_cast<std::uintptr_t>(v.data) % packet == 0 &&
         (v.sn * sizeof(T)) % packet == 0 && (v.sb * sizeof(T)) % packet == 0;
}

// Sum of the lanes, pairwise. (xsimd::hadd on double batches trips GCC 12's
// -Wmaybe-uninitialized inside _mm512_extractf64x4_pd.)
template <class T>
T hadd(Batch<T> const& v) {
  if constexpr (std::is_same_v<T, float>) return xsimd::hadd(v);
  constexpr int W = simd_width<T>;
  alignas(64) T t[W];
  v.store_aligned(t);
  for (int half = W / 2; half > 0; half /= 2)
    for (int k = 0; k < half; ++k) t[k] += t[k + half];
  return t[0];
}

}  // namespace cpu
}  // namespace ponet
