// Threads for the CPU lowering. Work is cut into token blocks whose size depends only on the
// shape, never on the thread count: reductions sum each block in token order and then the blocks
// in block order, so results are bit-identical on any number of threads.
// docs/decisions.md#determinism
#pragma once

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <vector>

#include "ponet/config.hpp"
#include "ponet/core/shape.hpp"

#if PONET_HAS_OPENMP
#include <omp.h>
#endif

namespace ponet::cpu {

inline int max_threads() {
#if PONET_HAS_OPENMP
  return omp_get_max_threads();
#else
  return 1;
#endif
}

inline int thread_id() {
#if PONET_HAS_OPENMP
  return omp_get_thread_num();
#else
  return 0;
#endif
}

// Sets the threads later ponet calls use (OpenMP's setting). No effect without OpenMP.
inline void set_num_threads(int n) {
#if PONET_HAS_OPENMP
  omp_set_num_threads(n < 1 ? 1 : n);
#else
  (void)n;
#endif
}

// A buffer of at least n elements of T that persists per calling thread and per Tag, for the
// small partial sums of library calls: allocated once, so hot loops never touch fresh pages.
template <class Tag, class T>
T* reusable(std::size_t n) {
  thread_local std::vector<T> buffer;
  if (buffer.size() < n) buffer.resize(n);
  return buffer.data();
}

struct Blocks {
  int B = 0, N = 0;
  int tokens = 1;     // tokens per block
  int per_batch = 0;  // blocks per sequence
  int count() const { return B * per_batch; }
  int begin(int blk) const { return blk * tokens; }
  int end(int blk) const { return std::min(N, (blk + 1) * tokens); }
};

// About 32K elements per block (fewer switches between a block's phases measured 5-10% faster
// than 16K at D=768), halved while a small problem would have fewer than 16 blocks, so that
// short sequences still split across cores. A function of the shape alone.
inline Blocks token_blocks(Shape3 s) {
  Blocks bl;
  bl.B = s.B;
  bl.N = s.N;
  bl.tokens = std::clamp(32768 / std::max(1, s.D), 4, 1024);
  while (bl.tokens > 4 && std::int64_t(s.B) * ((s.N + bl.tokens - 1) / bl.tokens) < 16)
    bl.tokens /= 2;
  bl.per_batch = (s.N + bl.tokens - 1) / bl.tokens;
  return bl;
}

// f(b, blk, i0, i1, thread) for every block, in parallel.
template <class F>
void for_each_block(Blocks const& bl, F&& f) {
  int const n = bl.count();
#if PONET_HAS_OPENMP
#pragma omp parallel for schedule(static) if (n > 1)
#endif
  for (int item = 0; item < n; ++item) {
    int b = item / bl.per_batch, blk = item % bl.per_batch;
    f(b, blk, bl.begin(blk), bl.end(blk), thread_id());
  }
}

// f(k) for k in [0, n), in parallel.
template <class F>
void parallel_for(int n, F&& f) {
#if PONET_HAS_OPENMP
#pragma omp parallel for schedule(static) if (n > 1)
#endif
  for (int k = 0; k < n; ++k) f(k);
}

}  // namespace ponet::cpu
