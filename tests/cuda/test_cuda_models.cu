// CPU <-> GPU parity of a whole training step of each classifier (PoNet, Transformer, FNet):
// the same seed gives the same initial parameters on both devices; one training forward (dropout
// on), backward, AdamW step, then an inference forward. Loss, logits, every parameter gradient and
// the parameters after the step are compared; two GPU runs must give the same bits. Compiled by
// nvcc; never run in CI (no GPU): the runner reports Skipped.
#include "cuda_side.cuh"

namespace parity {
namespace {

ModelInputs model_inputs() {
  int const B = 3, N = 37;
  ModelInputs in;
  in.tokens = Tensor<std::int32_t>(Shape3{B, N, 1});
  std::mt19937 rng(77);
  for (auto& t : in.tokens) t = std::int32_t(rng() % 16);
  in.valid = testing::lengths_mask(B, N, {37, 20, 1});
  in.labels = {0, 2, 1};
  return in;
}

double rel(double a, double b) { return std::abs(a - b) / std::max(std::abs(b), 1e-30); }

void check_model(ModelKind m) {
  INFO(name(m) << " classifier, one training step");
  auto const in = model_inputs();
  ModelResult const cpu = cpu_model(m, in);
  ModelResult const gpu = run_model<cuda_tag>(m, in);
  INFO("loss cpu " << cpu.loss << " gpu " << gpu.loss);
  CHECK(rel(gpu.loss, cpu.loss) <= kOpTol);
  CHECK(gpu.correct == cpu.correct);
  compare("logits", gpu.logits, cpu.logits, false);
  compare("parameter gradients", gpu.grads, cpu.grads, false, kModelGradTol);
  CHECK(rel(gpu.grad_norm, cpu.grad_norm) <= kModelGradTol);
  compare("parameters after the AdamW step", gpu.params, cpu.params, false);
  CHECK(rel(gpu.loss_after, cpu.loss_after) <= kOpTol);
}

void check_deterministic(ModelKind m) {
  INFO(name(m) << " classifier, two GPU runs");
  auto const in = model_inputs();
  ModelResult const a = run_model<cuda_tag>(m, in), b = run_model<cuda_tag>(m, in);
  CHECK(same_bits(a.loss, b.loss));
  CHECK(testing::bit_equal(a.logits, b.logits));
  CHECK(testing::bit_equal(a.grads, b.grads));
  CHECK(testing::bit_equal(a.params, b.params));
  CHECK(same_bits(a.loss_after, b.loss_after));
}

}  // namespace

TEST_CASE("cuda: a PoNet training step matches the CPU", "[cuda][parity][model]") {
  check_model(ModelKind::ponet);
}
TEST_CASE("cuda: a Transformer training step matches the CPU", "[cuda][parity][model]") {
  check_model(ModelKind::transformer);
}
TEST_CASE("cuda: an FNet training step matches the CPU", "[cuda][parity][model]") {
  check_model(ModelKind::fnet);
}

TEST_CASE("cuda: training steps are bit-identical from run to run", "[cuda][determinism][model]") {
  check_deterministic(ModelKind::ponet);
  check_deterministic(ModelKind::transformer);
  check_deterministic(ModelKind::fnet);
}

}  // namespace parity
