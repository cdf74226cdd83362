// Masked mean pooling to one row per sequence on the GPU: eval/pooling.hpp over
// cuda/masked_mean.cuh's kernels. docs/nn.md#pooling
#pragma once

#include "ponet/cuda/masked_mean.cuh"
#include "ponet/eval/pooling.hpp"
