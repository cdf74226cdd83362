// PoNet token mixing on the GPU, forward and forward + backward, fused (the expression: reduction
// kernels, then one fused kernel; the sinks kernel for the backward) and unfused (one kernel pass
// per operator with [B, N, D] temporaries, ponet::UnfusedMixing on cuda_tag). The shapes of
// benchmarks/bench_mixing.cpp: B in {1, 8}, N in {512, 4096, 16384}, D in {64, 768},
// H = D / 64, LRA chunks (segment_num 64), window 3; plus the LRA Text batch [32, 4096, 64].
// Least traffic: forward reads q, k, o, sg, lc and writes out (6 tensors); forward + backward
// also reads dout and writes five gradients (12). bw_fraction: that traffic's bytes/s over a
// device-to-device copy's, timed after each iteration in the same binary.
#include <memory>

#include <ponet/unfused.hpp>

#include "bench_cuda_common.cuh"

using namespace ponet;

namespace {

struct Mixing {
  int B, N, D, H;
  Shape3 s;
  Tensor<float, cuda_tag> q, k, o, sg, lc, out, dout, dq, dk, d_o, dsg, dlc, scratch;
  Tensor<std::uint8_t, cuda_tag> valid;
  cuda::DeviceSegments seg;
  std::unique_ptr<UnfusedMixing<float, cuda_tag>> unfused;

  Mixing(int b, int n, int d) : B(b), N(n), D(d), H(d / 64 > 1 ? d / 64 : 1), s{b, n, d} {
    std::uint64_t seed = 1;
    for (auto* t : {&q, &k, &o, &sg, &lc, &out, &dout, &dq, &dk, &d_o, &dsg, &dlc, &scratch}) {
      *t = Tensor<float, cuda_tag>(s, uninitialized);
      bench_cuda::fill(*t, seed++);
    }
    Tensor<std::uint8_t> v(Shape3{b, n, 1});
    for (int bb = 0; bb < B; ++bb)
      for (int i = 0; i < N; ++i) v(bb, i, 0) = i < N - bb;  // a little padding
    valid = to_device(v);
    seg = to_device(Segments::chunks(B, N, 64));
  }
  UnfusedMixing<float, cuda_tag>& unfused_path() {
    if (!unfused) unfused = std::make_unique<UnfusedMixing<float, cuda_tag>>(s);
    return *unfused;
  }
  double tensor_bytes() const { return double(s.numel()) * sizeof(float); }
  MixingArgs<float, cuda_tag> args() const {
    return {q, k, o, sg, lc, valid, valid, seg.view(), H, 3};
  }
  template <class F>
  void time(benchmark::State& state, double tensors, F&& step) {
    bench_cuda::timed(state, tensors * tensor_bytes(), double(B) * N, q, scratch, step);
  }
};

std::unique_ptr<Mixing> cached;  // one set of inputs per shape, shared by the four ways
Mixing& problem(benchmark::State const& state) {
  int B = int(state.range(0)), N = int(state.range(1)), D = int(state.range(2));
  if (!cached || cached->B != B || cached->N != N || cached->D != D) {
    cached.reset();
    cached = std::make_unique<Mixing>(B, N, D);
  }
  return *cached;
}

void BM_cuda_mixing_fused_forward(benchmark::State& state) {
  Mixing& m = problem(state);
  auto e = expr::mixing(m.args());
  Workspace<cuda_tag> ws;
  m.time(state, 6, [&] { assign(m.out, e, ws); });
}

void BM_cuda_mixing_fused_forward_backward(benchmark::State& state) {
  Mixing& m = problem(state);
  auto e = expr::mixing(m.args());
  Workspace<cuda_tag> ws;
  m.time(state, 12, [&] {
    forward(m.out, e, ws);
    backward(e, m.dout, ws, {{m.q, m.dq}, {m.k, m.dk}, {m.o, m.d_o}, {m.sg, m.dsg}, {m.lc, m.dlc}});
  });
}

void BM_cuda_mixing_unfused_forward(benchmark::State& state) {
  Mixing& m = problem(state);
  auto& u = m.unfused_path();
  m.time(state, 6, [&] { u.forward(m.out, m.args()); });
}

void BM_cuda_mixing_unfused_forward_backward(benchmark::State& state) {
  Mixing& m = problem(state);
  auto& u = m.unfused_path();
  m.time(state, 12, [&] {
    u.forward(m.out, m.args());
    u.backward(m.dout, m.dq, m.dk, m.d_o, m.dsg, m.dlc);
  });
}

// A device-to-device copy of one [B, N, D] tensor: the yardstick itself (bw_fraction ~ 1).
void BM_cuda_copy(benchmark::State& state) {
  Mixing& m = problem(state);
  m.time(state, 2, [&] {
    PONET_CUDA_CHECK(cudaMemcpyAsync(m.out.data(), m.q.data(), m.q.bytes(),
                                     cudaMemcpyDeviceToDevice, cuda::stream()));
  });
}

int const registered = [] {
  struct Way {
    char const* name;
    void (*fn)(benchmark::State&);
  };
  Way const ways[] = {
      {"cuda_copy", BM_cuda_copy},
      {"cuda_mixing_fused_forward", BM_cuda_mixing_fused_forward},
      {"cuda_mixing_fused_forward_backward", BM_cuda_mixing_fused_forward_backward},
      {"cuda_mixing_unfused_forward", BM_cuda_mixing_unfused_forward},
      {"cuda_mixing_unfused_forward_backward", BM_cuda_mixing_unfused_forward_backward}};
  std::vector<std::array<int, 3>> shapes;
  for (int B : {1, 8})
    for (int N : {512, 4096, 16384})
      for (int D : {64, 768}) shapes.push_back({B, N, D});
  shapes.push_back({32, 4096, 64});  // LRA Text batch
  for (auto const& sh : shapes)
    for (auto const& w : ways)
      benchmark::RegisterBenchmark(w.name, w.fn)
          ->Args({sh[0], sh[1], sh[2]})
          ->ArgNames({"B", "N", "D"})
          ->UseManualTime()
          ->Unit(benchmark::kMillisecond)
          ->MinTime(0.1);
  return 0;
}();

}  // namespace
