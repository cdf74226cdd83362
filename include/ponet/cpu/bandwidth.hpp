// The yardstick for memory-bound passes: the bandwidth (bytes read + bytes written per second) of
// a plain parallel copy, measured on the caller's own buffers so it sees the same memory, threads
// and page placement as the operation it is compared with.
#pragma once

#include <algorithm>
#include <chrono>
#include <cstring>

#include "ponet/core/view.hpp"
#include "ponet/cpu/parallel.hpp"

namespace ponet::cpu {

// Seconds one parallel memcpy of src into dst takes (same shapes).
template <class T>
double copy_seconds(View<T const> src, View<T> dst) {
  auto const t0 = std::chrono::steady_clock::now();
  for_each_block(token_blocks(src.shape()), [&](int b, int, int i0, int i1, int) {
    for (int i = i0; i < i1; ++i) std::memcpy(dst.row(b, i), src.row(b, i), sizeof(T) * src.D);
  });
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
}

// Copy bandwidth in bytes per second, best of `repeats` after one warm-up.
template <class T>
double copy_bandwidth(View<T const> src, View<T> dst, int repeats = 5) {
  copy_seconds(src, dst);
  double best = 1e300;
  for (int r = 0; r < repeats; ++r) best = std::min(best, copy_seconds(src, dst));
  return 2.0 * double(src.shape().numel()) * sizeof(T) / best;
}

}  // namespace ponet::cpu
