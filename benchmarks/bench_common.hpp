// Shared benchmark helpers: inputs filled once outside timed loops, and manual timing that pairs
// every timed iteration with one plain copy of a tensor of the same shape, so bw_fraction compares
// the operation with a copy measured under the same conditions (these machines' bandwidth drifts
// by tens of percent over seconds).
#pragma once

#include <benchmark/benchmark.h>

#include <chrono>
#include <cstdint>

#include <ponet/cpu/bandwidth.hpp>
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

// Manual time of `step` after one untimed step (workspaces reach their final size outside the
// timed loop), running `after_each` untimed after every timed step; returns the seconds the
// timed steps took.
template <class F, class G>
double timed_steps(benchmark::State& state, F&& step, G&& after_each) {
  step();
  double total = 0;
  for (auto _ : state) {
    auto t0 = Clock::now();
    step();
    double s = std::chrono::duration<double>(Clock::now() - t0).count();
    state.SetIterationTime(s);
    total += s;
    after_each();
  }
  return total;
}

template <class F>
double timed_steps(benchmark::State& state, F&& step) {
  return timed_steps(state, step, [] {});
}

// Times `step` (manual time); reports bytes/s and tokens/s from `least_bytes` (what the operation
// must at least move: inputs read once, outputs written once), and bw_fraction = its bytes/s over
// the bytes/s of copying `src` into `dst`, timed right after each iteration.
template <class F>
void timed(benchmark::State& state, double least_bytes, double tokens, ponet::View<float const> src,
           ponet::View<float> dst, F&& step) {
  ponet::cpu::copy_seconds(src, dst);  // warm-up
  double copy_total = 0;
  double const total = timed_steps(state, step, [&] {
    state.PauseTiming();
    copy_total += ponet::cpu::copy_seconds(src, dst);
    state.ResumeTiming();
  });
  double const copy_bytes = 2.0 * double(src.shape().numel()) * sizeof(float);
  state.SetBytesProcessed(std::int64_t(least_bytes * state.iterations()));
  state.SetItemsProcessed(std::int64_t(tokens * state.iterations()));
  state.counters["bw_fraction"] = (least_bytes / total) / (copy_bytes / copy_total);
  state.counters["copy_GBps"] = copy_bytes * state.iterations() / copy_total / 1e9;
}

}  // namespace bench
