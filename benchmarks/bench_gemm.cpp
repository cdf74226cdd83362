// ponet::gemm (the Linear layers' GEMM) in GFLOP/s: a square product and the shapes of a PoNet
// training step at the LRA setting (B*N = 131072 rows, D = 64): the five projections' forward
// [M x 64] x [64 x 320], their weight gradient [320 x M] x [M x 64], and the input gradient
// [M x 320] x [320 x 64]; and at D = 768 (B*N = 32768): the projections [M x 768] x [768 x 3840],
// their weight gradient, and the FFN's second product [M x 3072] x [3072 x 768]. Built twice
// (PONET_BLAS=Eigen and OpenBLAS) for docs/benchmarks.md.
#include <ponet/cpu/linalg.hpp>
#include "bench_common.hpp"

using namespace ponet;

namespace {

void BM_gemm(benchmark::State& state) {
  int const m = int(state.range(0)), k = int(state.range(1)), n = int(state.range(2));
  bool const ta = state.range(3) != 0;
  Tensor<float> A(ta ? Shape3{1, k, m} : Shape3{1, m, k}, uninitialized),
      B(Shape3{1, k, n}, uninitialized), C(Shape3{1, m, n}, uninitialized);
  bench::fill(A, 1);
  bench::fill(B, 2);
  bench::fill(C, 3);
  auto run = [&] { gemm(as_mat(C.view()), as_mat(A.cview()), ta, as_mat(B.cview()), false); };
  double const total = bench::timed_steps(state, run);
  state.counters["GFLOPs"] = 2.0 * m * k * n * state.iterations() / total / 1e9;
}

}  // namespace

BENCHMARK(BM_gemm)
    ->ArgNames({"m", "k", "n", "trans_a"})
    ->Args({2048, 2048, 2048, 0})
    ->Args({131072, 64, 320, 0})
    ->Args({320, 131072, 64, 1})
    ->Args({131072, 320, 64, 0})
    ->Args({32768, 768, 3840, 0})
    ->Args({3840, 32768, 768, 1})
    ->Args({32768, 3072, 768, 0})
    ->UseManualTime()
    ->Unit(benchmark::kMillisecond);
