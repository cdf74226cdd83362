// ponet-train-listops-cuda: ponet-train-listops (train_lra_listops.cpp, the same source) compiled
// by nvcc with PONET_TRAIN_CUDA, so the model, its activations and the optimizer live on the GPU
// (train_common.hpp chooses the device at compile time). Checkpoints are not supported there yet.
// Compiled in CI, never run there (no GPU): docs/cuda.md.
#define PONET_TRAIN_CUDA 1
#include "train_lra_listops.cpp"
