// PoNet token mixing, forward and forward + backward, two ways:
//   fused    the mixing as one expression: reductions once, one fused pass (ponet::forward)
//   unfused  one pass per operator with [B, N, D] temporaries (ponet::UnfusedMixing), as eager
//            frameworks run it
// B in {1, 8}, N in {512, 4096, 16384}, D in {64, 768}, H = D / 64 (min 1), LRA chunks
// (segment_num 64), window 3. Least traffic: forward reads q, k, o, sg, lc and writes out
// (6 tensors); forward + backward also reads dout and writes five gradients (12 tensors).
#include <memory>

#include <ponet/unfused.hpp>
#include "bench_common.hpp"

using namespace ponet;

namespace {

struct Mixing {
  int B, N, D, H;
  Shape3 s;
  Tensor<float> q, k, o, sg, lc, out, dout, dq, dk, d_o, dsg, dlc, scratch;
  Tensor<std::uint8_t> valid;
  Segments seg;
  std::unique_ptr<UnfusedMixing<float>> unfused;  // made on first use: 15 more tensors

  Mixing(int b, int n, int d)
      : B(b), N(n), D(d), H(std::max(1, d / 64)), s{b, n, d}, valid(Shape3{b, n, 1}) {
    for (auto* t : {&q, &k, &o, &sg, &lc, &out, &dout, &dq, &dk, &d_o, &dsg, &dlc, &scratch})
      *t = Tensor<float>(s, uninitialized);
    std::uint64_t seed = 1;
    for (auto* t : {&q, &k, &o, &sg, &lc, &dout, &out, &dq, &dk, &d_o, &dsg, &dlc, &scratch})
      bench::fill(*t, seed++);  // touch every page before timing
    for (int bb = 0; bb < B; ++bb)
      for (int i = 0; i < N; ++i) valid(bb, i, 0) = i < N - bb;  // a little padding
    seg = Segments::chunks(B, N, 64);
  }
  UnfusedMixing<float>& unfused_path() {
    if (!unfused) unfused = std::make_unique<UnfusedMixing<float>>(s);
    return *unfused;
  }
  double tensor_bytes() const { return double(s.numel()) * sizeof(float); }
  MixingArgs<float> args() const { return {q, k, o, sg, lc, valid, valid, seg.view(), H, 3}; }
  template <class F>
  void time(benchmark::State& state, double tensors, F&& step) {
    bench::timed(state, tensors * tensor_bytes(), double(B) * N, q, scratch, step);
  }
};

std::unique_ptr<Mixing> cached;  // the largest cases take seconds to fill: share them
Mixing& problem(benchmark::State const& state) {
  int B = int(state.range(0)), N = int(state.range(1)), D = int(state.range(2));
  if (!cached || cached->B != B || cached->N != N || cached->D != D) {
    cached.reset();
    cached = std::make_unique<Mixing>(B, N, D);
  }
  return *cached;
}

void BM_mixing_fused_forward(benchmark::State& state) {
  Mixing& m = problem(state);
  auto e = expr::mixing(m.args());
  Workspace<cpu_tag> ws;
  m.time(state, 6, [&] { assign(m.out, e, ws); });
}

void BM_mixing_fused_forward_backward(benchmark::State& state) {
  Mixing& m = problem(state);
  auto e = expr::mixing(m.args());
  Workspace<cpu_tag> ws;
  m.time(state, 12, [&] {
    forward(m.out, e, ws);
    backward(e, m.dout, ws, {{m.q, m.dq}, {m.k, m.dk}, {m.o, m.d_o}, {m.sg, m.dsg}, {m.lc, m.dlc}});
  });
}

void BM_mixing_unfused_forward(benchmark::State& state) {
  Mixing& m = problem(state);
  auto& u = m.unfused_path();
  m.time(state, 6, [&] { u.forward(m.out, m.args()); });
}

void BM_mixing_unfused_forward_backward(benchmark::State& state) {
  Mixing& m = problem(state);
  auto& u = m.unfused_path();
  m.time(state, 12, [&] {
    u.forward(m.out, m.args());
    u.backward(m.dout, m.dq, m.dk, m.d_o, m.dsg, m.dlc);
  });
}

// Registered shape by shape, so the four ways share one set of inputs per shape.
int const registered = [] {
  struct Way {
    char const* name;
    void (*fn)(benchmark::State&);
  };
  Way const ways[] = {{"mixing_fused_forward", BM_mixing_fused_forward},
                      {"mixing_fused_forward_backward", BM_mixing_fused_forward_backward},
                      {"mixing_unfused_forward", BM_mixing_unfused_forward},
                      {"mixing_unfused_forward_backward", BM_mixing_unfused_forward_backward}};
  for (int B : {1, 8})
    for (int N : {512, 4096, 16384})
      for (int D : {64, 768})
        for (auto const& w : ways)
          benchmark::RegisterBenchmark(w.name, w.fn)
              ->Args({B, N, D})
              ->ArgNames({"B", "N", "D"})
              ->UseManualTime()
              ->Unit(benchmark::kMillisecond);
  return 0;
}();

}  // namespace
