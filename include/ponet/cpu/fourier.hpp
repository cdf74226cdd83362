// CPU FNet token mixing on FFTW 3: y[b] = Re(DFT_N(DFT_D(x[b]))) for each sequence [N, D], and
// its backward dx[b] = Re(DFT2(dy[b])), the same transform. One real-to-complex 2-D FFT per
// sequence gives the half spectrum [N, D/2 + 1]; Hermitian symmetry fills the other columns.
// Spec: ref::fourier_mix_forward / _backward. Saves nothing. Needs FFTW: link fftw3 and fftw3f
// (pkg-config fftw3 fftw3f). docs/fnet.md
#pragma once

#include <fftw3.h>

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <map>
#include <mutex>
#include <string>
#include <tuple>
#include <type_traits>

#include "ponet/core/memory.hpp"
#include "ponet/core/view.hpp"
#include "ponet/cpu/parallel.hpp"

namespace ponet {
namespace cpu {

// How FFTW picks the plan it makes once per (N, D, element type). docs/fnet.md#plans
enum class FourierPlanning {
  measure,   // FFTW_MEASURE: times candidate plans first (0.1 to 2 s per shape here), then runs
             // up to 2.7x faster at long N. The pick follows timings, so two processes may get
             // different plans and results that differ in the last bits.
  estimate,  // FFTW_ESTIMATE: a heuristic plan at once, the same in every process, unless the
             // process MEASUREd that shape first (FFTW's wisdom then hands out the measured plan).
};

// Per-worker scratch for fourier_mix_forward/_backward: a half spectrum [N, D/2 + 1] (complex)
// and, when some sequence is strided or misaligned, a contiguous copy [N, D]. 64-byte aligned;
// the buffer only grows, so a warm workspace allocates nothing. One call at a time.
class FourierWorkspace {
 public:
  explicit FourierWorkspace(FourierPlanning planning = FourierPlanning::measure)
      : planning_(planning) {}
  FourierWorkspace(FourierWorkspace const&) = delete;
  FourierWorkspace& operator=(FourierWorkspace const&) = delete;
  FourierWorkspace(FourierWorkspace&&) noexcept = default;
  FourierWorkspace& operator=(FourierWorkspace&&) noexcept = default;

  FourierPlanning planning() const { return planning_; }
  std::size_t bytes() const { return buf_.capacity(); }

  // `workers` slots of `slot` bytes (a multiple of 64) each; contents undefined.
  char* slots(int workers, std::size_t slot) {
    buf_.reserve((std::size_t)workers * slot);
    return static_cast<char*>(buf_.get());
  }

 private:
  FourierPlanning planning_;
  Buffer<cpu_tag> buf_;
};

namespace detail {

// FFTW's double and single precision APIs under one name.
template <class T>
struct Fftw;
template <>
struct Fftw<double> {
  using Plan = fftw_plan;
  using Complex = fftw_complex;
  static Plan plan(int n, int d, double* in, Complex* out, unsigned flags) {
    return fftw_plan_dft_r2c_2d(n, d, in, out, flags);
  }
  static void execute(Plan p, double* in, Complex* out) { fftw_execute_dft_r2c(p, in, out); }
  static void destroy(Plan p) { fftw_destroy_plan(p); }
  static int alignment_of(double* p) { return fftw_alignment_of(p); }
};
template <>
struct Fftw<float> {
  using Plan = fftwf_plan;
  using Complex = fftwf_complex;
  static Plan plan(int n, int d, float* in, Complex* out, unsigned flags) {
    return fftwf_plan_dft_r2c_2d(n, d, in, out, flags);
  }
  static void execute(Plan p, float* in, Complex* out) { fftwf_execute_dft_r2c(p, in, out); }
  static void destroy(Plan p) { fftwf_destroy_plan(p); }
  static int alignment_of(float* p) { return fftwf_alignment_of(p); }
};

inline std::size_t round_up_64(std::size_t bytes) { return (bytes + 63) / 64 * 64; }

// The process's r2c plans for [N, D] real input, one per (N, D, planning), made on first use and
// kept until exit. FFTW's planner is not thread-safe, so lookups and planning hold a mutex (once
// per call, never per sequence); executing a plan on new arrays is thread-safe. The mutex guards
// ponet's planning only: other code in the process must not run FFTW's planner concurrently.
template <class T>
class FourierPlans {
 public:
  using Plan = typename Fftw<T>::Plan;

  static FourierPlans& instance() {
    static FourierPlans plans;
    return plans;
  }

  Plan get(int N, int D, FourierPlanning planning) {
    std::lock_guard<std::mutex> lock(mutex_);
    auto const key = std::make_tuple(N, D, planning);
    auto it = plans_.find(key);
    if (it != plans_.end()) return it->second;
    // FFTW_MEASURE overwrites the arrays it plans on, so plan on arrays of our own. They are
    // 64-byte aligned like the workspace (fftw_alignment_of == 0): a plan may only run on new
    // arrays aligned like the ones it was made for.
    int const H = D / 2 + 1;
    Buffer<cpu_tag> in((std::size_t)N * D * sizeof(T)), out((std::size_t)N * H * 2 * sizeof(T));
    unsigned const flags =
        (planning == FourierPlanning::measure ? FFTW_MEASURE : FFTW_ESTIMATE) | FFTW_PRESERVE_INPUT;
    Plan p = Fftw<T>::plan(N, D, static_cast<T*>(in.get()),
                           static_cast<typename Fftw<T>::Complex*>(out.get()), flags);
    if (!p)
      throw Error("fourier_mix: FFTW could not plan a [" + std::to_string(N) + "," +
                  std::to_string(D) + "] real-to-complex transform");
    plans_.emplace(key, p);
    return p;
  }

  FourierPlans(FourierPlans const&) = delete;
  FourierPlans& operator=(FourierPlans const&) = delete;
  ~FourierPlans() {
    for (auto& kv : plans_) Fftw<T>::destroy(kv.second);
  }

 private:
  FourierPlans() = default;
  std::mutex mutex_;
  std::map<std::tuple<int, int, FourierPlanning>, Plan> plans_;
};

template <class T>
void check_fourier(char const* what, char const* y_name, View<T, cpu_tag> y, char const* x_name,
                   View<T const, cpu_tag> x) {
  static_assert(std::is_same_v<T, float> || std::is_same_v<T, double>,
                "ponet: fourier_mix runs on float or double (FFTW's fftw3f and fftw3)");
  check_same_shape(what, y_name, y.shape(), x_name, x.shape());
  check_not_empty(what, x_name, x.shape());
  // Sequence b is read whole before it is written, so the very same view in and out works.
  if (may_overlap(y, x) && !(y.data == x.data && y.sb == x.sb && y.sn == x.sn))
    throw Error(std::string(what) + ": " + y_name + " overlaps " + x_name +
                " (in place needs the very same view)");
}

// y[b] = Re(DFT2(x[b])) for every b. Spec: ref::fourier_mix_forward.
// Sequences are split into contiguous runs, one per worker; each sequence is transformed whole by
// one worker with the one cached plan, so results are bit-identical on any thread count.
template <class T>
void fourier_mix(View<T, cpu_tag> y,        // [B, N, D] out
                 View<T const, cpu_tag> x,  // [B, N, D]
                 FourierWorkspace& ws) {
  using F = Fftw<T>;
  using Complex = typename F::Complex;
  int const B = x.B, N = x.N, D = x.D, H = D / 2 + 1;
  auto const plan = FourierPlans<T>::instance().get(N, D, ws.planning());
  // FFTW reads a sequence in place when its rows are contiguous and it is aligned like the
  // planning arrays; otherwise it reads a copy. r2c leaves its input intact (FFTW_PRESERVE_INPUT
  // is also r2c's default), hence the const_cast.
  auto in_place = [&](int b) {
    return (N == 1 || x.sn == D) && F::alignment_of(const_cast<T*>(x.row(b, 0))) == 0;
  };
  bool copies = false;
  for (int b = 0; b < B && !copies; ++b) copies = !in_place(b);
  std::size_t const spectrum = round_up_64((std::size_t)N * H * 2 * sizeof(T));  // [N, H] complex
  std::size_t const slot = spectrum + (copies ? round_up_64((std::size_t)N * D * sizeof(T)) : 0);
  int const workers = std::min(B, max_threads());
  char* const base = ws.slots(workers, slot);
  parallel_for(workers, [&](int w) {
    char* const mine = base + (std::size_t)w * slot;
    auto* const z = reinterpret_cast<Complex*>(mine);
    T const* const zr = reinterpret_cast<T const*>(mine);  // z as interleaved (re, im)
    for (int b = int((std::int64_t)B * w / workers); b < int((std::int64_t)B * (w + 1) / workers);
         ++b) {
      T* in = const_cast<T*>(x.row(b, 0));
      if (!in_place(b)) {
        in = reinterpret_cast<T*>(mine + spectrum);  // [N, D]
        for (int i = 0; i < N; ++i)
          std::copy(x.row(b, i), x.row(b, i) + D, in + (std::size_t)i * D);
      }
      F::execute(plan, in, z);
      // Columns j < H come from the half spectrum; x is real, so Y(i, j) = conj Y(-i, D - j)
      // gives the rest: Re Y(i, j) = Re Y((N - i) mod N, D - j).
      for (int i = 0; i < N; ++i) {
        T* const out = y.row(b, i);
        T const* const row = zr + (std::int64_t)i * H * 2;
        T const* const mirror = zr + (std::int64_t)((N - i) % N) * H * 2;
        for (int j = 0; j < H; ++j) out[j] = row[2 * j];
        for (int j = H; j < D; ++j) out[j] = mirror[2 * (D - j)];
      }
    }
  });
}

}  // namespace detail
}  // namespace cpu

// y[b] = Re(DFT_N(DFT_D(x[b]))): y[b,i,j] = sum over k, l of x[b,k,l] cos(2 pi (i k/N + j l/D)).
// Spec: ref::fourier_mix_forward. Throws ponet::Error on different or empty shapes, and when y
// overlaps x other than as the very same view. x converts from a Tensor or a mutable View.
template <class T>
void fourier_mix_forward(View<T, cpu_tag> y,                    // [B, N, D] out, overwritten
                         View<std::add_const_t<T>, cpu_tag> x,  // [B, N, D]
                         cpu::FourierWorkspace& ws) {
  cpu::detail::check_fourier("fourier_mix_forward", "y", y, "x", x);
  cpu::detail::fourier_mix(y, x, ws);
}

// With a temporary workspace: convenient, but hot loops should pass their own.
template <class T>
void fourier_mix_forward(View<T, cpu_tag> y, View<std::add_const_t<T>, cpu_tag> x) {
  cpu::FourierWorkspace ws;
  fourier_mix_forward(y, x, ws);
}

// dx[b] = Re(DFT2(dy[b])). Per sequence y = C x with C[(i,j),(k,l)] = cos(2 pi (i k/N + j l/D)),
// so dx[k,l] = sum over i, j of dy[i,j] C[(i,j),(k,l)]; swapping (i,j) and (k,l) leaves C
// unchanged (the DFT matrices are symmetric), so dx = C dy, the forward transform of dy.
// Spec: ref::fourier_mix_backward. The forward saves nothing and x is not needed.
template <class T>
void fourier_mix_backward(View<T, cpu_tag> dx,                    // [B, N, D] out, overwritten
                          View<std::add_const_t<T>, cpu_tag> dy,  // [B, N, D]
                          cpu::FourierWorkspace& ws) {
  cpu::detail::check_fourier("fourier_mix_backward", "dx", dx, "dy", dy);
  cpu::detail::fourier_mix(dx, dy, ws);
}

template <class T>
void fourier_mix_backward(View<T, cpu_tag> dx, View<std::add_const_t<T>, cpu_tag> dy) {
  cpu::FourierWorkspace ws;
  fourier_mix_backward(dx, dy, ws);
}

}  // namespace ponet
