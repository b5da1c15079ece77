// JSON parsing that refuses what Boost.JSON would silently accept: duplicated object keys
// (Boost keeps the last one, which would hide a corrupt or tampered document), text after
// the document, and numbers beyond the range of a double (Boost makes them infinite). Like
// Go, it reads "-0" as the double -0, so that it is written back as "-0", and rounds every
// other non-integer number correctly (Boost 1.81 may be off by one unit in the last place).
#pragma once

#include <boost/json/storage_ptr.hpp>
#include <boost/json/value.hpp>

#include <cstddef>
#include <optional>
#include <string>
#include <string_view>

namespace flowstore::detail {

/// Parses one JSON document nested at most `max_depth` deep, building it in `storage` (the
/// default heap when null). On failure returns nothing and sets `problem` to a short
/// description ("invalid JSON: …" or "duplicated object key").
std::optional<boost::json::value> parse_strict_json(std::string_view text, std::size_t max_depth, std::string& problem,
                                                    boost::json::storage_ptr storage = {});

}  // namespace flowstore::detail
