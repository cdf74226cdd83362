// Masked mean pooling to one row per sequence, out [B, 1, D] = masked_mean(x, valid), on any
// device: the same reduction and the same backward path the masked_mean expression node uses
// (run_reduction and run_sinks of cpu/masked_mean.hpp or cuda/masked_mean.cuh, found through the
// device's lowering context). Include it through cpu/pooling.hpp or cuda/pooling.cuh.
// docs/nn.md#pooling
#pragma once

#include <tuple>

#include "ponet/core/shape.hpp"
#include "ponet/eval/lower.hpp"

namespace ponet {

// counts [B] (memory of the device) receives each sequence's number of valid tokens; the
// backward needs it.
template <class T, class Dev>
void masked_mean_rows_forward(View<T, Dev> out, View<T const, Dev> x,
                              View<std::uint8_t const, Dev> valid, T* counts, Workspace<Dev>& ws) {
  check_per_token("masked_mean_rows", "valid", valid.shape(), x.shape());
  if (out.B != x.B || out.N != 1 || out.D != x.D || !out.contiguous())
    throw Error("masked_mean_rows: out is " + to_string(out.shape()) + " but x is " +
                to_string(x.shape()) + " (out must be a contiguous [B,1,D])");
  struct MeanRows {};
  ws.template begin_forward<MeanRows>(Mode::infer, x.shape());
  lower::context_t<T, Dev> ctx{ws, Mode::infer, x.shape()};
  eval::MaskedMean<eval::Leaf<T>, T> ev{
      {x.data, x.sb, x.sn}, lower::mask_eval(valid), out.data, counts, x.D};
  run_reduction(ev, x.shape(), ctx);
  ws.end_forward();
}

// dx = valid ? dout[b] / counts[b] : 0, overwritten.
template <class T, class Dev>
void masked_mean_rows_backward(View<T, Dev> dx, View<T const, Dev> dout,
                               View<std::uint8_t const, Dev> valid, T const* counts,
                               Workspace<Dev>& ws) {
  struct MeanRowsBackward {};
  ws.template begin_forward<MeanRowsBackward>(Mode::infer, dx.shape());
  lower::context_t<T, Dev> ctx{ws, Mode::infer, dx.shape()};
  eval::MeanGrad<T> path{lower::mask_eval(valid), dout.data, counts, dx.D};
  bool const stream = streams_gradient(ctx, dx);
  run_sinks(std::make_tuple(
                eval::LeafSink<T, eval::MeanGrad<T>>{dx.data, dx.sb, dx.sn, false, stream, path}),
            ctx);
  ws.end_forward();
}

}  // namespace ponet
