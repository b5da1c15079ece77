// Helpers for the human part of error messages.
#pragma once

#include <string>
#include <string_view>

namespace flowstore::detail {

/// A user-supplied value quoted for a message: at most 64 bytes, control characters shown as
/// '?', so that a hostile id cannot flood or forge log lines.
std::string quoted(std::string_view s);

}  // namespace flowstore::detail
