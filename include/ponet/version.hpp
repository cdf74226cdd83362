// ponet version. CMakeLists.txt reads these three lines, so the header is the one source of truth.
#pragma once

#define PONET_VERSION_MAJOR 0
#define PONET_VERSION_MINOR 1
#define PONET_VERSION_PATCH 0

namespace ponet {
inline constexpr int version_major = PONET_VERSION_MAJOR;
inline constexpr int version_minor = PONET_VERSION_MINOR;
inline constexpr int version_patch = PONET_VERSION_PATCH;
inline constexpr char const* version_string = "0.1.0";
}  // namespace ponet
