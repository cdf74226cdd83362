// Masked mean pooling to one row per sequence on the CPU: eval/pooling.hpp over
// cpu/masked_mean.hpp's reduction. docs/nn.md#pooling
#pragma once

#include "ponet/cpu/masked_mean.hpp"
#include "ponet/eval/pooling.hpp"
