// Catch2's main for every test program.
// g++ 12 reports a false -Wmaybe-uninitialized inside the std::regex code Catch2 uses, only
// under the sanitizers.
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#define CATCH_CONFIG_MAIN
#include <catch2/catch.hpp>
