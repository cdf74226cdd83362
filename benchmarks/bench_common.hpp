// Shared benchmark helpers: inputs filled once outside timed loops, the copy baseline every
// bw_fraction is measured against, and manual timing so rates use wall-clock time.
#pragma once

#include <benchmark/benchmark.h>

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <cstring>

#include <ponet/ponet.hpp>

namespace bench {

using Clock = std::chrono::steady_clock;

// Cheap deterministic values in [-1, 1): a hash of the index (filling gigabytes with a Mersenne
// twister would dominate setup).
inline void fill(ponet::Tensor<float>& t, std::uint64_t seed) {
  float* p = t.data();
  std::int64_t n = t.size();
  ponet::cpu::parallel_for(int((n + 65535) / 65536), [&](int chunk) {
    std::int64_t end = std::min<std::int64_t>(n, (std::int64_t)(chunk + 1) * 65536);
    for (std::int64_t k = (std::int64_t)chunk * 65536; k < end; ++k) {
      std::uint64_t x = (std::uint64_t(k) + seed * 0x9E3779B97F4A7C15ull) * 0xBF58476D1CE4E5B9ull;
      x ^= x >> 31;
      x *= 0x94D049BB133111EBull;
      x ^= x >> 29;
      p[k] = float(double(x >> 11) * (2.0 / 9007199254740992.0) - 1.0);
    }
  });
}

// Bandwidth (bytes read + bytes written per second) of a plain parallel copy of `src` into `dst`,
// best of five: the ceiling a memory-bound pass over tensors of this size can reach.
inline double copy_bandwidth(ponet::View<float const> src, ponet::View<float> dst) {
  auto blocks = ponet::cpu::token_blocks(src.shape());
  auto once = [&] {
    ponet::cpu::for_each_block(blocks, [&](int b, int, int i0, int i1, int) {
      std::memcpy(dst.row(b, i0), src.row(b, i0), sizeof(float) * (i1 - i0) * src.D);
    });
  };
  once();
  double best = 1e300;
  for (int r = 0; r < 5; ++r) {
    auto t0 = Clock::now();
    once();
    best = std::min(best, std::chrono::duration<double>(Clock::now() - t0).count());
  }
  return 2.0 * src.shape().numel() * sizeof(float) / best;
}

// Runs `step` under manual timing; reports bytes/s and tokens/s from `least_bytes` (what the
// operation must at least move) and bw_fraction against `copy_bw`.
template <class F>
void timed(benchmark::State& state, double least_bytes, double tokens, double copy_bw, F&& step) {
  step();  // warm-up: workspaces reach their final size outside the timed loop
  double total = 0;
  for (auto _ : state) {
    auto t0 = Clock::now();
    step();
    double s = std::chrono::duration<double>(Clock::now() - t0).count();
    state.SetIterationTime(s);
    total += s;
  }
  state.SetBytesProcessed(std::int64_t(least_bytes * state.iterations()));
  state.SetItemsProcessed(std::int64_t(tokens * state.iterations()));
  state.counters["bw_fraction"] = least_bytes * state.iterations() / total / copy_bw;
  state.counters["copy_GBps"] = copy_bw / 1e9;
}

}  // namespace bench
