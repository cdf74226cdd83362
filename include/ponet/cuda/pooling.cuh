// Masked mean pooling to one row per sequence on the GPU, out [B, 1, D] = masked_mean(x, valid):
// the overloads of cpu/pooling.hpp, running the same reduction and the same backward path the
// masked_mean expression node uses on CUDA (cuda/masked_mean.cuh). docs/nn.md#pooling
#pragma once

#include "ponet/cuda/masked_mean.cuh"

namespace ponet {

// counts [B] (device memory) receives each sequence's number of valid tokens.
template <class T>
void masked_mean_rows_forward(View<T, cuda_tag> out, View<T const, cuda_tag> x,
                              View<std::uint8_t const, cuda_tag> valid, T* counts,
                              Workspace<cuda_tag>& ws) {
  check_per_token("masked_mean_rows", "valid", valid.shape(), x.shape());
  if (out.B != x.B || out.N != 1 || out.D != x.D || !out.contiguous())
    throw Error("masked_mean_rows: out is " + to_string(out.shape()) + " but x is " +
                to_string(x.shape()) + " (out must be a contiguous [B,1,D])");
  struct MeanRows {};
  ws.begin_forward<MeanRows>(Mode::infer, x.shape());
  cuda::Context<T> ctx{ws, Mode::infer, x.shape()};
  eval::MaskedMean<eval::Leaf<T>, T> ev{
      {x.data, x.sb, x.sn}, cuda::mask_eval(valid), out.data, counts, x.D};
  cuda::Build<expr::MaskedMean<expr::Leaf<T, cuda_tag>>>::reduce(ev, x.shape(), ctx);
  ws.end_forward();
}

// dx = valid ? dout[b] / counts[b] : 0, overwritten.
template <class T>
void masked_mean_rows_backward(View<T, cuda_tag> dx, View<T const, cuda_tag> dout,
                               View<std::uint8_t const, cuda_tag> valid, T const* counts,
                               Workspace<cuda_tag>& ws) {
  struct MeanRowsBackward {};
  ws.begin_forward<MeanRowsBackward>(Mode::infer, dx.shape());
  cuda::Context<T> ctx{ws, Mode::infer, dx.shape()};
  eval::MeanGrad<T> path{cuda::mask_eval(valid), dout.data, counts, dx.D};
  cuda::run_sinks(std::make_tuple(eval::LeafSink<T, eval::MeanGrad<T>>{dx.data, dx.sb, dx.sn, false,
                                                                       false, path}),
                  ctx);
  ws.end_forward();
}

}  // namespace ponet
