// Device tags: the device is part of every view and tensor type, so the lowering (CPU loops or
// CUDA kernels) is chosen at compile time from the destination's type. docs/design.md#devices
#pragma once

namespace ponet {

struct cpu_tag {
  static constexpr char const* name = "cpu";
};
struct cuda_tag {
  static constexpr char const* name = "cuda";
};

}  // namespace ponet
