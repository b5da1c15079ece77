// Decoding flow documents: what Go's encoding/json accepts for the Go package's structs.
#pragma once

#include <flowstore/error.hpp>
#include <flowstore/flow.hpp>

#include <boost/json/value.hpp>

#include <string_view>

namespace flowstore::detail {

/// Decodes document text in one pass over the parser's events: the flow's own fields go
/// straight into the flow, and only configs and unknown fields are built as JSON values.
result<flow> decode_flow(std::string_view text);

/// Decodes an already parsed document (copying what the flow keeps of it).
result<flow> decode_flow(const boost::json::value& document);

}  // namespace flowstore::detail
