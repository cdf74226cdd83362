// UnfusedMixing: PoNet's mixing run the way eager frameworks run it, one operator per pass with
// a [B, N, D] temporary after each (masked fills, segment max gathered back to every token, window
// max, then g + s, * o, + l, the padding mask). Same arithmetic as expr::mixing, so results agree
// to rounding; it exists to measure what fusion saves (ponet-bench, ponet-mix-demo) and as a
// cross-check. Written against the device-generic entry points, like any user code.
#pragma once

#include <array>

#include "ponet/core/lowering.hpp"
#include "ponet/expr/fuse.hpp"

namespace ponet {

template <class T, class Dev = cpu_tag>
class UnfusedMixing {
 public:
  explicit UnfusedMixing(Shape3 s) {
    for (auto* t : {&sg_m_, &s_full_, &s_, &lc_m_, &l_full_, &l_, &t1_, &t2_, &t3_, &dt3_, &dt1_,
                    &dsg_m_, &dlc_m_, &ds_, &dl_})
      *t = Tensor<T, Dev>(s, uninitialized);
  }

  void forward(View<T, Dev> out, MixingArgs<T, Dev> const& a) {
    a_ = a;
    bool const zero_pooled = a.pool.data != a.valid.data;  // clsgsepg: delimiters get 0
    ponet::forward(sg_m_, expr::masked(a.sg, a.pool), ws_[0]);
    ponet::forward(s_full_, expr::segment_max(sg_m_, a.segments), ws_[1]);
    if (zero_pooled) ponet::forward(s_, expr::masked_fill(s_full_, a.pool, 0), ws_[2]);
    ponet::forward(lc_m_, expr::masked(a.lc, a.pool), ws_[3]);
    ponet::forward(l_full_, expr::window_max(lc_m_, a.window), ws_[4]);
    if (zero_pooled) ponet::forward(l_, expr::masked_fill(l_full_, a.pool, 0), ws_[5]);
    ponet::forward(t1_, expr::global_attn(a.q, a.k, a.valid, a.heads) + s(), ws_[6]);
    ponet::forward(t2_, expr::as_expr(t1_) * a.o, ws_[7]);
    ponet::forward(t3_, expr::as_expr(t2_) + l(), ws_[8]);
    ponet::forward(out, expr::masked_fill(t3_, a.valid, 0), ws_[9]);
  }

  // Reverse order. An add hands its gradient on without a copy, as autograd does.
  void backward(View<T const, Dev> dout, View<T, Dev> dq, View<T, Dev> dk, View<T, Dev> d_o,
                View<T, Dev> dsg, View<T, Dev> dlc) {
    auto const& a = a_;
    bool const zero_pooled = a.pool.data != a.valid.data;
    ponet::backward(expr::masked_fill(t3_, a.valid, 0), dout, ws_[9], {{t3_, dt3_}});
    ponet::backward(expr::as_expr(t1_) * a.o, dt3_, ws_[7], {{t1_, dt1_}, {a.o, d_o}});
    ponet::backward(expr::global_attn(a.q, a.k, a.valid, a.heads) + s(), dt1_, ws_[6],
                    {{a.q, dq}, {a.k, dk}});
    View<T const, Dev> ds = dt1_.view(), dl = dt3_.view();
    if (zero_pooled) {
      ponet::backward(expr::masked_fill(s_full_, a.pool, 0), dt1_, ws_[2], {{s_full_, ds_}});
      ponet::backward(expr::masked_fill(l_full_, a.pool, 0), dt3_, ws_[5], {{l_full_, dl_}});
      ds = ds_.view();
      dl = dl_.view();
    }
    ponet::backward(expr::segment_max(sg_m_, a.segments), ds, ws_[1], {{sg_m_, dsg_m_}});
    ponet::backward(expr::masked(a.sg, a.pool), dsg_m_, ws_[0], {{a.sg, dsg}});
    ponet::backward(expr::window_max(lc_m_, a.window), dl, ws_[4], {{lc_m_, dlc_m_}});
    ponet::backward(expr::masked(a.lc, a.pool), dlc_m_, ws_[3], {{a.lc, dlc}});
  }

 private:
  Tensor<T, Dev> const& s() const { return a_.pool.data != a_.valid.data ? s_ : s_full_; }
  Tensor<T, Dev> const& l() const { return a_.pool.data != a_.valid.data ? l_ : l_full_; }

  MixingArgs<T, Dev> a_;
  Tensor<T, Dev> sg_m_, s_full_, s_, lc_m_, l_full_, l_, t1_, t2_, t3_;  // forward temporaries
  Tensor<T, Dev> dt3_, dt1_, dsg_m_, dlc_m_, ds_, dl_;                   // backward temporaries
  std::array<Workspace<Dev>, 10> ws_;
};

}  // namespace ponet
