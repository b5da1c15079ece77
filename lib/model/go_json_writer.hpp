// Writes JSON the way Go's encoding/json does, so that documents we write are byte-identical
// to the Go package's: HTML-safe string escaping, Go's float format, map keys sorted.
#pragma once

#include <boost/json/value.hpp>

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

namespace flowstore::detail {

class go_json_writer {
 public:
  explicit go_json_writer(std::string& out) noexcept : out_(out) {}

  /// A JSON string with Go's escaping: `"`, `\`, control characters, `<`, `>`, `&`, U+2028
  /// and U+2029 escaped; invalid UTF-8 replaced by \ufffd.
  void string(std::string_view s);

  void number(std::int64_t v);
  void number(std::uint64_t v);
  /// False (and nothing written) for NaN and infinities, which Go refuses to encode.
  bool number(double v);

  /// Any value, as Go writes an `any` holding it. False when it holds a non-finite number or
  /// nests deeper than `depth_left`; what was written so far is then garbage.
  bool value(const boost::json::value& v, std::size_t depth_left);

  /// An object with its keys in byte order, as Go writes a map.
  bool object(const boost::json::object& o, std::size_t depth_left);

  void raw(std::string_view text) { out_.append(text); }
  void raw(char c) { out_.push_back(c); }

 private:
  // A double of at least 2^53 (and below 1e21) in Go's fixed format.
  void large_integer(double v);

  std::string& out_;
};

}  // namespace flowstore::detail
