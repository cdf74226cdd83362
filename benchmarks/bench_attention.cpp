// Multi-head softmax attention, the Transformer baseline PoNet is compared with: the blocked
// FlashAttention-2 CPU forward and forward + backward (cpu/attention.hpp), float, no padding.
// Shapes: LRA heads (D = 64, H = 2, dh = 32) at B = 32, N in {512, 1024, 2048, 4096}, and
// N = 16384 at B = 2; BERT-base heads (D = 768, H = 12, dh = 64). GFLOPs counts the products:
// 4 N^2 D B for the forward (QK^T and PV), 2.5x that more for the backward (five products:
// QK^T, dO V^T, P^T dO, dS^T Q, dS K), so 14 N^2 D B for forward + backward. Compare with the
// FMA peak (2 cores x 2 AVX-512 FMA ports x 32 flops per cycle x the clock).
#include <chrono>
#include <memory>

#include <ponet/cpu/attention.hpp>

#include "bench_common.hpp"

using namespace ponet;

namespace {

struct Attention {
  int B, N, D, H;
  Tensor<float> q, k, v, out, dout, dq, dk, dv;
  Tensor<std::uint8_t> valid;
  Workspace<cpu_tag> ws;

  Attention(int b, int n, int d, int h) : B(b), N(n), D(d), H(h), valid(Shape3{b, n, 1}) {
    Shape3 s{b, n, d};
    std::uint64_t seed = 1;
    for (auto* t : {&q, &k, &v, &out, &dout, &dq, &dk, &dv}) {
      *t = Tensor<float>(s, uninitialized);
      bench::fill(*t, seed++);  // touch every page before timing
    }
    valid.fill(1);
  }
  double forward_flops() const { return 4.0 * N * double(N) * D * B; }
  void forward() { attention_forward(out, q, k, v, valid, H, ws); }
  void backward() { attention_backward(dq, dk, dv, dout, q, k, v, out, valid, H, ws); }
};

std::unique_ptr<Attention> cached;  // inputs are shared by the forward and the backward cases
Attention& problem(benchmark::State const& state) {
  int B = int(state.range(0)), N = int(state.range(1)), D = int(state.range(2)),
      H = int(state.range(3));
  if (!cached || cached->B != B || cached->N != N || cached->D != D || cached->H != H) {
    cached.reset();
    cached = std::make_unique<Attention>(B, N, D, H);
  }
  return *cached;
}

// Manual time of `step`, after one untimed step that grows the workspace; GFLOPs from `flops`.
template <class F>
void timed(benchmark::State& state, double flops, F&& step) {
  double const total = bench::timed_steps(state, step);
  state.counters["GFLOPs"] = flops * double(state.iterations()) / total / 1e9;
  state.counters["threads"] = cpu::max_threads();
}

void BM_attention_forward(benchmark::State& state) {
  Attention& a = problem(state);
  timed(state, a.forward_flops(), [&] {
    a.forward();
    benchmark::DoNotOptimize(a.out.data());
  });
}

void BM_attention_forward_backward(benchmark::State& state) {
  Attention& a = problem(state);
  timed(state, 3.5 * a.forward_flops(), [&] {
    a.forward();
    a.backward();
    benchmark::DoNotOptimize(a.dq.data());
  });
}

void shapes(benchmark::internal::Benchmark* b) {
  b->ArgNames({"B", "N", "D", "H"});
  for (int N : {512, 1024, 2048, 4096}) b->Args({32, N, 64, 2});  // LRA
  b->Args({2, 16384, 64, 2});                                     // LRA's longest
  b->Args({8, 512, 768, 12});                                     // BERT-base
  b->Args({1, 4096, 768, 12});
  b->UseManualTime()->Unit(benchmark::kMillisecond);
}

}  // namespace

BENCHMARK(BM_attention_forward)->Apply(shapes);
BENCHMARK(BM_attention_forward_backward)->Apply(shapes);
