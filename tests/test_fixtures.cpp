// PyTorch parity: tests/fixtures/make_fixtures.py, an independent float64 PyTorch implementation
// of the mixing written from PONET.md, dumps inputs, output and gradients for four small cases
// (LRA chunks; [CLS]/[SEP] sentences under clsgsepg; one token; a window wider than half the
// sequence). ref:: must reproduce them in double, the fused CPU path in double and float.
// The file format is described in make_fixtures.py; the reader below checks it line by line.
#include <catch2/catch.hpp>

#include <cerrno>
#include <cstdlib>
#include <fstream>
#include <map>
#include <sstream>
#include <stdexcept>
#include <string>
#include <utility>
#include <vector>

#include "fixture.hpp"
#include "testing.hpp"

using namespace ponet;
using namespace testing;

namespace {
// Torch and ponet evaluate the same float64 formulas in different orders (softmax, sums over
// tokens and channels): they differ by a few ulps times the depth of the computation, ~1e-15.
// Any semantic difference (a mask, a segment, a tie rule) shows up at O(1e-2) or more.
constexpr double kDoubleTol = 1e-10;
// Float inputs are exact casts (the fixture inputs are dyadic, checked below), so this is float
// arithmetic alone against float64: eps 6e-8 times a few dozen operations, with headroom.
constexpr double kFloatTol = 1e-5;

char const* const kCases[] = {"lra_chunks", "sentences_clsgsepg", "single_token", "wide_window"};

// --------------------------------------------------------------------------------------- cases

// Same runs of tokens: the labels may differ, the boundaries may not.
bool same_partition(Tensor<std::int32_t> const& ours, Tensor<std::int64_t> const& theirs) {
  if (!(ours.shape() == theirs.shape())) return false;
  for (int b = 0; b < ours.B(); ++b)
    for (int i = 1; i < ours.N(); ++i)
      if ((ours(b, i, 0) != ours(b, i - 1, 0)) != (theirs(b, i, 0) != theirs(b, i - 1, 0)))
        return false;
  return true;
}

struct Case {
  Fixture fx;
  int B, N, D, H, k, S;
  bool clsgsepg;
  ref::MixingInputs<double> in;
  Tensor<double> dout;
  Mask valid, pool;
  Segments seg;
  Tensor<std::int64_t> their_ids;  // the script's segment labels [B, N, 1]

  explicit Case(std::string const& name) : fx(read_fixture(name + ".txt")) {
    B = fx.param("B"), N = fx.param("N"), D = fx.param("D"), H = fx.param("H");
    k = fx.param("k"), S = fx.param("S"), clsgsepg = fx.param("clsgsepg") != 0;
    Shape3 const x{B, N, D}, tok{B, N, 1};
    in = {fx.real("q", x), fx.real("k", x), fx.real("o", x), fx.real("sg", x), fx.real("lc", x)};
    dout = fx.real("dout", x);
    auto const& v = fx.integer("valid", tok);
    for (auto b : v)
      if (b != 0 && b != 1)
        throw std::runtime_error(fx.file + ": valid holds " + std::to_string(b));
    valid = cast<std::uint8_t>(v);
    their_ids = fx.integer("segment_ids", tok);
    if (fx.has("token_ids"))
      seg = Segments::from_tokens<std::int64_t>(fx.integer("token_ids", tok).view());
    else
      seg = Segments::from_ids(cast<std::int32_t>(their_ids).view(), S);
    pool = seg.pool_mask(valid, clsgsepg);
  }

  ref::MixingSetup setup() const { return {valid, pool, seg.ids(), seg.S(), H, k}; }

  // Every result against the script's: out and the five input gradients.
  template <class T>
  void check(Tensor<T> const& out, ref::MixingInputs<T> const& d, double tol) const {
    Shape3 const x{B, N, D};
    std::pair<char const*, Tensor<T> const*> const results[] = {
        {"out", &out}, {"dq", &d.q}, {"dk", &d.k}, {"do", &d.o}, {"dsg", &d.sg}, {"dlc", &d.lc}};
    for (auto [name, t] : results) {
      INFO(fx.file << " tensor " << name);
      CHECK(max_rel_err(*t, fx.real(name, x)) <= tol);
    }
  }

  // The fused CPU path, inputs and dout cast to T.
  template <class T>
  std::pair<Tensor<T>, ref::MixingInputs<T>> fused() const {
    ref::MixingInputs<T> x{cast<T>(in.q), cast<T>(in.k), cast<T>(in.o), cast<T>(in.sg),
                           cast<T>(in.lc)};
    Tensor<T> const dy = cast<T>(dout);
    Shape3 const s{B, N, D};
    auto e = expr::mixing<T, cpu_tag>(x.q, x.k, x.o, x.sg, x.lc, valid, pool, seg.view(), H, k);
    Tensor<T> out(s);
    ref::MixingInputs<T> d{Tensor<T>(s), Tensor<T>(s), Tensor<T>(s), Tensor<T>(s), Tensor<T>(s)};
    Workspace<cpu_tag> ws;
    forward(out, e, ws);
    backward(e, dy, ws, {{x.q, d.q}, {x.k, d.k}, {x.o, d.o}, {x.sg, d.sg}, {x.lc, d.lc}});
    return {std::move(out), std::move(d)};
  }
};
}  // namespace

TEST_CASE("fixtures: the reader names the file and line of a malformed record",
          "[fixtures][reader]") {
  auto error_of = [](std::string const& text) {
    std::istringstream in(text);
    try {
      parse_fixture(in, "bad.txt");
    } catch (std::runtime_error const& e) {
      return std::string(e.what());
    }
    return std::string("no error");
  };
  using Catch::Matchers::Contains;
  CHECK_THAT(error_of("ponet-fixture 2\n"), Contains("bad.txt:1: expected the header"));
  CHECK_THAT(error_of("ponet-fixture 1\nparam B two\n"), Contains("bad.txt:2: 'two' is not"));
  CHECK_THAT(error_of("ponet-fixture 1\nparam B 1\nparam B 2\n"), Contains("bad.txt:3: param"));
  CHECK_THAT(error_of("ponet-fixture 1\ntensor q f32 1 1 2\n0 1\n"), Contains("bad.txt:2: tensor"));
  CHECK_THAT(error_of("ponet-fixture 1\ntensor q f64 1 1 2\n0.5\n"),
             Contains("bad.txt:3: tensor 'q' [1,1,2] needs 2 values, got 1"));
  CHECK_THAT(error_of("ponet-fixture 1\ntensor q f64 1 1 2\n0.5 1e\n"),
             Contains("bad.txt:3: '1e' is not"));
  CHECK_THAT(error_of("ponet-fixture 1\ntensor q f64 1 1 2\n"), Contains("bad.txt:3: tensor"));
  CHECK_THAT(error_of("ponet-fixture 1\nweights 3\n"), Contains("bad.txt:2: unknown record"));
  CHECK(error_of("ponet-fixture 1\nparam B 1\n\ntensor v i64 1 2 1\n0 -1\n") == "no error");
}

TEST_CASE("fixtures: segments are the script's", "[fixtures][segments]") {
  std::string const name = GENERATE(from_range(std::begin(kCases), std::end(kCases)));
  Case const c(name);
  INFO(c.fx.file);
  if (c.fx.has("token_ids")) {
    // from_tokens labels runs 0, 1, 2, ...; the script counts as the authors' model does
    // (skipping a label between adjacent delimiters). Same partition, other labels.
    CHECK(same_partition(c.seg.ids(), c.their_ids));
    CHECK(c.clsgsepg);
  } else {
    // LRA chunks: the same ids, label for label.
    CHECK(bit_equal(Segments::chunks(c.B, c.N, c.S).ids(), cast<std::int32_t>(c.their_ids)));
  }
}

TEST_CASE("fixtures: ref mixing equals PyTorch in double", "[fixtures][ref]") {
  std::string const name = GENERATE(from_range(std::begin(kCases), std::end(kCases)));
  Case const c(name);
  auto const fwd = ref::mixing_forward(c.in, c.setup());
  c.check(fwd.out, ref::mixing_backward(c.dout, c.in, c.setup(), fwd), kDoubleTol);
  if (c.fx.has("token_ids")) {
    // The script's own labels as explicit ids: labels it skips are empty segments.
    auto setup = c.setup();
    auto const seg = Segments::from_ids(cast<std::int32_t>(c.their_ids).view(), c.S);
    setup.ids = seg.ids();
    setup.S = seg.S();
    auto const f = ref::mixing_forward(c.in, setup);
    c.check(f.out, ref::mixing_backward(c.dout, c.in, setup, f), kDoubleTol);
  }
}

TEMPLATE_TEST_CASE("fixtures: fused mixing equals PyTorch", "[fixtures][fused]", float, double) {
  std::string const name = GENERATE(from_range(std::begin(kCases), std::end(kCases)));
  Case const c(name);
  INFO(c.fx.file);
  if (std::is_same_v<TestType, float>)
    for (auto const* x : {&c.in.q, &c.in.k, &c.in.o, &c.in.sg, &c.in.lc, &c.dout})
      REQUIRE(bit_equal(cast<double>(cast<float>(*x)), *x));  // float sees the same inputs
  auto const [out, d] = c.fused<TestType>();
  c.check(out, d, std::is_same_v<TestType, float> ? kFloatTol : kDoubleTol);
}
