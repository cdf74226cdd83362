// Workspace<Dev>: reusable memory for one expression's reductions and saved state. A forward
// takes "saved" slots in a fixed tree order; the backward takes the same slots again in the same
// order and checks their sizes, so a backward can only read what the matching forward wrote.
// Scratch slots hold per-pass temporaries. Buffers only grow: a warm workspace allocates nothing.
#pragma once

#include <cstddef>
#include <string>
#include <typeindex>
#include <typeinfo>
#include <vector>

#include "ponet/core/memory.hpp"
#include "ponet/core/shape.hpp"

namespace ponet {

enum class Mode {
  infer,     // compute the output only
  train,     // compute the output and save what the backward needs
  backward,  // rebuild evaluators over the saved state; compute nothing forward
};

template <class Dev>
class Workspace {
 public:
  Workspace() = default;
  Workspace(Workspace const&) = delete;
  Workspace& operator=(Workspace const&) = delete;
  Workspace(Workspace&&) noexcept = default;
  Workspace& operator=(Workspace&&) noexcept = default;

  // Starts a forward (infer or train) of expression type `E` writing a `shape` output.
  template <class E>
  void begin_forward(Mode mode, Shape3 shape) {
    mode_ = mode;
    next_saved_ = next_scratch_ = 0;
    expr_ = std::type_index(typeid(E));
    shape_ = shape;
    forward_done_ = false;
  }
  void end_forward() {
    forward_done_ = true;
    saved_count_ = next_saved_;
  }
  // Starts a backward and checks it matches the last forward.
  template <class E>
  void begin_backward(Shape3 shape) {
    if (!forward_done_ || mode_ != Mode::train)
      throw Error(
          "backward: the workspace holds no training forward (call ponet::forward, not "
          "ponet::assign, with this workspace first)");
    if (expr_ != std::type_index(typeid(E)) || shape_ != shape)
      throw Error("backward: the expression or shape " + to_string(shape) +
                  " differs from the last forward's " + to_string(shape_));
    mode_ = Mode::backward;
    next_saved_ = next_scratch_ = 0;
  }
  // A backward leaves the saved state intact: a second backward of the same forward is allowed.
  void end_backward() { mode_ = Mode::train; }

  Mode mode() const { return mode_; }

  // The next saved slot, `n` elements of U. In backward mode the slot must already exist with
  // exactly that size (the forward took it).
  template <class U>
  U* saved(std::size_t n) {
    std::size_t bytes = n * sizeof(U);
    std::size_t idx = next_saved_++;
    if (mode_ == Mode::backward) {
      if (idx >= saved_count_ || sizes_[idx] != bytes)
        throw Error("backward: saved slot " + std::to_string(idx) + " should hold " +
                    std::to_string(bytes) + " bytes but the forward left " +
                    (idx < saved_count_ ? std::to_string(sizes_[idx]) : std::string("none")));
      return static_cast<U*>(saved_[idx].get());
    }
    if (idx >= saved_.size()) {
      saved_.emplace_back();
      sizes_.push_back(0);
    }
    saved_[idx].reserve(bytes);
    sizes_[idx] = bytes;
    return static_cast<U*>(saved_[idx].get());
  }

  // The next scratch slot, `n` elements of U; contents undefined.
  template <class U>
  U* scratch(std::size_t n) {
    std::size_t idx = next_scratch_++;
    if (idx >= scratch_.size()) scratch_.emplace_back();
    scratch_[idx].reserve(n * sizeof(U));
    return static_cast<U*>(scratch_[idx].get());
  }

  // Bytes held, for memory reports.
  std::size_t bytes() const {
    std::size_t total = 0;
    for (auto const& b : saved_) total += b.capacity();
    for (auto const& b : scratch_) total += b.capacity();
    return total;
  }

 private:
  std::vector<Buffer<Dev>> saved_, scratch_;
  std::vector<std::size_t> sizes_;
  std::size_t next_saved_ = 0, next_scratch_ = 0, saved_count_ = 0;
  Mode mode_ = Mode::infer;
  std::type_index expr_ = std::type_index(typeid(void));
  Shape3 shape_{};
  bool forward_done_ = false;
};

}  // namespace ponet
