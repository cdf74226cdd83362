// A training step (forward, backward, AdamW) of the LRA classifier with each token mixer, at the
// LRA Text setting of PONET.md (D=64, 2 heads, FFN 128, 2 layers, byte vocabulary, full-length
// sequences), N from 512 to 16384, batch 32; and a D=768 set (12 heads, FFN 3072, batch 8).
// Counters: steps_per_s, tokens_per_s, and peak_rss_mib, this process's peak resident memory:
// run one case per process (benchmarks/run_train_table.sh does) so that it is the case's own.
#include <sys/resource.h>

#include <memory>

#include <ponet/nn/models.hpp>
#include "bench_common.hpp"

using namespace ponet;

namespace {

void BM_train_step(benchmark::State& state, std::string model) {
  int const B = int(state.range(0)), N = int(state.range(1)), D = int(state.range(2));
  nn::ClassifierConfig c;
  c.vocab = 256;  // LRA Text: bytes
  c.max_len = N;
  c.D = D;
  c.ffn = D == 64 ? 128 : 4 * D;
  c.layers = 2;
  c.head_hidden = c.ffn;
  c.classes = 2;
  c.dropout = 0.1;
  c.segment_num = 2048;  // the Text setting's effective segment count (PONET.md, lra_config)
  nn::MixerChoice m{model, D == 64 ? 2 : D / 64, 3};
  auto net = nn::make_classifier(m, c, 1);
  nn::AdamWConfig oc;
  oc.total = 1 << 30;
  nn::AdamW<float> opt(oc, net->params().size());
  Tensor<std::int32_t> tokens(Shape3{B, N, 1});
  Tensor<std::uint8_t> valid(Shape3{B, N, 1});
  nn::SplitMix64 rng{7};
  for (auto& t : tokens) t = std::int32_t(rng.next() % 256);
  valid.fill(1);
  std::vector<int> labels(B);
  for (auto& y : labels) y = int(rng.next() % 2);
  std::uint64_t step = 0;
  auto train_step = [&] {
    net->forward(tokens.cview(), valid.cview(), labels, true, ++step);
    net->params().zero_grad();
    net->backward();
    opt.step(net->params().values().data(), net->params().grads().data(), net->params().size());
  };
  double const total = bench::timed_steps(state, train_step);
  rusage u{};
  getrusage(RUSAGE_SELF, &u);
  state.counters["steps_per_s"] = double(state.iterations()) / total;
  state.counters["tokens_per_s"] = double(state.iterations()) * B * N / total;
  state.counters["peak_rss_mib"] = double(u.ru_maxrss) / 1024.0;
  state.counters["params"] = double(net->params().size());
}

int const registered = [] {
  for (char const* model : {"ponet", "transformer", "fnet"}) {
    for (int N : {512, 1024, 2048, 4096, 8192, 16384})
      benchmark::RegisterBenchmark((std::string("train_step/") + model).c_str(), BM_train_step,
                                   std::string(model))
          ->Args({32, N, 64})
          ->ArgNames({"B", "N", "D"})
          ->UseManualTime()
          ->Unit(benchmark::kMillisecond)
          ->MinTime(2.0);
    for (int N : {512, 1024, 2048, 4096})
      benchmark::RegisterBenchmark((std::string("train_step/") + model).c_str(), BM_train_step,
                                   std::string(model))
          ->Args({8, N, 768})
          ->ArgNames({"B", "N", "D"})
          ->UseManualTime()
          ->Unit(benchmark::kMillisecond)
          ->MinTime(2.0);
  }
  return 0;
}();

}  // namespace
