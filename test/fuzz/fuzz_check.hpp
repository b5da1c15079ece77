// Shared by the fuzz targets: a property check that stops the run with a message. A failed
// check aborts, which libFuzzer reports as a crash and saves the input as a crasher.
#pragma once

#include <cstdio>
#include <cstdlib>
#include <string_view>

namespace flowstore::fuzz {

[[noreturn]] inline void property_failed(const char* property, std::string_view detail, const char* file, int line) {
  std::fprintf(stderr, "%s:%d: fuzz property failed: %s\n", file, line, property);
  if (!detail.empty()) std::fprintf(stderr, "  detail: %.*s\n", static_cast<int>(detail.size()), detail.data());
  std::abort();
}

}  // namespace flowstore::fuzz

// FUZZ_CHECK(condition, detail): detail is anything convertible to std::string_view (an error
// message, the re-encoded text; "" for none), printed when the check fails.
#define FUZZ_CHECK(condition, detail)                                                               \
  do {                                                                                              \
    if (!(condition)) ::flowstore::fuzz::property_failed(#condition, (detail), __FILE__, __LINE__); \
  } while (false)
