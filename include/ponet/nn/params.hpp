// Params<T, Dev>: every parameter of a model in one contiguous buffer, every gradient in another
// of the same layout. Layers register named matrices while they are constructed; allocate()
// then creates both buffers and initialises the values from a seed, each parameter from its own
// stream (a hash of the seed and its name), so adding a layer never changes the others' values.
// docs/nn.md#parameters
#pragma once

#include <cmath>
#include <cstdint>
#include <string>
#include <vector>

#include "ponet/core/matrix.hpp"
#include "ponet/core/tensor.hpp"

namespace ponet::nn {

enum class Init {
  zeros,
  ones,
  normal,   // N(0, scale^2)
  uniform,  // U(-scale, scale)
};

// Where one parameter lives in the buffers: a row-major [rows, cols] matrix (vectors: rows 1).
struct ParamRef {
  std::size_t offset = 0;
  int rows = 0, cols = 0;
  std::size_t size() const { return std::size_t(rows) * cols; }
};

// SplitMix64: a small, portable generator (std distributions differ between libraries).
struct SplitMix64 {
  std::uint64_t state;
  std::uint64_t next() {
    std::uint64_t z = (state += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
  }
  double uniform() { return double(next() >> 11) * (1.0 / 9007199254740992.0); }  // [0, 1)
  double normal() {                                                               // Box-Muller
    double u1 = uniform(), u2 = uniform();
    return std::sqrt(-2.0 * std::log(1.0 - u1)) * std::cos(6.283185307179586 * u2);
  }
};

inline std::uint64_t hash_name(std::uint64_t seed, std::string const& name) {
  std::uint64_t h = 1469598103934665603ull ^ seed;  // FNV-1a over the name, seeded
  for (unsigned char ch : name) h = (h ^ ch) * 1099511628211ull;
  return h;
}

template <class T, class Dev = cpu_tag>
class Params {
 public:
  struct Entry {
    std::string name;
    ParamRef ref;
    Init init;
    double scale;
  };

  ParamRef add(std::string name, int rows, int cols, Init init, double scale = 0) {
    if (allocated_) throw Error("Params::add: '" + name + "' registered after allocate()");
    if (rows < 1 || cols < 1)
      throw Error("Params::add: '" + name + "' has shape " + mat_shape(rows, cols));
    for (auto const& e : entries_)
      if (e.name == name) throw Error("Params::add: '" + name + "' registered twice");
    // Each parameter starts on a 64-byte boundary, so SIMD loops over it start aligned.
    std::size_t align = 64 / sizeof(T);
    ParamRef r{(size_ + align - 1) / align * align, rows, cols};
    size_ = r.offset + r.size();
    entries_.push_back({std::move(name), r, init, scale});
    return r;
  }

  // Initialises on the host; other devices get a copy of the host values.
  void allocate(std::uint64_t seed) {
    Tensor<T, cpu_tag> host(Shape3{1, 1, int(size_)});
    for (auto const& e : entries_) init(e, seed, host.data());
    if constexpr (std::is_same_v<Dev, cpu_tag>) {
      values_ = std::move(host);
    } else {
      values_ = Tensor<T, Dev>(host.shape(), uninitialized);
      Memory<Dev>::upload(values_.data(), host.data(), host.bytes());
    }
    grads_ = Tensor<T, Dev>(Shape3{1, 1, int(size_)});
    allocated_ = true;
  }

  T* value(ParamRef const& r) { return values_.data() + r.offset; }
  T const* value(ParamRef const& r) const { return values_.data() + r.offset; }
  T* grad(ParamRef const& r) { return grads_.data() + r.offset; }
  Mat<T, Dev> value_mat(ParamRef const& r) { return {value(r), r.rows, r.cols}; }
  Mat<T, Dev> grad_mat(ParamRef const& r) { return {grad(r), r.rows, r.cols}; }

  void zero_grad() { Memory<Dev>::zero(grads_.data(), grads_.bytes()); }
  std::size_t size() const { return size_; }
  std::vector<Entry> const& entries() const { return entries_; }
  Tensor<T, Dev>& values() { return values_; }
  Tensor<T, Dev>& grads() { return grads_; }
  Tensor<T, Dev> const& values() const { return values_; }
  Tensor<T, Dev> const& grads() const { return grads_; }
  Entry const& find(std::string const& name) const {
    for (auto const& e : entries_)
      if (e.name == name) return e;
    throw Error("Params: no parameter named '" + name + "'");
  }

 private:
  void init(Entry const& e, std::uint64_t seed, T* base) {
    SplitMix64 rng{hash_name(seed, e.name)};
    T* p = base + e.ref.offset;
    for (std::size_t k = 0; k < e.ref.size(); ++k) {
      switch (e.init) {
        case Init::zeros:
          p[k] = T(0);
          break;
        case Init::ones:
          p[k] = T(1);
          break;
        case Init::normal:
          p[k] = T(e.scale * rng.normal());
          break;
        case Init::uniform:
          p[k] = T(e.scale * (2 * rng.uniform() - 1));
          break;
      }
    }
  }

  std::vector<Entry> entries_;
  std::size_t size_ = 0;
  bool allocated_ = false;
  Tensor<T, Dev> values_, grads_;
};

}  // namespace ponet::nn
