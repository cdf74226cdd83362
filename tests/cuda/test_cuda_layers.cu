// CPU <-> GPU parity of the dense operators the layers use, forward and backward: gemm (every
// transposition, strided rows), bias add and column sums, LayerNorm, embeddings, masked-mean
// pooling, softmax cross-entropy, AdamW, multi-head attention (head widths 3 to 100, padding)
// and FNet's Fourier mixing (cuFFT against FFTW); and determinism. Compiled by nvcc; never run
// in CI (no GPU): the runner reports Skipped.
#include "cuda_side.cuh"

namespace parity {
namespace {

Tensor<float> rnd(Shape3 s, unsigned seed, double scale = 1) {
  return testing::uniform<float>(s, seed, -scale, scale);
}

Tensor<float> transposed(Tensor<float> const& m) {  // [1, r, c] -> [1, c, r]
  Tensor<float> t(Shape3{1, m.D(), m.N()});
  for (int r = 0; r < m.N(); ++r)
    for (int c = 0; c < m.D(); ++c) t(0, c, r) = m(0, r, c);
  return t;
}

void check_dense(DenseCase c, DenseInputs const& in, std::string const& setting) {
  INFO(name(c) << " " << setting);
  DenseResult const cpu = cpu_dense(c, in);
  DenseResult const gpu = run_dense<cuda_tag>(c, in);
  REQUIRE(gpu.out.size() == cpu.out.size());
  for (std::size_t k = 0; k < cpu.out.size(); ++k)
    compare(cpu.names[k], gpu.out[k], cpu.out[k], cpu.exact[k]);
}

DenseInputs gemm_inputs(int m, int k, int n, unsigned seed) {
  DenseInputs in;
  auto A = rnd({1, m, k}, seed), B = rnd({1, k, n}, seed + 1), C = rnd({1, m, n}, seed + 2);
  in.f = {A, B, C, transposed(A), transposed(B)};
  return in;
}

DenseInputs attention_inputs(int B, int N, int D, int H, std::vector<int> lengths, unsigned seed) {
  DenseInputs in;
  Shape3 const s{B, N, D};
  in.f = {rnd(s, seed), rnd(s, seed + 1), rnd(s, seed + 2), rnd(s, seed + 3)};
  in.valid = testing::lengths_mask(B, N, lengths);
  in.heads = H;
  return in;
}

}  // namespace

TEST_CASE("cuda: gemm (cuBLAS) matches the CPU for every transposition", "[cuda][parity][gemm]") {
  check_dense(DenseCase::gemm, gemm_inputs(37, 29, 19, 1), "m=37 k=29 n=19");
  check_dense(DenseCase::gemm, gemm_inputs(300, 64, 128, 2), "m=300 k=64 n=128");
  check_dense(DenseCase::gemm, gemm_inputs(1, 1, 1, 3), "m=k=n=1");
}

TEST_CASE("cuda: bias add and column sums match the CPU", "[cuda][parity][bias]") {
  for (auto [rows, cols] : {std::pair{1000, 37}, std::pair{1, 5}, std::pair{257, 64}}) {
    DenseInputs in;
    in.f = {rnd({1, rows, cols}, 4), rnd({1, 1, cols}, 5)};
    check_dense(DenseCase::bias, in, std::to_string(rows) + "x" + std::to_string(cols));
  }
}

TEST_CASE("cuda: LayerNorm matches the CPU, forward and backward", "[cuda][parity][layer_norm]") {
  for (auto [rows, D] : {std::pair{600, 37}, std::pair{3, 64}, std::pair{70, 768}}) {
    DenseInputs in;
    in.f = {rnd({1, rows, D}, 6, 3), rnd({1, 1, D}, 7), rnd({1, 1, D}, 8), rnd({1, rows, D}, 9)};
    check_dense(DenseCase::layer_norm, in, std::to_string(rows) + "x" + std::to_string(D));
  }
}

TEST_CASE("cuda: embeddings match the CPU bit for bit, forward and backward",
          "[cuda][parity][embedding]") {
  int const V = 11, D = 13, B = 3, N = 40, P = 48;
  DenseInputs in;
  in.f = {rnd({1, V, D}, 10), rnd({1, P, D}, 11), rnd({B, N, D}, 12)};
  in.tokens = Tensor<std::int32_t>(Shape3{B, N, 1});
  std::mt19937 rng(13);
  for (auto& t : in.tokens) t = std::int32_t(rng() % 7);  // ids repeat; 7..10 never occur
  check_dense(DenseCase::embedding, in, "V=11 D=13 [3,40]");
}

TEST_CASE("cuda: embedding ids out of range throw, naming the position", "[cuda][errors]") {
  using namespace ponet;
  Tensor<std::int32_t> tok(Shape3{1, 3, 1}, std::vector<std::int32_t>{0, 5, 1});
  auto dtok = to_device(tok);
  Tensor<float, cuda_tag> table(Shape3{1, 4, 2}), out(Shape3{1, 3, 2});
  CHECK_THROWS_WITH(
      embedding_forward(out.view(), dtok.cview(), Mat<float const, cuda_tag>(table.data(), 4, 2),
                        Mat<float const, cuda_tag>()),
      Catch::Contains("token id 5 at [b=0, i=1]"));
}

TEST_CASE("cuda: masked mean pooling matches the CPU", "[cuda][parity][pooling]") {
  DenseInputs in;
  in.f = {rnd({3, 70, 9}, 14), rnd({3, 1, 9}, 15)};
  in.valid = testing::lengths_mask(3, 70, {70, 0, 1});
  check_dense(DenseCase::pooling, in, "[3,70,9], lengths 70 0 1");
}

TEST_CASE("cuda: softmax cross-entropy matches the CPU bit for bit", "[cuda][parity][loss]") {
  DenseInputs in;
  in.f = {rnd({1, 5, 7}, 16, 4)};
  in.labels = {0, 6, 3, 3, 1};
  check_dense(DenseCase::cross_entropy, in, "5 rows, 7 classes");
}

TEST_CASE("cuda: AdamW matches the CPU", "[cuda][parity][adamw]") {
  DenseInputs in;
  int const n = 70000;  // two slices of the norm's partial sums
  in.f = {rnd({1, 1, n}, 17), rnd({1, 1, n}, 18, 0.01)};
  check_dense(DenseCase::adamw, in, "n=70000");
}

TEST_CASE("cuda: attention matches the CPU, forward and backward", "[cuda][parity][attention]") {
  check_dense(DenseCase::attention, attention_inputs(2, 50, 6, 2, {50, 17}, 19), "dh=3");
  check_dense(DenseCase::attention, attention_inputs(2, 130, 64, 2, {130, 1}, 20), "dh=32");
  check_dense(DenseCase::attention, attention_inputs(1, 70, 128, 2, {70}, 21), "dh=64");
  check_dense(DenseCase::attention, attention_inputs(2, 40, 200, 2, {40, 0}, 22), "dh=100");
  check_dense(DenseCase::attention, attention_inputs(1, 1, 8, 1, {1}, 23), "N=1");
}

TEST_CASE("cuda: Fourier mixing (cuFFT) matches FFTW", "[cuda][parity][fourier]") {
  for (Shape3 s : {Shape3{2, 16, 8}, Shape3{1, 37, 13}, Shape3{3, 64, 64}, Shape3{1, 1, 1},
                   Shape3{2, 1, 9}, Shape3{2, 7, 1}}) {  // N or D of 1: 1-D plans
    DenseInputs in;
    in.f = {rnd(s, 24), rnd(s, 25)};
    check_dense(DenseCase::fourier, in, ponet::to_string(s));
  }
}

TEST_CASE("cuda: two runs of the dense operators give the same bits", "[cuda][determinism]") {
  std::vector<std::pair<DenseCase, DenseInputs>> runs;
  runs.emplace_back(DenseCase::gemm, gemm_inputs(300, 64, 128, 2));
  runs.emplace_back(DenseCase::attention, attention_inputs(2, 300, 64, 2, {300, 150}, 26));
  DenseInputs ln;
  ln.f = {rnd({1, 5000, 64}, 27), rnd({1, 1, 64}, 28), rnd({1, 1, 64}, 29), rnd({1, 5000, 64}, 30)};
  runs.emplace_back(DenseCase::layer_norm, ln);
  DenseInputs ad;
  ad.f = {rnd({1, 1, 200000}, 31), rnd({1, 1, 200000}, 32)};
  runs.emplace_back(DenseCase::adamw, ad);
  for (auto const& [c, in] : runs) {
    INFO(name(c));
    DenseResult const a = run_dense<cuda_tag>(c, in), b = run_dense<cuda_tag>(c, in);
    for (std::size_t k = 0; k < a.out.size(); ++k) {
      INFO(a.names[k]);
      CHECK(testing::bit_equal(a.out[k], b.out[k]));
    }
  }
}

}  // namespace parity
