// Reference PoNet token mixing, composed from the reference ops exactly as PONET.md states it:
//   g = GA(masked_mean(q), k)                                   [B, 1, D]
//   s = SMP(masked_fill(sg, pool, -1e4)), 0 where pool is off   [B, N, D]
//   l = LMP(masked_fill(lc, pool, -1e4), k), 0 where pool is off
//   out = ((g + s) * o + l), 0 at padding
// `pool` is valid, or valid and not a delimiter under clsgsepg. docs/ops.md#fuse
#pragma once

#include "ponet/ref/global_attn.hpp"
#include "ponet/ref/masked_mean.hpp"
#include "ponet/ref/segment_max.hpp"
#include "ponet/ref/window_max.hpp"

namespace ponet::ref {

template <class T>
struct MixingInputs {
  Tensor<T> q, k, o, sg, lc;  // [B, N, D] each (or their gradients)
};

struct MixingSetup {
  Mask valid;  // [B, N, 1]
  Mask pool;   // [B, N, 1]
  Ids ids;     // [B, N, 1]
  int S = 1;
  int heads = 1;
  int window = 3;
};

template <class T>
struct MixingForward {
  Tensor<T> out;
  // What the backward needs.
  Tensor<T> qm;
  GlobalAttnForward<T> ga;
  Tensor<T> s, l;
  Index seg_argmax, win_argmax;
};

template <class T>
MixingForward<T> mixing_forward(MixingInputs<T> const& in, MixingSetup const& m) {
  constexpr T fill = T(-10000);  // PONET.md: padding filled with -10000 before pooling
  MixingForward<T> r;
  r.qm = masked_mean_forward(in.q, m.valid);
  r.ga = global_attn_forward(r.qm, in.k, m.valid, m.heads);
  auto sf = segment_max_forward(masked_fill_forward(in.sg, m.pool, fill), m.ids, m.S);
  auto lf = window_max_forward(masked_fill_forward(in.lc, m.pool, fill), m.window);
  r.s = masked_fill_forward(sf.out, m.pool, T(0));
  r.l = masked_fill_forward(lf.out, m.pool, T(0));
  r.seg_argmax = sf.argmax;
  r.win_argmax = lf.argmax;
  Tensor<T> y(in.o.shape());
  for (int b = 0; b < y.B(); ++b)
    for (int i = 0; i < y.N(); ++i)
      for (int c = 0; c < y.D(); ++c)
        y(b, i, c) = (r.ga.g(b, 0, c) + r.s(b, i, c)) * in.o(b, i, c) + r.l(b, i, c);
  r.out = masked_fill_forward(y, m.valid, T(0));
  return r;
}

template <class T>
MixingInputs<T> mixing_backward(Tensor<T> const& dout, MixingInputs<T> const& in,
                                MixingSetup const& m, MixingForward<T> const& fwd) {
  Tensor<T> dy = masked_fill_backward(dout, m.valid);
  Tensor<T> dgs(dy.shape());  // adjoint of g + s
  MixingInputs<T> d;
  d.o = Tensor<T>(dy.shape());
  for (int b = 0; b < dy.B(); ++b)
    for (int i = 0; i < dy.N(); ++i)
      for (int c = 0; c < dy.D(); ++c) {
        d.o(b, i, c) = dy(b, i, c) * (fwd.ga.g(b, 0, c) + fwd.s(b, i, c));
        dgs(b, i, c) = dy(b, i, c) * in.o(b, i, c);
      }
  Tensor<T> ds_pooled = masked_fill_backward(dgs, m.pool);
  d.sg = masked_fill_backward(segment_max_backward(ds_pooled, m.ids, m.S, fwd.seg_argmax), m.pool);
  Tensor<T> dl_pooled = masked_fill_backward(dy, m.pool);
  d.lc = masked_fill_backward(window_max_backward(dl_pooled, m.window, fwd.win_argmax), m.pool);
  auto ga = global_attn_backward(sum_tokens(dgs), fwd.qm, in.k, m.valid, m.heads, fwd.ga);
  d.k = ga.dk;
  d.q = masked_mean_backward(ga.dq, m.valid);
  return d;
}

}  // namespace ponet::ref
