// The README's example, built as a separate project against an installed or vendored ponet.
#include <cstdio>

#include <ponet/ponet.hpp>

int main() {
  using namespace ponet;
  int const B = 2, N = 1000, D = 64;
  Tensor<float> q({B, N, D}), k({B, N, D}), o({B, N, D}), sg({B, N, D}), lc({B, N, D});
  for (Tensor<float>* t : {&q, &k, &o, &sg, &lc})
    for (std::int64_t j = 0; j < t->size(); ++j) t->data()[j] = float(j % 7) * 0.1f;
  Tensor<std::uint8_t> valid({B, N, 1});
  valid.fill(1);
  auto segments = Segments::chunks(B, N, 64);  // LRA style
  auto mix = expr::mixing<float, cpu_tag>(q, k, o, sg, lc, valid, valid, segments.view(), 2);
  Tensor<float> out({B, N, D});
  assign(out, mix);  // reductions once, then one fused pass
  std::printf("consumer: out(0, 0, 0) = %g\n", out(0, 0, 0));
  return out(0, 0, 0) == out(0, 0, 0) ? 0 : 1;  // not NaN
}
