// make_classifier: the LRA-style sequence classifier with the token mixer named at run time,
// "ponet", "transformer" (softmax attention) or "fnet", for trainers and benchmarks.
// Includes the FNet mixer: link ponet::fftw.
// docs/nn.md#classifier
#pragma once

#include <memory>
#include <string>

#include "ponet/nn/adamw.hpp"
#include "ponet/nn/attention_mixer.hpp"
#include "ponet/nn/checkpoint.hpp"
#include "ponet/nn/classifier.hpp"
#include "ponet/nn/fnet_mixer.hpp"
#include "ponet/nn/ponet_mixer.hpp"

namespace ponet::nn {

struct MixerChoice {
  std::string name = "ponet";  // ponet | transformer | fnet
  int heads = 2;
  int window = 3;             // PoNet's local window
  bool reproducible = false;  // FNet: FFT plans that are the same in every process
};

// Dev: cpu_tag, or cuda_tag in a .cu file compiled by nvcc (docs/cuda.md).
template <class Dev = cpu_tag>
std::unique_ptr<Model<float, Dev>> make_classifier(MixerChoice const& m, ClassifierConfig const& c,
                                                   std::uint64_t seed) {
  if (m.name == "ponet")
    return std::make_unique<SequenceClassifier<PoNetMixer<float, Dev>, float, Dev>>(
        c, typename PoNetMixer<float, Dev>::Config{c.D, m.heads, m.window}, seed);
  if (m.name == "transformer")
    return std::make_unique<SequenceClassifier<AttentionMixer<float, Dev>, float, Dev>>(
        c, typename AttentionMixer<float, Dev>::Config{c.D, m.heads}, seed);
  if (m.name == "fnet")
    return std::make_unique<SequenceClassifier<FNetMixer<float, Dev>, float, Dev>>(
        c,
        typename FNetMixer<float, Dev>::Config{
            c.D, m.reproducible ? cpu::FourierPlanning::estimate : cpu::FourierPlanning::measure},
        seed);
  throw Error("unknown model '" + m.name + "' (expected ponet, transformer or fnet)");
}

}  // namespace ponet::nn
