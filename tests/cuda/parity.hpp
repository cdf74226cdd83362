// CPU <-> GPU parity tests: what both sides exchange. Host tensors only, so this header compiles
// with g++ (cpu_side.cpp, which runs the CPU lowering) and with nvcc (the test_cuda_*.cu files,
// which run the CUDA lowering). A .cu file cannot instantiate the CPU lowering (xsimd batches do
// not pass nvcc's device pass), hence the split: cases.hpp holds one device-generic runner per
// kind of check, instantiated for cpu_tag in cpu_side.cpp and for cuda_tag in the .cu files.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include <ponet/core/tensor.hpp>

namespace parity {

using ponet::Shape3;
using ponet::Tensor;

// ---- expressions (test_cuda_ops.cu) ---------------------------------------------------------

enum class ExprCase : int {
  add,
  sub,
  mul,
  max,
  masked_fill,
  gelu,
  relu,
  tanh,
  dropout,
  window_max,
  masked_mean,
  global_attn,
  segment_max,
  mixing,
  square_plus,        // x0 * x0 + x1: a leaf read twice accumulates
  segment_of_window,  // segment_max(window_max(x0)): a reduction over a stencil
  window_of_mean,     // window_max(x0 + masked_mean(x1)): a stencil over a reduction
  count
};
char const* name(ExprCase c);
int inputs(ExprCase c);   // how many of x[0..4] the expression reads
bool is_max(ExprCase c);  // its forward only selects values: bit-exact across devices

struct ExprInputs {
  std::vector<Tensor<float>> x;  // 5 of [B, N, D]
  Tensor<float> dout;            // [B, N, D]
  Tensor<std::uint8_t> valid;    // [B, N, 1]
  Tensor<std::uint8_t> pool;     // [B, N, 1]
  Tensor<std::int32_t> ids;      // [B, N, 1] contiguous segment ids
  int S = 1;
  int heads = 1;
  int window = 3;
};

struct ExprResult {
  Tensor<float> out;                 // forward
  std::vector<Tensor<float>> grads;  // d out / d x[k], k < inputs(case)
};

ExprResult cpu_expr(ExprCase c, ExprInputs const& in);

// ---- dense ops and layers (test_cuda_layers.cu) ---------------------------------------------

enum class DenseCase : int {
  gemm,           // f: A [1,m,k], B [1,k,n], C [1,m,n], plus transposed copies: 4 products
  bias,           // f: C [1,r,c], v [1,1,c]: add_row, add_column_sums
  layer_norm,     // f: x [1,r,D], gamma, beta [1,1,D], dy [1,r,D]
  embedding,      // f: table [1,V,D], positions [1,P,D], dout [B,N,D]; tokens
  pooling,        // f: x [B,N,D], dout [B,1,D]; valid
  cross_entropy,  // f: logits [1,B,C]; labels
  adamw,          // f: params [1,1,n], grads [1,1,n]
  attention,      // f: q, k, v, dout [B,N,D]; valid; heads
  fourier,        // f: x, dy [B,N,D]
  count
};
char const* name(DenseCase c);

struct DenseInputs {
  std::vector<Tensor<float>> f;
  Tensor<std::int32_t> tokens;  // [B, N, 1]
  Tensor<std::uint8_t> valid;   // [B, N, 1]
  std::vector<int> labels;
  int heads = 1;
};

// Named outputs; `exact` marks the ones that must agree bit for bit (a copy, a selection, or the
// same host arithmetic on the same inputs).
struct DenseResult {
  std::vector<std::string> names;
  std::vector<Tensor<float>> out;
  std::vector<bool> exact;
};

DenseResult cpu_dense(DenseCase c, DenseInputs const& in);

// ---- whole models (test_cuda_models.cu) -----------------------------------------------------

enum class ModelKind : int { ponet, transformer, fnet };
char const* name(ModelKind m);

struct ModelInputs {
  Tensor<std::int32_t> tokens;  // [B, N, 1]
  Tensor<std::uint8_t> valid;   // [B, N, 1]
  std::vector<int> labels;
};

struct ModelResult {
  double loss = 0;  // the training forward's
  int correct = 0;
  Tensor<float> logits;   // [B, 1, classes]
  Tensor<float> grads;    // the whole gradient buffer
  Tensor<float> params;   // after one AdamW step
  double grad_norm = 0;   // AdamW's, before clipping
  double loss_after = 0;  // an inference forward after the step
};

ModelResult cpu_model(ModelKind m, ModelInputs const& in);

// Filled in by test_cuda_main.cpp's runner: the device count, 0 with a reason when there is
// none (defined in test_cuda_ops.cu, compiled by nvcc).
int cuda_devices(std::string& reason);

}  // namespace parity
