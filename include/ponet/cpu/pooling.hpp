// Masked mean pooling to one row per sequence, out [B, 1, D] = masked_mean(x, valid): the same
// reduction and the same backward path the masked_mean expression node uses (cpu/masked_mean.hpp).
// docs/nn.md#pooling
#pragma once

#include "ponet/cpu/masked_mean.hpp"

namespace ponet {

// counts [B] receives each sequence's number of valid tokens (the backward needs it).
template <class T>
void masked_mean_rows_forward(View<T, cpu_tag> out, View<T const, cpu_tag> x,
                              View<std::uint8_t const, cpu_tag> valid, T* counts,
                              Workspace<cpu_tag>& ws) {
  check_per_token("masked_mean_rows", "valid", valid.shape(), x.shape());
  if (out.B != x.B || out.N != 1 || out.D != x.D || !out.contiguous())
    throw Error("masked_mean_rows: out is " + to_string(out.shape()) + " but x is " +
                to_string(x.shape()) + " (out must be a contiguous [B,1,D])");
  struct MeanRows {};
  ws.begin_forward<MeanRows>(Mode::infer, x.shape());
  cpu::Context<T> ctx{ws, Mode::infer, x.shape()};
  eval::MaskedMean<eval::Leaf<T>, T> ev{
      {x.data, x.sb, x.sn}, cpu::mask_eval(valid), out.data, counts, x.D};
  cpu::Build<expr::MaskedMean<expr::Leaf<T, cpu_tag>>>::reduce(ev, x.shape(), ctx);
  ws.end_forward();
}

// dx = valid ? dout[b] / counts[b] : 0, overwritten.
template <class T>
void masked_mean_rows_backward(View<T, cpu_tag> dx, View<T const, cpu_tag> dout,
                               View<std::uint8_t const, cpu_tag> valid, T const* counts,
                               Workspace<cpu_tag>& ws) {
  struct MeanRowsBackward {};
  ws.begin_forward<MeanRowsBackward>(Mode::infer, dx.shape());
  cpu::Context<T> ctx{ws, Mode::infer, dx.shape()};
  eval::MeanGrad<T> path{cpu::mask_eval(valid), dout.data, counts, dx.D};
  cpu::run_sinks(std::make_tuple(eval::LeafSink<T, eval::MeanGrad<T>>{dx.data, dx.sb, dx.sn, false,
                                                                      cpu::streamable(dx), path}),
                 ctx);
  ws.end_forward();
}

}  // namespace ponet
