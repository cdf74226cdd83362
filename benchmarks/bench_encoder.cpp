// Inference throughput of the pretrained-style PoNet encoder (nn::PoNetEncoder, ponet/nn/bert.hpp)
// at ponet-base size: D 768, 12 heads, 12 layers, FFN 3072, vocab 30522, random weights, float.
// N in {512, 2048, 8192}, B in {1, 8}; every row is [CLS] then sentences of 20 to 40 random
// tokens each closed by [SEP] (token types 0 up to the first [SEP], 1 after), no padding. The
// counter tokens_per_s is B * N over the manual (wall-clock) time of one forward.
// ponet-base-uncased has 512 positions; this model has max_position_embeddings = 8192 so that
// N = 8192 runs (the table's size does not change the work). Layers keep their activations, so
// the encoder runs at most 8192 tokens per pass (set_max_tokens_per_pass): about 6 GB of
// activations at this size, plus 0.5 GB of weights.
// The same model in PyTorch: bench_encoder_torch.py. Run one case:
//   ponet-bench-encoder --benchmark_filter='encoder/B:1/N:512/'
#include <benchmark/benchmark.h>

#include <chrono>
#include <cstdint>
#include <memory>
#include <random>

#include <ponet/nn/bert.hpp>

namespace {

using namespace ponet;

nn::PoNetEncoder<float>& model() {
  static std::unique_ptr<nn::PoNetEncoder<float>> m = [] {
    io::PoNetConfig c;  // ponet-base-uncased (PONET.md), but 8192 positions
    c.max_position_embeddings = 8192;
    auto e = std::make_unique<nn::PoNetEncoder<float>>(c, /*seed=*/1);
    e->set_max_tokens_per_pass(8192);
    return e;
  }();
  return *m;
}

// Sentence-structured ids and token types, [B, N, 1].
void make_inputs(int B, int N, Tensor<std::int64_t>& ids, Tensor<std::int64_t>& types) {
  ids = Tensor<std::int64_t>(Shape3{B, N, 1});
  types = Tensor<std::int64_t>(Shape3{B, N, 1});
  std::mt19937 rng(std::uint32_t(B * 131 + N));
  std::uniform_int_distribution<int> word(1000, 29999), len(20, 40);
  for (int b = 0; b < B; ++b) {
    ids(b, 0, 0) = 101;
    int left = len(rng), type = 0;
    for (int i = 1; i < N; ++i) {
      types(b, i, 0) = type;
      if (--left == 0 || i == N - 1) {
        ids(b, i, 0) = 102;
        left = len(rng);
        type = 1;
      } else {
        ids(b, i, 0) = word(rng);
      }
    }
  }
}

void BM_encoder(benchmark::State& state) {
  int const B = int(state.range(0)), N = int(state.range(1));
  auto& enc = model();
  Tensor<std::int64_t> ids, types;
  make_inputs(B, N, ids, types);
  enc.forward(ids.cview(), View<std::int64_t const>(), types.cview());  // warm-up: buffers grow
  double total = 0;
  for (auto _ : state) {
    auto const t0 = std::chrono::steady_clock::now();
    auto const& out = enc.forward(ids.cview(), View<std::int64_t const>(), types.cview());
    benchmark::DoNotOptimize(out.pooler_output.data());
    double const s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    state.SetIterationTime(s);
    total += s;
  }
  double const tokens = double(B) * N * double(state.iterations());
  state.SetItemsProcessed(std::int64_t(tokens));
  state.counters["tokens_per_s"] = tokens / total;
}

BENCHMARK(BM_encoder)
    ->Name("encoder")
    ->ArgNames({"B", "N"})
    ->ArgsProduct({{1, 8}, {512, 2048, 8192}})
    ->UseManualTime()
    ->Unit(benchmark::kMillisecond);

}  // namespace
