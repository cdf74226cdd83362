// The CPU side of the CPU <-> GPU parity tests, compiled by g++: the runners of cases.hpp
// instantiated for cpu_tag, so they go through the CPU lowering (xsimd, OpenMP), and the names
// and properties of the cases.
#include <ponet/ponet.hpp>

#include <ponet/cpu/attention.hpp>
#include <ponet/cpu/cross_entropy.hpp>
#include <ponet/cpu/embedding.hpp>
#include <ponet/cpu/fourier.hpp>
#include <ponet/cpu/layer_norm.hpp>
#include <ponet/cpu/linalg.hpp>
#include <ponet/cpu/pooling.hpp>
#include <ponet/nn/adamw.hpp>

#include "cases.hpp"

namespace parity {

template <>
struct OptimizerFor<cpu_tag> {
  using type = nn::AdamW<float>;
};

char const* name(ExprCase c) {
  switch (c) {
    case ExprCase::add:
      return "a + b";
    case ExprCase::sub:
      return "a - b";
    case ExprCase::mul:
      return "a * b";
    case ExprCase::max:
      return "max(a, b)";
    case ExprCase::masked_fill:
      return "masked_fill";
    case ExprCase::gelu:
      return "gelu";
    case ExprCase::relu:
      return "relu";
    case ExprCase::tanh:
      return "tanh";
    case ExprCase::dropout:
      return "dropout";
    case ExprCase::window_max:
      return "window_max";
    case ExprCase::masked_mean:
      return "masked_mean";
    case ExprCase::global_attn:
      return "global_attn";
    case ExprCase::segment_max:
      return "segment_max";
    case ExprCase::mixing:
      return "mixing";
    case ExprCase::square_plus:
      return "x * x + y";
    case ExprCase::segment_of_window:
      return "segment_max(window_max(x))";
    case ExprCase::window_of_mean:
      return "window_max(x + masked_mean(y))";
    case ExprCase::count:
      break;
  }
  return "?";
}

int inputs(ExprCase c) {
  switch (c) {
    case ExprCase::add:
    case ExprCase::sub:
    case ExprCase::mul:
    case ExprCase::max:
    case ExprCase::global_attn:
    case ExprCase::square_plus:
    case ExprCase::window_of_mean:
      return 2;
    case ExprCase::mixing:
      return 5;
    default:
      return 1;
  }
}

bool is_max(ExprCase c) {
  return c == ExprCase::max || c == ExprCase::window_max || c == ExprCase::segment_max ||
         c == ExprCase::segment_of_window || c == ExprCase::masked_fill ||
         c == ExprCase::relu;  // relu selects x or 0
}

char const* name(DenseCase c) {
  switch (c) {
    case DenseCase::gemm:
      return "gemm";
    case DenseCase::bias:
      return "add_row / add_column_sums";
    case DenseCase::layer_norm:
      return "layer_norm";
    case DenseCase::embedding:
      return "embedding";
    case DenseCase::pooling:
      return "masked_mean_rows";
    case DenseCase::cross_entropy:
      return "softmax_cross_entropy";
    case DenseCase::adamw:
      return "AdamW";
    case DenseCase::attention:
      return "attention";
    case DenseCase::fourier:
      return "fourier_mix";
    case DenseCase::count:
      break;
  }
  return "?";
}

char const* name(ModelKind m) {
  switch (m) {
    case ModelKind::ponet:
      return "PoNet";
    case ModelKind::transformer:
      return "Transformer";
    case ModelKind::fnet:
      return "FNet";
  }
  return "?";
}

ExprResult cpu_expr(ExprCase c, ExprInputs const& in) { return run_expr<cpu_tag>(c, in); }
DenseResult cpu_dense(DenseCase c, DenseInputs const& in) { return run_dense<cpu_tag>(c, in); }
ModelResult cpu_model(ModelKind m, ModelInputs const& in) { return run_model<cpu_tag>(m, in); }

}  // namespace parity
