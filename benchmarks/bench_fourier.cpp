// FNet's Fourier token mixing forward, y[b] = Re(DFT2(x[b])) on FFTW (float), with plans made by
// FFTW_MEASURE and by FFTW_ESTIMATE. B = 32, D = 64, N in 512 .. 16384 and B = 8, D = 768,
// N in {512, 4096}. Least traffic: read x, write y (2 tensors). GFLOPs counts the conventional
// 2.5 N D log2(N D) flops of a real 2-D FFT per sequence. The backward is the same transform.
#include <cmath>
#include <memory>
#include <utility>
#include <vector>

#include <ponet/cpu/fourier.hpp>
#include "bench_common.hpp"

using namespace ponet;

namespace {

struct Problem {
  int B, N, D;
  Tensor<float> x, y, scratch;
  Problem(int b, int n, int d)
      : B(b),
        N(n),
        D(d),
        x({b, n, d}, uninitialized),
        y({b, n, d}, uninitialized),
        scratch({b, n, d}, uninitialized) {
    bench::fill(x, 1);  // touch every page before timing
    bench::fill(y, 2);
    bench::fill(scratch, 3);
  }
};

std::unique_ptr<Problem> cached;  // both plannings share one set of inputs per shape
Problem& problem(benchmark::State const& state) {
  int B = int(state.range(0)), N = int(state.range(1)), D = int(state.range(2));
  if (!cached || cached->B != B || cached->N != N || cached->D != D) {
    cached.reset();
    cached = std::make_unique<Problem>(B, N, D);
  }
  return *cached;
}

void run(benchmark::State& state, cpu::FourierPlanning planning) {
  Problem& p = problem(state);
  cpu::FourierWorkspace ws(planning);
  fourier_mix_forward(p.y.view(), p.x, ws);  // plans and sizes the workspace, untimed
  double const bytes = 2.0 * double(p.x.size()) * sizeof(float);
  bench::timed(state, bytes, double(p.B) * p.N, p.x, p.scratch,
               [&] { fourier_mix_forward(p.y.view(), p.x, ws); });
  benchmark::DoNotOptimize(p.y.data());
  double const nd = double(p.N) * p.D;
  state.counters["GFLOPs"] = benchmark::Counter(2.5 * nd * std::log2(nd) * p.B / 1e9,
                                                benchmark::Counter::kIsIterationInvariantRate);
}

void BM_fourier_forward_measure(benchmark::State& state) {
  run(state, cpu::FourierPlanning::measure);
}
void BM_fourier_forward_estimate(benchmark::State& state) {
  run(state, cpu::FourierPlanning::estimate);
}

int const registered = [] {
  struct Shape {
    int B, N, D;
  };
  std::vector<Shape> shapes;
  for (int N : {512, 1024, 2048, 4096, 8192, 16384}) shapes.push_back({32, N, 64});
  for (int N : {512, 4096}) shapes.push_back({8, N, 768});
  // ESTIMATE first: FFTW's planner reuses wisdom from a MEASURE of the same shape, so after a
  // MEASURE an ESTIMATE request would get the measured plan.
  for (auto const& s : shapes)
    for (auto const& [name, fn] :
         {std::pair{"fourier_forward_estimate", BM_fourier_forward_estimate},
          std::pair{"fourier_forward_measure", BM_fourier_forward_measure}})
      benchmark::RegisterBenchmark(name, fn)
          ->Args({s.B, s.N, s.D})
          ->ArgNames({"B", "N", "D"})
          ->UseManualTime()
          ->Unit(benchmark::kMillisecond);
  return 0;
}();

}  // namespace
