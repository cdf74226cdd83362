// Token chunks for the CUDA reductions, the twin of cpu/parallel.hpp's token blocks: a sequence's
// tokens are cut into chunks of `chunk_tokens`, a length fixed at compile time, so the partition
// depends on the shape only. A reduction kernel gives one thread to each (b, chunk, c): it sums
// (or maxes) its chunk's tokens in token order into a partial row; a second kernel combines the
// partial rows of each (b, c) in chunk order. No atomics, so the same bits on every run and GPU
// of the same architecture. docs/cuda.md#determinism
#pragma once

#include "ponet/core/shape.hpp"
#include "ponet/cuda/common.cuh"

namespace ponet::cuda {

inline constexpr int chunk_tokens = 32;  // one warp's worth: GA gives each chunk token a lane

struct Chunks {
  int B = 0, N = 0, D = 0;
  int per_batch = 0;  // chunks per sequence

  PONET_HD std::int64_t count() const { return std::int64_t(B) * per_batch; }  // (b, chunk)
  PONET_HD std::int64_t threads() const { return count() * D; }                // (b, chunk, c)
  PONET_HD int begin(int k) const { return k * chunk_tokens; }
  PONET_HD int end(int k) const { return N < (k + 1) * chunk_tokens ? N : (k + 1) * chunk_tokens; }
};

inline Chunks token_chunks(Shape3 s) { return {s.B, s.N, s.D, int(ceil_div(s.N, chunk_tokens))}; }

// The (b, chunk, c) of flat thread index idx of a Chunks space, c fastest.
struct ChunkCoord {
  int b, k, c;
  std::int64_t item;  // b * per_batch + k: the partial row this thread writes
};
PONET_HD ChunkCoord chunk_coord(Chunks const& ch, std::int64_t idx) {
  std::int64_t const item = idx / ch.D;
  return {int(item / ch.per_batch), int(item % ch.per_batch), int(idx % ch.D), item};
}

}  // namespace ponet::cuda
