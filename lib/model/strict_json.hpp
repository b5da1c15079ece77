// JSON parsing that refuses what Boost.JSON would silently accept: duplicated object keys
// (Boost keeps the last one, which would hide a corrupt or tampered document) and text after
// the document.
#pragma once

#include <boost/json/value.hpp>

#include <cstddef>
#include <optional>
#include <string>
#include <string_view>

namespace flowstore::detail {

/// Parses one JSON document nested at most `max_depth` deep. On failure returns nothing and
/// sets `problem` to a short description ("invalid JSON: …" or "duplicated object key").
std::optional<boost::json::value> parse_strict_json(std::string_view text, std::size_t max_depth, std::string& problem);

}  // namespace flowstore::detail
