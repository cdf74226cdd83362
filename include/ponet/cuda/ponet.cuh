// ponet's CUDA backend: everything under ponet/cuda/. ponet/ponet.hpp includes this header when
// nvcc compiles the translation unit (__CUDACC__), so `#include <ponet/ponet.hpp>` in a .cu file
// is enough; host-only builds never see it. Link ponet::cuda (cudart, cuBLAS, cuFFT).
// A .cu file may use cuda_tag tensors and layers freely, but must not instantiate the CPU
// lowering (xsimd batches cannot pass through nvcc's device pass): keep CPU work in .cpp files.
// Compiled in CI, never run there: docs/cuda.md.
#pragma once

#include "ponet/cuda/adamw.cuh"
#include "ponet/cuda/assign.cuh"
#include "ponet/cuda/attention.cuh"
#include "ponet/cuda/common.cuh"
#include "ponet/cuda/cross_entropy.cuh"
#include "ponet/cuda/embedding.cuh"
#include "ponet/cuda/fourier.cuh"
#include "ponet/cuda/layer_norm.cuh"
#include "ponet/cuda/linalg.cuh"
#include "ponet/cuda/memory.cuh"
#include "ponet/cuda/pooling.cuh"
