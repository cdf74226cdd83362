// What every layer of a batch's forward and backward shares: the masks and segments of the
// batch, whether this is a training step, and the step's dropout seed; plus Scratch, tensors the
// backward passes borrow one layer at a time. docs/nn.md#layers
#pragma once

#include <cstdint>
#include <deque>
#include <string>

#include "ponet/core/segments.hpp"

namespace ponet::nn {

template <class Dev = cpu_tag>
struct Batch {
  View<std::uint8_t const, Dev> valid;  // [B, N, 1] real tokens
  View<std::uint8_t const, Dev> pool;   // [B, N, 1] what PoNet's poolings see
  SegmentsView<Dev> segments;           // PoNet's segments
  bool train = false;                   // dropout on
  std::uint64_t seed = 0;               // this step's dropout seed
};

// Throws unless `heads` splits D into equal heads.
inline void check_heads(char const* layer, int D, int heads) {
  if (heads < 1 || D % heads != 0)
    throw Error(std::string(layer) + ": heads=" + std::to_string(heads) +
                " does not divide D=" + std::to_string(D));
}

// A layer's dropout seed for one call site: distinct per layer, site and step.
inline std::uint64_t dropout_seed(std::uint64_t step_seed, int layer, int site) {
  std::uint64_t h = step_seed ^ (std::uint64_t(layer + 1) * 0x9E3779B97F4A7C15ull) ^
                    (std::uint64_t(site + 1) * 0xC2B2AE3D27D4EB4Full);
  h ^= h >> 31;
  return h * 0x94D049BB133111EBull;
}

// Backward temporaries, shared by all layers (they run one after another). Slots only grow.
template <class T, class Dev = cpu_tag>
class Scratch {
 public:
  Tensor<T, Dev>& get(int slot, Shape3 s) {
    if (slot >= int(slots_.size())) slots_.resize(slot + 1);
    slots_[slot].resize(s);
    return slots_[slot];
  }

 private:
  std::deque<Tensor<T, Dev>> slots_;  // growing keeps references to earlier slots valid
};

// Slots: the mixers use 0-3, the blocks 4-9, models 10 and up.
enum ScratchSlot : int {
  mixer_a = 0,
  mixer_b = 1,
  mixer_c = 2,
  mixer_d = 3,
  block_a = 4,
  block_b = 5,
  block_c = 6,
  block_d = 7,
  model_a = 10,
  model_b = 11,
};

}  // namespace ponet::nn
