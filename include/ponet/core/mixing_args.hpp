// MixingArgs: everything PoNet's token mixing reads (PONET.md steps 1-4), in one struct so that
// the fused expression (expr::mixing) and the unfused reference path take the same arguments.
#pragma once

#include <cstdint>

#include "ponet/core/segments.hpp"

namespace ponet {

template <class T, class Dev = cpu_tag>
struct MixingArgs {
  View<T const, Dev> q, k, o, sg, lc;   // [B, N, D] projections
  View<std::uint8_t const, Dev> valid;  // [B, N, 1] real tokens
  View<std::uint8_t const, Dev> pool;   // [B, N, 1] what the poolings see (valid, or valid
                                        // and not a delimiter under clsgsepg)
  SegmentsView<Dev> segments;           // ids [B, N, 1], S
  int heads = 1;
  int window = 3;
};

}  // namespace ponet
