// Memory<Dev>: raw allocation for a device. The CPU specialisation hands out 64-byte aligned
// blocks (one cache line, one AVX-512 register); cuda/memory.cuh adds the CUDA one. Buffer<Dev>
// owns one block and only grows, so hot paths that reuse it never touch fresh pages again.
#pragma once

#include <cstddef>
#include <cstdlib>
#include <cstring>
#include <new>
#include <utility>

#include "ponet/core/device.hpp"

namespace ponet {

template <class Dev>
struct Memory {
  static_assert(sizeof(Dev) == 0,
                "ponet: no memory for this device; include ponet/cuda/ponet.cuh in a .cu file "
                "compiled by nvcc to use cuda_tag");
};

template <>
struct Memory<cpu_tag> {
  static constexpr std::size_t alignment = 64;
  static void* allocate(std::size_t bytes) {
    if (bytes == 0) return nullptr;
    std::size_t rounded = (bytes + alignment - 1) / alignment * alignment;
    void* p = std::aligned_alloc(alignment, rounded);
    if (!p) throw std::bad_alloc();
    return p;
  }
  static void release(void* p) { std::free(p); }
  static void copy(void* dst, void const* src, std::size_t bytes) {
    if (bytes) std::memcpy(dst, src, bytes);
  }
  static void zero(void* dst, std::size_t bytes) {
    if (bytes) std::memset(dst, 0, bytes);
  }
  // Between this device's memory and the host's: plain copies on the CPU (cuda/memory.cuh).
  static void upload(void* dst, void const* host, std::size_t bytes) { copy(dst, host, bytes); }
  static void download(void* host, void const* src, std::size_t bytes) { copy(host, src, bytes); }
};

template <class Dev>
class Buffer {
 public:
  Buffer() = default;
  explicit Buffer(std::size_t bytes) { reserve(bytes); }
  Buffer(Buffer const&) = delete;
  Buffer& operator=(Buffer const&) = delete;
  Buffer(Buffer&& o) noexcept
      : ptr_(std::exchange(o.ptr_, nullptr)), cap_(std::exchange(o.cap_, 0)) {}
  Buffer& operator=(Buffer&& o) noexcept {
    if (this != &o) {
      free();
      ptr_ = std::exchange(o.ptr_, nullptr);
      cap_ = std::exchange(o.cap_, 0);
    }
    return *this;
  }
  ~Buffer() { free(); }

  // Grows to at least `bytes`; old contents are not kept.
  void reserve(std::size_t bytes) {
    if (bytes <= cap_) return;
    free();
    ptr_ = Memory<Dev>::allocate(bytes);
    cap_ = bytes;
  }
  void* get() const { return ptr_; }
  std::size_t capacity() const { return cap_; }

 private:
  void free() {
    if (ptr_) Memory<Dev>::release(ptr_);
    ptr_ = nullptr;
    cap_ = 0;
  }
  void* ptr_ = nullptr;
  std::size_t cap_ = 0;
};

}  // namespace ponet
