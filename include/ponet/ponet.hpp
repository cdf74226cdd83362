// ponet: PoNet's token mixing as composable, fused expressions. Include this one header.
// CPU lowering always; the CUDA lowering only in translation units compiled by nvcc.
#pragma once

#include "ponet/core/lowering.hpp"
#include "ponet/core/matrix.hpp"
#include "ponet/core/segments.hpp"
#include "ponet/cpu/assign.hpp"
#include "ponet/cpu/global_attn.hpp"
#include "ponet/cpu/masked_mean.hpp"
#include "ponet/cpu/segment_max.hpp"
#include "ponet/expr/activation.hpp"
#include "ponet/expr/fuse.hpp"
#include "ponet/version.hpp"

#if defined(__CUDACC__) && __has_include("ponet/cuda/ponet.cuh")
#include "ponet/cuda/ponet.cuh"
#endif
