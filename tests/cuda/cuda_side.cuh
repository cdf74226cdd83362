// The GPU side of the parity tests: the CUDA backend, the runners of cases.hpp and what the
// test_cuda_*.cu files share (tolerances, inputs, comparisons). Compiled by nvcc only.
#pragma once

#include <catch2/catch.hpp>

#include <ponet/ponet.hpp>  // includes ponet/cuda/ponet.cuh under nvcc

#include <cstring>
#include <random>
#include <string>

#include "../testing.hpp"
#include "cases.hpp"

namespace parity {

template <>
struct OptimizerFor<cuda_tag> {
  using type = ponet::cuda::AdamW<float>;
};

// Float, norm-wise (max |gpu - cpu| / max |cpu|, testing::max_rel_err): the devices sum in
// different orders (CPU token blocks and SIMD lanes; GPU chunks of 32 tokens, warp butterflies,
// cuBLAS and cuFFT's own orders) and their erf/exp/exp2 differ by an ulp or two. 1e-5 is the bound
// the issue sets for every operator.
inline constexpr double kOpTol = 1e-5;

// Whole-model parameter gradients: float rounding grows through two blocks, LayerNorm's
// statistics and the softmaxes, as in the PyTorch parity of tests/nn/test_nn_parity.cpp, whose
// float gradient bound this is. Loss, logits and the parameters after a step keep kOpTol.
inline constexpr double kModelGradTol = 1e-4;

// One result of each device: the same shape; bit for bit when `exact`; else within `tol`.
inline void compare(std::string const& what, Tensor<float> const& gpu, Tensor<float> const& cpu,
                    bool exact, double tol = kOpTol) {
  INFO(what << ": gpu " << ponet::to_string(gpu.shape()) << ", cpu "
            << ponet::to_string(cpu.shape()));
  REQUIRE(gpu.shape() == cpu.shape());
  double const err = testing::max_rel_err(gpu, cpu);
  INFO("norm-wise relative error " << err);
  if (exact) CHECK(testing::bit_equal(gpu, cpu));
  CHECK(err <= tol);
}

inline bool same_bits(double a, double b) { return std::memcmp(&a, &b, sizeof a) == 0; }

}  // namespace parity
