// ponet::Error: every bad shape, parameter or file is reported by throwing it, with a message
// that names the operation and the offending values. docs/decisions.md#errors
#pragma once

#include <stdexcept>
#include <string>

namespace ponet {

class Error : public std::runtime_error {
 public:
  explicit Error(std::string const& what) : std::runtime_error(what) {}
};

// Thrown by the CUDA backend; names the kernel or runtime call that failed.
class CudaError : public Error {
 public:
  explicit CudaError(std::string const& what) : Error(what) {}
};

}  // namespace ponet
