// Compiler switches shared by every ponet header.
// PONET_HD marks functions that one header must offer to both host and CUDA device code.
#pragma once

#if defined(__CUDACC__)
#define PONET_HD __host__ __device__ __forceinline__
#else
#define PONET_HD inline
#endif

// For small helpers in hot loops that GCC would otherwise call out of line.
#if defined(__GNUC__)
#define PONET_INLINE __attribute__((always_inline)) inline
#else
#define PONET_INLINE inline
#endif

#if defined(_OPENMP)
#define PONET_HAS_OPENMP 1
#else
#define PONET_HAS_OPENMP 0
#endif
