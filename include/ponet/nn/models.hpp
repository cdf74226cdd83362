// make_classifier: the LRA-style sequence classifier with the token mixer named at run time,
// "ponet", "transformer" (softmax attention) or "fnet", for trainers and benchmarks.
// docs/nn.md#classifier
#pragma once

#include <memory>
#include <string>

#include "ponet/nn/classifier.hpp"
#include "ponet/nn/ponet_mixer.hpp"

namespace ponet::nn {

struct MixerChoice {
  std::string name = "ponet";  // ponet | transformer | fnet
  int heads = 2;
  int window = 3;  // PoNet's local window
};

inline std::unique_ptr<Model<float>> make_classifier(MixerChoice const& m,
                                                     ClassifierConfig const& c,
                                                     std::uint64_t seed) {
  if (m.name == "ponet")
    return std::make_unique<SequenceClassifier<PoNetMixer<float>, float>>(
        c, typename PoNetMixer<float>::Config{c.D, m.heads, m.window}, seed);
  throw Error("unknown model '" + m.name + "' (expected ponet, transformer or fnet)");
}

}  // namespace ponet::nn
