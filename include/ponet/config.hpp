// Compiler switches shared by every ponet header.
// PONET_HD marks functions that one header must offer to both host and CUDA device code.
#pragma once

#if defined(__CUDACC__)
#define PONET_HD __host__ __device__ __forceinline__
#else
#define PONET_HD inline
#endif

#if defined(_OPENMP)
#define PONET_HAS_OPENMP 1
#else
#define PONET_HAS_OPENMP 0
#endif
