// CPU <-> GPU parity of every expression operator, forward and backward, on shapes that cover
// N = 1, odd N and D, several token chunks, segments spanning chunks, length-1 segments, k > N,
// all padding but one token and N = 16384; planted ties; and determinism (two GPU runs give the
// same bits). Compiled by nvcc; never run in CI (no GPU): the runner reports Skipped.
#include "cuda_side.cuh"

namespace parity {

int cuda_devices(std::string& reason) { return ponet::cuda::device_count(&reason); }

namespace {

struct Setting {
  int B, N, D, heads, S, window;
  std::vector<int> lengths;  // valid tokens per sequence
};

// Distinct inputs (no ties unless planted), spaced so values stay within about [-2, 2].
ExprInputs make_inputs(Setting const& s, unsigned seed, bool ties = false) {
  Shape3 const shape{s.B, s.N, s.D};
  ExprInputs in;
  double const gap = 4.0 / double(shape.numel());
  for (int k = 0; k < 5; ++k) {
    auto x = testing::distinct<float>(shape, gap, seed + 17 * k);
    if (ties)  // five levels only: every window and segment meets equal maxima
      for (auto& v : x) v = float(std::floor(v * 2.5f));
    in.x.push_back(std::move(x));
  }
  in.dout = testing::uniform<float>(shape, seed + 101);
  in.valid = testing::lengths_mask(s.B, s.N, s.lengths);
  in.pool = in.valid;
  in.ids = ponet::Segments::chunks(s.B, s.N, s.S).ids();
  in.S = s.S;
  in.heads = s.heads;
  in.window = s.window;
  return in;
}

std::vector<Setting> const& settings() {
  static std::vector<Setting> const all = {
      {1, 1, 3, 1, 1, 3, {1}},              // N = 1
      {2, 37, 6, 2, 4, 3, {37, 20}},        // odd N and D, padding
      {3, 100, 64, 2, 7, 5, {100, 61, 1}},  // several chunks; all padding but one token
      {2, 333, 24, 4, 3, 9, {333, 200}},    // segments of 112 tokens span chunks
      {1, 5, 8, 2, 5, 9, {5}},              // k > N, segments of one token
      {2, 70, 12, 3, 1, 3, {70, 0}},        // one segment; an empty sequence
  };
  return all;
}

void check_case(ExprCase c, Setting const& s, ExprInputs const& in, bool ties) {
  INFO(name(c) << " on [" << s.B << "," << s.N << "," << s.D << "], H=" << s.heads << " S=" << s.S
               << " k=" << s.window << (ties ? ", planted ties" : ""));
  ExprResult const cpu = cpu_expr(c, in);
  ExprResult const gpu = run_expr<cuda_tag>(c, in);
  compare("forward", gpu.out, cpu.out, is_max(c));
  REQUIRE(gpu.grads.size() == cpu.grads.size());
  for (std::size_t k = 0; k < cpu.grads.size(); ++k) {
    compare("gradient of input " + std::to_string(k), gpu.grads[k], cpu.grads[k], false);
    if (ties && is_max(c)) {  // the same winners: gradients are zero at the same places
      bool same_zeros = true;
      for (std::int64_t e = 0; e < cpu.grads[k].size(); ++e)
        same_zeros &= (gpu.grads[k].data()[e] == 0) == (cpu.grads[k].data()[e] == 0);
      CHECK(same_zeros);
    }
  }
}

}  // namespace

TEST_CASE("cuda: every expression operator matches the CPU, forward and backward",
          "[cuda][parity][expr]") {
  for (auto const& s : settings()) {
    auto const in = make_inputs(s, unsigned(s.N * 7 + s.D));
    for (int c = 0; c < int(ExprCase::count); ++c) check_case(ExprCase(c), s, in, false);
  }
}

TEST_CASE("cuda: max poolings pick the CPU's winners on planted ties (first token wins)",
          "[cuda][parity][ties]") {
  for (auto const& s : settings()) {
    auto const in = make_inputs(s, unsigned(s.N + 3), true);
    for (ExprCase c : {ExprCase::max, ExprCase::window_max, ExprCase::segment_max,
                       ExprCase::segment_of_window, ExprCase::mixing})
      check_case(c, s, in, true);
  }
}

TEST_CASE("cuda: the PoNet mixing matches the CPU at N = 16384", "[cuda][parity][long]") {
  Setting const s{1, 16384, 8, 2, 64, 3, {16384}};
  check_case(ExprCase::mixing, s, make_inputs(s, 5), false);
}

TEST_CASE("cuda: two runs of the mixing give the same bits", "[cuda][determinism]") {
  Setting const s{4, 2000, 64, 2, 64, 3, {2000, 1999, 1000, 33}};
  auto const in = make_inputs(s, 11);
  for (ExprCase c : {ExprCase::mixing, ExprCase::segment_of_window, ExprCase::window_of_mean}) {
    INFO(name(c));
    ExprResult const a = run_expr<cuda_tag>(c, in);
    ExprResult const b = run_expr<cuda_tag>(c, in);
    CHECK(testing::bit_equal(a.out, b.out));
    for (std::size_t k = 0; k < a.grads.size(); ++k)
      CHECK(testing::bit_equal(a.grads[k], b.grads[k]));
  }
}

TEST_CASE("cuda: bad shapes throw ponet::Error before any kernel runs", "[cuda][errors]") {
  using namespace ponet;
  Tensor<float, cuda_tag> a(Shape3{2, 3, 4}), b(Shape3{2, 3, 5});
  CHECK_THROWS_AS(assign(a, expr::as_expr(a) + b), Error);
  Tensor<float, cuda_tag> w(Shape3{1, 4, 4}), x(Shape3{1, 3, 5}), y(Shape3{1, 3, 4});
  CHECK_THROWS_AS(gemm(as_mat(y.view()), as_mat(x.cview()), false, as_mat(w.cview()), false),
                  Error);
}

}  // namespace parity
