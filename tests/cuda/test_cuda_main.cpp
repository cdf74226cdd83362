// ponet-cuda-tests' main, compiled by g++: without a CUDA device it prints
// "SKIPPED: no CUDA device (<reason>)" and exits with 77, which ctest reports as Skipped (the
// test's SKIP_RETURN_CODE), never as Passed. With a device, Catch2 runs the test_cuda_*.cu cases.
#define CATCH_CONFIG_RUNNER
#include <catch2/catch.hpp>

#include <cstdio>
#include <string>

#include "parity.hpp"

int main(int argc, char** argv) {
  std::string reason;
  if (parity::cuda_devices(reason) == 0) {
    std::printf("SKIPPED: no CUDA device (%s)\n", reason.c_str());
    return 77;
  }
  return Catch::Session().run(argc, argv);
}
