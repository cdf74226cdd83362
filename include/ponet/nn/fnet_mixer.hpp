// FNetMixer: the FNet baseline's token mixer, y = Re(DFT over tokens and channels of x) per
// sequence (ponet::fourier_mix_forward, on FFTW). No parameters and no output dense, as in the
// LRA code PoNet's authors compared with; like theirs it mixes padded positions too. The
// backward is the same transform of dy. Needs FFTW (CMake target ponet::fftw).
// docs/nn.md#baselines
#pragma once

#include <string>

#include "ponet/cpu/fourier.hpp"
#include "ponet/nn/context.hpp"
#include "ponet/nn/params.hpp"

namespace ponet::cuda {
class FourierWorkspace;  // cuda/fourier.cuh, for FNetMixer<T, cuda_tag>
}  // namespace ponet::cuda

namespace ponet::nn {

template <class T, class Dev = cpu_tag>
class FNetMixer {
 public:
  struct Config {
    int D = 64;
    // measure: the fastest plans, found by timing, so they (and the last bits of results) may
    // differ between processes; estimate: the same plans in every process, which a run that
    // resumes from a checkpoint needs to continue bit for bit. docs/fnet.md
    cpu::FourierPlanning planning = cpu::FourierPlanning::measure;
  };

  FNetMixer() = default;
  FNetMixer(Params<T, Dev>&, std::string const&, Config c) : cfg_(c), ws_(c.planning) {}

  void forward(View<T, Dev> y, View<T const, Dev> x, Batch<Dev> const&) {
    fourier_mix_forward(y, x, ws_);
  }
  void backward(View<T, Dev> dx, View<T const, Dev> dy, Batch<Dev> const&, Scratch<T, Dev>&) {
    fourier_mix_backward(dx, dy, ws_);
  }

 private:
  Config cfg_;
  std::conditional_t<std::is_same_v<Dev, cpu_tag>, cpu::FourierWorkspace, cuda::FourierWorkspace>
      ws_;
};

}  // namespace ponet::nn
