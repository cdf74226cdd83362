// ponet's CUDA backend: everything under ponet/cuda/. ponet/ponet.hpp includes this header when
// nvcc compiles the translation unit (__CUDACC__), so `#include <ponet/ponet.hpp>` in a .cu file
// is enough; host-only builds never see it. Link ponet::cuda (cudart, cuBLAS, cuFFT).
// Compiled in CI, never run there: docs/cuda.md.
#pragma once

#include "ponet/cuda/assign.cuh"
#include "ponet/cuda/common.cuh"
#include "ponet/cuda/memory.cuh"
