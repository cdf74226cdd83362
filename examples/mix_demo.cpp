// ponet-mix-demo: PoNet's token mixing on one long batch, fused against unfused.
//
// Builds the mixing of PONET.md (global aggregation, segment max, local max, pooling fusion) over
// random projections, runs it fused (one expression: reductions once, then one pass) and unfused
// (one pass per operator with temporaries, as eager frameworks run it), forward and forward +
// backward, checks both agree, and prints milliseconds, bw_fraction (bytes the operation must
// move per second over a plain copy's bytes per second, measured alongside) and the speed-up.
//
//   ponet-mix-demo [--batch 8] [--tokens 4096] [--channels 768] [--heads 12] [--repeats 5]
#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <random>
#include <string>
#include <vector>

#include <ponet/cpu/bandwidth.hpp>
#include <ponet/ponet.hpp>
#include <ponet/unfused.hpp>

using namespace ponet;

namespace {

struct Options {
  int batch = 8, tokens = 4096, channels = 768, heads = 12, repeats = 5;
};

Options parse(int argc, char** argv) {
  Options o;
  for (int a = 1; a < argc; ++a) {
    std::string flag = argv[a];
    if (flag == "--help" || flag == "-h") {
      std::printf("usage: %s [--batch B] [--tokens N] [--channels D] [--heads H] [--repeats R]\n",
                  argv[0]);
      std::exit(0);
    }
    int* target = flag == "--batch"      ? &o.batch
                  : flag == "--tokens"   ? &o.tokens
                  : flag == "--channels" ? &o.channels
                  : flag == "--heads"    ? &o.heads
                  : flag == "--repeats"  ? &o.repeats
                                         : nullptr;
    if (!target) throw Error("unknown flag " + flag + " (try --help)");
    if (a + 1 >= argc) throw Error(flag + " needs a value");
    char* end = nullptr;
    long v = std::strtol(argv[++a], &end, 10);
    if (*end != '\0' || v < 1 || v > (1 << 24))
      throw Error(flag + " needs a positive integer, got '" + argv[a] + "'");
    *target = int(v);
  }
  return o;
}

// Median over repeats of the seconds `step` takes, and of a copy timed right after each run.
template <class F>
std::pair<double, double> measure(int repeats, View<float const> src, View<float> dst, F&& step) {
  step();
  std::vector<double> t, c;
  for (int r = 0; r < repeats; ++r) {
    auto t0 = std::chrono::steady_clock::now();
    step();
    t.push_back(std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count());
    c.push_back(cpu::copy_seconds(src, dst));
  }
  std::sort(t.begin(), t.end());
  std::sort(c.begin(), c.end());
  return {t[t.size() / 2], c[c.size() / 2]};
}

double max_rel_diff(Tensor<float> const& a, Tensor<float> const& b) {
  double diff = 0, scale = 0;
  for (std::int64_t k = 0; k < a.size(); ++k) {
    diff = std::max(diff, double(std::abs(a.data()[k] - b.data()[k])));
    scale = std::max(scale, double(std::abs(b.data()[k])));
  }
  return scale > 0 ? diff / scale : diff;
}

}  // namespace

int main(int argc, char** argv) try {
  Options const opt = parse(argc, argv);
  Shape3 const s{opt.batch, opt.tokens, opt.channels};
  double const tensor_bytes = double(s.numel()) * sizeof(float);
  std::printf("ponet %s mixing demo: B=%d N=%d D=%d H=%d, %d threads, %d-lane float SIMD\n",
              version_string, s.B, s.N, s.D, opt.heads, cpu::max_threads(), cpu::simd_width<float>);

  // Data: random projections, the last tokens of all but the first sequence padded, LRA chunks.
  std::mt19937 rng(42);
  std::uniform_real_distribution<float> u(-1, 1);
  std::vector<Tensor<float>> t(14, Tensor<float>(s, uninitialized));
  for (auto& x : t)
    for (auto& v : x) v = u(rng);
  Tensor<float>&q = t[0], &k = t[1], &o = t[2], &sg = t[3], &lc = t[4], &dout = t[5];
  Tensor<float>&out = t[6], &ref_out = t[7], &scratch = t[13];
  Tensor<std::uint8_t> valid(Shape3{s.B, s.N, 1});
  for (int b = 0; b < s.B; ++b)
    for (int i = 0; i < s.N; ++i) valid(b, i, 0) = i < s.N - b * (s.N / 16);
  auto segments = Segments::chunks(s.B, s.N, 64);
  MixingArgs<float> const args{q, k, o, sg, lc, valid, valid, segments.view(), opt.heads, 3};

  auto mix = expr::mixing(args);  // the whole mixing as one expression
  Workspace<cpu_tag> ws;
  UnfusedMixing<float> unfused(s);
  Tensor<float>&dq = t[8], &dk = t[9], &d_o = t[10], &dsg = t[11], &dlc = t[12];
  Tensor<float> ref_dq(s, uninitialized);

  auto fused_fwd = measure(opt.repeats, q, scratch, [&] { assign(out, mix, ws); });
  auto fused_bwd = measure(opt.repeats, q, scratch, [&] {
    forward(out, mix, ws);
    backward(mix, dout, ws, {{q, dq}, {k, dk}, {o, d_o}, {sg, dsg}, {lc, dlc}});
  });
  Tensor<float> fused_dq = dq;
  auto unfused_fwd = measure(opt.repeats, q, scratch, [&] { unfused.forward(ref_out, args); });
  auto unfused_bwd = measure(opt.repeats, q, scratch, [&] {
    unfused.forward(ref_out, args);
    unfused.backward(dout, ref_dq, dk, d_o, dsg, dlc);
  });

  auto row = [&](char const* name, std::pair<double, double> m, double tensors) {
    double frac = (tensors * tensor_bytes / m.first) / (2 * tensor_bytes / m.second);
    std::printf("  %-26s %9.2f ms   bw_fraction %.2f\n", name, m.first * 1e3, frac);
  };
  std::printf("  %-26s %9.1f GB/s\n", "copy bandwidth (median)",
              2 * tensor_bytes / fused_fwd.second / 1e9);
  row("fused forward", fused_fwd, 6);
  row("fused forward+backward", fused_bwd, 12);
  row("unfused forward", unfused_fwd, 6);
  row("unfused forward+backward", unfused_bwd, 12);
  std::printf("  fused speed-up: forward %.2fx, forward+backward %.2fx\n",
              unfused_fwd.first / fused_fwd.first, unfused_bwd.first / fused_bwd.first);
  std::printf("  fused vs unfused: output differs by %.1e, dq by %.1e (relative)\n",
              max_rel_diff(out, ref_out), max_rel_diff(fused_dq, ref_dq));
  return 0;
} catch (std::exception const& e) {
  std::fprintf(stderr, "ponet-mix-demo: %s\n", e.what());
  return 1;
}
