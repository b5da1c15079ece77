// The version of these headers. CMake checks at configure time that it equals project(VERSION).
#pragma once

#include <string_view>

/// Major version: changes that break the API or ABI (in 0.x, the minor version does that too).
#define FLOWSTORE_VERSION_MAJOR 0
/// Minor version: additions; in 0.x also breaking changes.
#define FLOWSTORE_VERSION_MINOR 1
/// Patch version: fixes only.
#define FLOWSTORE_VERSION_PATCH 0
/// The version as "MAJOR.MINOR.PATCH".
#define FLOWSTORE_VERSION_STRING "0.1.0"

namespace flowstore {

/// The version of the flowstore headers the program was compiled with, as "MAJOR.MINOR.PATCH";
/// the macros FLOWSTORE_VERSION_MAJOR, _MINOR and _PATCH give its parts to the preprocessor.
constexpr std::string_view version() noexcept { return FLOWSTORE_VERSION_STRING; }

}  // namespace flowstore
