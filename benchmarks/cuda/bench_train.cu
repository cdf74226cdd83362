// A training step (forward, backward, AdamW) of the LRA classifier on the GPU with each token
// mixer, at the LRA Text setting of PONET.md (D = 64, 2 heads, FFN 128, 2 layers, byte
// vocabulary, full-length sequences, batch 32), N from 512 to 16384: the paper's GPU speed table
// (steps/s and peak memory). The CPU twin is benchmarks/bench_train.cpp (same model, same
// segment_num 2048). Counters: steps_per_s, tokens_per_s; peak_mib, the most device memory
// ponet's own allocations held during the case (parameters, activations, workspaces; exact);
// device_used_mib, the whole device's use after the case (cudaMemGetInfo: adds the CUDA context,
// cuBLAS and cuFFT workspaces, other processes).
#include <memory>

#include <ponet/nn/attention_mixer.hpp>
#include <ponet/nn/classifier.hpp>
#include <ponet/nn/fnet_mixer.hpp>
#include <ponet/nn/ponet_mixer.hpp>

#include "bench_cuda_common.cuh"

using namespace ponet;

namespace {

nn::ClassifierConfig text_config(int N) {
  nn::ClassifierConfig c;
  c.vocab = 256;  // LRA Text: bytes
  c.max_len = N;
  c.D = 64;
  c.ffn = 128;
  c.layers = 2;
  c.head_hidden = 128;
  c.classes = 2;
  c.dropout = 0.1;
  c.segment_num = 2048;  // as benchmarks/bench_train.cpp
  return c;
}

template <class Mixer>
void BM_cuda_train_step(benchmark::State& state, typename Mixer::Config mc) {
  int const B = int(state.range(0)), N = int(state.range(1));
  cuda::reset_peak();
  auto net =
      std::make_unique<nn::SequenceClassifier<Mixer, float, cuda_tag>>(text_config(N), mc, 1);
  nn::AdamWConfig oc;
  oc.total = 1 << 30;
  cuda::AdamW<float> opt(oc, net->params().size());
  Tensor<std::int32_t> tokens(Shape3{B, N, 1});
  Tensor<std::uint8_t> valid(Shape3{B, N, 1});
  nn::SplitMix64 rng{7};
  for (auto& t : tokens) t = std::int32_t(rng.next() % 256);
  valid.fill(1);
  auto dtokens = to_device(tokens);
  auto dvalid = to_device(valid);
  std::vector<int> labels(B);
  for (auto& y : labels) y = int(rng.next() % 2);
  std::uint64_t step = 0;
  auto train_step = [&] {
    net->forward(dtokens.cview(), dvalid.cview(), labels, true, ++step);
    net->params().zero_grad();
    net->backward();
    opt.step(net->params().values().data(), net->params().grads().data(), net->params().size());
  };
  bench_cuda::EventTimer timer;
  timer.seconds(train_step);  // warm-up: every buffer reaches its final size
  double total = 0;
  for (auto _ : state) {
    double const s = timer.seconds(train_step);
    state.SetIterationTime(s);
    total += s;
  }
  state.counters["steps_per_s"] = double(state.iterations()) / total;
  state.counters["tokens_per_s"] = double(state.iterations()) * B * N / total;
  state.counters["peak_mib"] = bench_cuda::mib(cuda::memory_stats().peak);
  state.counters["device_used_mib"] = bench_cuda::device_used_mib();
  state.counters["params"] = double(net->params().size());
}

template <class Mixer>
void register_model(char const* name, typename Mixer::Config mc) {
  for (int N : {512, 1024, 2048, 4096, 8192, 16384})
    benchmark::RegisterBenchmark((std::string("cuda_train_step/") + name).c_str(),
                                 [mc](benchmark::State& s) { BM_cuda_train_step<Mixer>(s, mc); })
        ->Args({32, N})
        ->ArgNames({"B", "N"})
        ->UseManualTime()
        ->Unit(benchmark::kMillisecond)
        ->Iterations(N <= 2048 ? 10 : 3);
}

// The Transformer last: its long cases take the longest (O(N^2) work), and a run cut short by a
// time limit keeps the others.
int const registered = [] {
  register_model<nn::PoNetMixer<float, cuda_tag>>("ponet", {64, 2, 3});
  register_model<nn::FNetMixer<float, cuda_tag>>("fnet", {64, cpu::FourierPlanning::estimate});
  register_model<nn::AttentionMixer<float, cuda_tag>>("transformer", {64, 2});
  return 0;
}();

}  // namespace
