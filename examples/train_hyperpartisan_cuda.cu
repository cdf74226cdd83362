// ponet-train-hyperpartisan-cuda: ponet-train-hyperpartisan (train_hyperpartisan.cpp, the same
// source) compiled by nvcc with PONET_TRAIN_CUDA, so it trains on the GPU (train_common.hpp).
// Checkpoints are not supported there yet. Compiled in CI, never run there: docs/cuda.md.
#define PONET_TRAIN_CUDA 1
#include "train_hyperpartisan.cpp"
