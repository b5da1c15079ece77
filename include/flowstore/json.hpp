// JSON for flows, byte-compatible with the Go package's encoding/json output.
#pragma once

#include <flowstore/error.hpp>
#include <flowstore/export.hpp>
#include <flowstore/flow.hpp>

#include <boost/json/value.hpp>
#include <boost/json/value_from.hpp>
#include <boost/json/value_to.hpp>

#include <cstddef>
#include <string>
#include <string_view>

namespace flowstore {

/// Deepest nesting of arrays and objects accepted in a document (Go allows 10000; a config
/// this deep is a mistake or an attack, and the bound keeps decoding and encoding off the stack's edge).
inline constexpr std::size_t max_json_depth = 256;

/// Encodes the flow as the JSON document the store keeps: what Go's encoding/json writes for the
/// Go package's `Flow`.
///
/// Its field order, `description`, `created_by` and the three `*_at` pointers omitted when
/// empty, map keys (config) sorted, HTML-safe escaping (`\u003c`, `\u0026`, …), Go's float
/// format, times as RFC 3339 nanoseconds in UTC. `nodes` and `connections` are always arrays
/// and `config` always an object, where Go writes `null` for a nil slice or map. Unknown fields
/// kept from decoding follow the known ones. flow::revision is not encoded.
///
/// - Errors: errc::encode_failed for a non-finite number, nesting deeper than max_json_depth,
///   or a time outside years 0000–9999; the message names the field.
/// - Thread safety: pure, no I/O; thread-safe.
FLOWSTORE_DECL result<std::string> to_json(const flow& f);

/// Decodes a flow document as Go's encoding/json decodes it into the Go package's `Flow`.
///
/// `null` for any field leaves its zero value, field names match case-insensitively when not
/// exactly, unknown fields and unknown state/type strings are kept for re-encoding. Integers
/// that fit 64 bits keep their exact value. The result's revision is 0.
///
/// - Errors: errc::corrupt_data naming what is wrong (syntax, invalid UTF-8, wrong type, bad
///   time, nesting deeper than max_json_depth, a duplicated object key, text after the
///   document).
/// - Thread safety: pure, no I/O; thread-safe.
FLOWSTORE_DECL result<flow> flow_from_json(std::string_view json);
/// The same for a string literal (which would otherwise match both other overloads).
inline result<flow> flow_from_json(const char* json) { return flow_from_json(std::string_view(json)); }
/// Decodes an already parsed document (duplicated keys are no longer visible in it).
FLOWSTORE_DECL result<flow> flow_from_json(const boost::json::value& json);

/// Writes any JSON value the way Go writes an `any` holding it (map keys sorted, Go escaping
/// and number format). Errors: errc::encode_failed as for to_json().
FLOWSTORE_DECL result<std::string> to_go_json(const boost::json::value& v);

/// Boost.JSON conversion `boost::json::value_from(flow)`: the document of to_json() as a value.
/// Throws flowstore::exception when to_json() fails.
FLOWSTORE_DECL void tag_invoke(boost::json::value_from_tag, boost::json::value& out, const flow& f);
/// Boost.JSON conversion `boost::json::value_to<flow>(value)`, as flow_from_json(); throws
/// flowstore::exception on a document that is not a flow.
FLOWSTORE_DECL flow tag_invoke(boost::json::value_to_tag<flow>, const boost::json::value& v);
/// Boost.JSON conversion `boost::json::try_value_to<flow>(value)`: the flow, or the code of
/// flow_from_json()'s error (errc::corrupt_data) without its message.
FLOWSTORE_DECL boost::system::result<flow> tag_invoke(boost::json::try_value_to_tag<flow>, const boost::json::value& v);

}  // namespace flowstore
