// FNet token mixing on the GPU with cuFFT: the overloads of cpu/fourier.hpp for cuda_tag views.
//   y[b] = Re(DFT_N(DFT_D(x[b]))) for each sequence [N, D], and its backward dx[b] =
//   Re(DFT2(dy[b])), the same transform (docs/fnet.md). One batched real-to-complex 2-D plan over
//   all B sequences gives the half spectra [B, N, D/2 + 1]; a kernel takes the real parts and
//   fills the other columns by Hermitian symmetry: Re Y(i, j) = Re Y((N - i) mod N, D - j).
// Strided inputs are first copied to a contiguous scratch. Plans are made once per (B, N, D)
// and kept in the workspace. Saves nothing. docs/fnet.md, docs/cuda.md#fourier
#pragma once

#include <cufft.h>

#include <map>
#include <string>
#include <tuple>
#include <type_traits>

#include "ponet/core/memory.hpp"
#include "ponet/core/view.hpp"
#include "ponet/cuda/common.cuh"
#include "ponet/cuda/memory.cuh"

namespace ponet {

namespace cpu {
enum class FourierPlanning;  // cpu/fourier.hpp; cuFFT has no measuring planner, so it is ignored
}

namespace cuda {

inline void check_fft(cufftResult r, char const* what) {
  if (r == CUFFT_SUCCESS) return;
  throw CudaError(std::string(what) + " failed: cuFFT result " + std::to_string(int(r)));
}

template <class T>
struct Cufft;
template <>
struct Cufft<float> {
  using Complex = cufftComplex;
  static constexpr cufftType type = CUFFT_R2C;
  static cufftResult exec(cufftHandle p, float* in, Complex* out) {
    return cufftExecR2C(p, in, out);
  }
};
template <>
struct Cufft<double> {
  using Complex = cufftDoubleComplex;
  static constexpr cufftType type = CUFFT_D2Z;
  static cufftResult exec(cufftHandle p, double* in, Complex* out) {
    return cufftExecD2Z(p, in, out);
  }
};

// Plans and scratch for fourier_mix_forward/_backward on the GPU. One call at a time.
class FourierWorkspace {
 public:
  FourierWorkspace() = default;
  // Accepts the CPU workspace's planning choice so nn::FNetMixer builds either; cuFFT plans are
  // the same in every process anyway.
  explicit FourierWorkspace(cpu::FourierPlanning) {}
  FourierWorkspace(FourierWorkspace const&) = delete;
  FourierWorkspace& operator=(FourierWorkspace const&) = delete;
  FourierWorkspace(FourierWorkspace&& o) noexcept
      : plans_(std::move(o.plans_)), spectrum_(std::move(o.spectrum_)), copy_(std::move(o.copy_)) {
    o.plans_.clear();
  }
  FourierWorkspace& operator=(FourierWorkspace&&) = delete;
  ~FourierWorkspace() {
    for (auto& kv : plans_) cufftDestroy(kv.second);
  }

  // A 2-D plan over [N, D], or a 1-D one over N * D when N or D is 1 (no size-1 dimensions
  // reach cuFFT); B sequences in a batch. The caller handles N = D = 1.
  template <class T>
  cufftHandle plan(int B, int N, int D) {
    auto const key = std::make_tuple(B, N, D, std::is_same_v<T, double>);
    auto it = plans_.find(key);
    if (it != plans_.end()) return it->second;
    cufftHandle p = 0;
    int const rank = N == 1 || D == 1 ? 1 : 2;
    int n[2] = {N, D};
    if (rank == 1) n[0] = N * D;
    int const odist = rank == 1 ? N * D / 2 + 1 : N * (D / 2 + 1);
    check_fft(cufftPlanMany(&p, rank, n, nullptr, 1, N * D, nullptr, 1, odist, Cufft<T>::type, B),
              "cufftPlanMany");
    check_fft(cufftSetStream(p, stream()), "cufftSetStream");
    plans_.emplace(key, p);
    return p;
  }
  void* spectrum(std::size_t bytes) {
    spectrum_.reserve(bytes);
    return spectrum_.get();
  }
  void* copy(std::size_t bytes) {
    copy_.reserve(bytes);
    return copy_.get();
  }
  std::size_t bytes() const { return spectrum_.capacity() + copy_.capacity(); }

 private:
  std::map<std::tuple<int, int, int, bool>, cufftHandle> plans_;
  Buffer<cuda_tag> spectrum_, copy_;
};

template <class T>
__global__ void gather_kernel(View<T const, cuda_tag> x, T* dst) {  // dst [B, N, D] contiguous
  std::int64_t const n = x.shape().numel();
  for (std::int64_t idx = thread_index(); idx < n; idx += thread_stride()) {
    Coord const at = unflatten(idx, x.N, x.D);
    dst[idx] = x(at.b, at.i, at.c);
  }
}

// y[b,i,j] = Re Z[b,i,j] for j < D/2 + 1, else Re Z[b,(N-i) mod N, D-j]. z: [B, N, D/2+1] pairs.
// With N or D equal to 1 the spectrum is 1-D over L = N * D: y[b, t] = Re Z[b, t] for
// t < L/2 + 1, else Re Z[b, L - t], with t = i * D + j.
template <class T>
__global__ void hermitian_real_kernel(View<T, cuda_tag> y, T const* z) {
  int const N = y.N, D = y.D, L = N * D;
  bool const flat = N == 1 || D == 1;
  int const Hh = flat ? L / 2 + 1 : D / 2 + 1;
  std::int64_t const n = y.shape().numel();
  for (std::int64_t idx = thread_index(); idx < n; idx += thread_stride()) {
    Coord const at = unflatten(idx, N, D);
    T v;
    if (flat) {
      int const t = at.i * D + at.c;
      v = z[2 * (std::int64_t(at.b) * Hh + (t < Hh ? t : L - t))];
    } else {
      std::int64_t const seq = std::int64_t(at.b) * N * Hh;
      v = at.c < Hh ? z[2 * (seq + std::int64_t(at.i) * Hh + at.c)]
                    : z[2 * (seq + std::int64_t((N - at.i) % N) * Hh + (D - at.c))];
    }
    y(at.b, at.i, at.c) = v;
  }
}

// y = x: the DFT of a single value (N = D = 1).
template <class T>
__global__ void copy_view_kernel(View<T, cuda_tag> y, View<T const, cuda_tag> x) {
  std::int64_t const n = x.shape().numel();
  for (std::int64_t idx = thread_index(); idx < n; idx += thread_stride()) {
    Coord const at = unflatten(idx, x.N, x.D);
    y(at.b, at.i, at.c) = x(at.b, at.i, at.c);
  }
}

template <class T>
void fourier_mix(View<T, cuda_tag> y, View<T const, cuda_tag> x, FourierWorkspace& ws) {
  static_assert(std::is_same_v<T, float> || std::is_same_v<T, double>,
                "ponet: fourier_mix runs on float or double (cuFFT R2C / D2Z)");
  int const B = x.B, N = x.N, D = x.D;
  std::int64_t const total = x.shape().numel();
  if (N == 1 && D == 1) {
    launch("ponet::cuda::copy_view_kernel", copy_view_kernel<T>, grid_for(total), block_threads, 0,
           y, x);
    return;
  }
  T* in = const_cast<T*>(x.data);  // R2C out of place leaves its input intact
  if (!x.contiguous()) {
    in = static_cast<T*>(ws.copy(std::size_t(total) * sizeof(T)));
    launch("ponet::cuda::gather_kernel", gather_kernel<T>, grid_for(total), block_threads, 0, x,
           in);
  }
  using Complex = typename Cufft<T>::Complex;
  std::size_t const half =  // spectrum entries per sequence
      N == 1 || D == 1 ? std::size_t(N) * D / 2 + 1 : std::size_t(N) * (D / 2 + 1);
  auto* z = static_cast<Complex*>(ws.spectrum(std::size_t(B) * half * sizeof(Complex)));
  check_fft(Cufft<T>::exec(ws.plan<T>(B, N, D), in, z),
            std::is_same_v<T, float> ? "cufftExecR2C" : "cufftExecD2Z");
  launch("ponet::cuda::hermitian_real_kernel", hermitian_real_kernel<T>, grid_for(total),
         block_threads, 0, y, reinterpret_cast<T const*>(z));
}

template <class T>
void check_fourier(char const* what, char const* y_name, View<T, cuda_tag> y, char const* x_name,
                   View<T const, cuda_tag> x) {
  check_same_shape(what, y_name, y.shape(), x_name, x.shape());
  check_not_empty(what, x_name, x.shape());
  // The spectrum is a separate buffer, so y may be the very same view as x.
  if (may_overlap(y, x) && !(y.data == x.data && y.sb == x.sb && y.sn == x.sn))
    throw Error(std::string(what) + ": " + y_name + " overlaps " + x_name +
                " (in place needs the very same view)");
}

}  // namespace cuda

// y[b] = Re(DFT_N(DFT_D(x[b]))). Spec: ref::fourier_mix_forward.
template <class T>
void fourier_mix_forward(View<T, cuda_tag> y,                    // [B, N, D] out, overwritten
                         View<std::add_const_t<T>, cuda_tag> x,  // [B, N, D]
                         cuda::FourierWorkspace& ws) {
  cuda::check_fourier("fourier_mix_forward", "y", y, "x", x);
  cuda::fourier_mix(y, x, ws);
}

// dx[b] = Re(DFT2(dy[b])): the forward transform of dy (docs/fnet.md). Spec:
// ref::fourier_mix_backward.
template <class T>
void fourier_mix_backward(View<T, cuda_tag> dx,                    // [B, N, D] out, overwritten
                          View<std::add_const_t<T>, cuda_tag> dy,  // [B, N, D]
                          cuda::FourierWorkspace& ws) {
  cuda::check_fourier("fourier_mix_backward", "dx", dx, "dy", dy);
  cuda::fourier_mix(dx, dy, ws);
}

}  // namespace ponet
