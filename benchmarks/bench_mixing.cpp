// PoNet token mixing, forward and forward + backward, three ways:
//   fused    the mixing as one expression: reductions once, one fused pass (ponet::forward)
//   unfused  one pass per operator with [B, N, D] temporaries, as eager frameworks run it
// B in {1, 8}, N in {512, 4096, 16384}, D in {64, 768}, H = D / 64 (min 1), LRA chunks
// (segment_num 64), window 3. Least traffic: forward reads q, k, o, sg, lc and writes out
// (6 tensors); forward + backward also reads dout and writes five gradients (12 tensors).
#include <memory>

#include "bench_common.hpp"

using namespace ponet;

namespace {

struct Mixing {
  int B, N, D, H;
  Shape3 s;
  Tensor<float> q, k, o, sg, lc, out, dout, dq, dk, d_o, dsg, dlc;
  Tensor<std::uint8_t> valid;
  Segments seg;
  double copy_bw;

  Mixing(int b, int n, int d)
      : B(b), N(n), D(d), H(std::max(1, d / 64)), s{b, n, d}, valid(Shape3{b, n, 1}) {
    for (auto* t : {&q, &k, &o, &sg, &lc, &out, &dout, &dq, &dk, &d_o, &dsg, &dlc})
      *t = Tensor<float>(s, uninitialized);
    std::uint64_t seed = 1;
    for (auto* t : {&q, &k, &o, &sg, &lc, &dout}) bench::fill(*t, seed++);
    for (int bb = 0; bb < B; ++bb)
      for (int i = 0; i < N; ++i) valid(bb, i, 0) = i < N - bb;  // a little padding
    seg = Segments::chunks(B, N, 64);
    copy_bw = bench::copy_bandwidth(q, out);
  }
  double tensor_bytes() const { return double(s.numel()) * sizeof(float); }
  auto expr() const {
    return expr::mixing<float, cpu_tag>(q, k, o, sg, lc, valid, valid, seg.view(), H, 3);
  }
};

// The unfused path: each operator reads its inputs and writes a full temporary.
struct Unfused {
  Mixing& m;
  Tensor<float> sg_m, s_full, lc_m, l_full, t1, t2, t3;  // forward temporaries
  Tensor<float> dt3, dt1, dsg_m, dlc_m;                  // backward temporaries
  Workspace<cpu_tag> ws[8];

  explicit Unfused(Mixing& mm) : m(mm) {
    for (auto* t : {&sg_m, &s_full, &lc_m, &l_full, &t1, &t2, &t3, &dt3, &dt1, &dsg_m, &dlc_m})
      *t = Tensor<float>(m.s, uninitialized);
  }
  void forward() {
    ponet::forward(sg_m, expr::masked(m.sg, m.valid), ws[0]);
    ponet::forward(s_full, expr::segment_max(sg_m, m.seg), ws[1]);
    ponet::forward(lc_m, expr::masked(m.lc, m.valid), ws[2]);
    ponet::forward(l_full, expr::window_max(lc_m, 3), ws[3]);
    ponet::forward(t1, expr::global_attn(m.q, m.k, m.valid, m.H) + s_full, ws[4]);
    ponet::forward(t2, expr::as_expr(t1) * m.o, ws[5]);
    ponet::forward(t3, expr::as_expr(t2) + l_full, ws[6]);
    ponet::forward(m.out, expr::masked_fill(t3, m.valid, 0), ws[7]);
  }
  // Reverse order; an add passes its gradient on without a copy, as autograd does.
  void backward() {
    ponet::backward(expr::masked_fill(t3, m.valid, 0), m.dout, ws[7], {{t3, dt3}});
    Tensor<float> const& dt2 = dt3;
    Tensor<float> const& dl = dt3;
    ponet::backward(expr::as_expr(t1) * m.o, dt2, ws[5], {{t1, dt1}, {m.o, m.d_o}});
    Tensor<float> const& ds = dt1;
    ponet::backward(expr::global_attn(m.q, m.k, m.valid, m.H) + s_full, dt1, ws[4],
                    {{m.q, m.dq}, {m.k, m.dk}});
    ponet::backward(expr::segment_max(sg_m, m.seg), ds, ws[1], {{sg_m, dsg_m}});
    ponet::backward(expr::masked(m.sg, m.valid), dsg_m, ws[0], {{m.sg, m.dsg}});
    ponet::backward(expr::window_max(lc_m, 3), dl, ws[3], {{lc_m, dlc_m}});
    ponet::backward(expr::masked(m.lc, m.valid), dlc_m, ws[2], {{m.lc, m.dlc}});
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
  auto e = m.expr();
  Workspace<cpu_tag> ws;
  bench::timed(state, 6 * m.tensor_bytes(), double(m.B) * m.N, m.copy_bw,
               [&] { assign(m.out, e, ws); });
}

void BM_mixing_fused_forward_backward(benchmark::State& state) {
  Mixing& m = problem(state);
  auto e = m.expr();
  Workspace<cpu_tag> ws;
  bench::timed(state, 12 * m.tensor_bytes(), double(m.B) * m.N, m.copy_bw, [&] {
    forward(m.out, e, ws);
    backward(e, m.dout, ws, {{m.q, m.dq}, {m.k, m.dk}, {m.o, m.d_o}, {m.sg, m.dsg}, {m.lc, m.dlc}});
  });
}

void BM_mixing_unfused_forward(benchmark::State& state) {
  Mixing& m = problem(state);
  Unfused u(m);
  bench::timed(state, 6 * m.tensor_bytes(), double(m.B) * m.N, m.copy_bw, [&] { u.forward(); });
}

void BM_mixing_unfused_forward_backward(benchmark::State& state) {
  Mixing& m = problem(state);
  Unfused u(m);
  bench::timed(state, 12 * m.tensor_bytes(), double(m.B) * m.N, m.copy_bw, [&] {
    u.forward();
    u.backward();
  });
}

void shapes(benchmark::internal::Benchmark* b) {
  b->ArgNames({"B", "N", "D"});
  for (int B : {1, 8})
    for (int N : {512, 4096, 16384})
      for (int D : {64, 768}) b->Args({B, N, D});
  b->UseManualTime()->Unit(benchmark::kMillisecond);
}

}  // namespace

BENCHMARK(BM_mixing_fused_forward)->Apply(shapes);
BENCHMARK(BM_mixing_fused_forward_backward)->Apply(shapes);
BENCHMARK(BM_mixing_unfused_forward)->Apply(shapes);
BENCHMARK(BM_mixing_unfused_forward_backward)->Apply(shapes);
