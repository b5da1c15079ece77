// JSON parsing that refuses what Boost.JSON would silently accept: duplicated object keys
// (Boost keeps the last one, which would hide a corrupt or tampered document), text after
// the document, and numbers beyond the range of a double (Boost makes them infinite). Like
// Go, it reads "-0" as the double -0, so that it is written back as "-0", and rounds every
// other non-integer number correctly (Boost 1.81 may be off by one unit in the last place).
#pragma once

#include <boost/json/storage_ptr.hpp>
#include <boost/json/value.hpp>
#include <boost/json/value_stack.hpp>

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace flowstore::detail {

/// Parses one JSON document nested at most `max_depth` deep, building it in `storage` (the
/// default heap when null). On failure returns nothing and sets `problem` to a short
/// description ("invalid JSON: …" or "duplicated object key").
std::optional<boost::json::value> parse_strict_json(std::string_view text, std::size_t max_depth, std::string& problem,
                                                    boost::json::storage_ptr storage = {});

/// The problem parse_strict_json() reports for a number beyond the range of a double.
inline constexpr std::string_view number_out_of_range_problem = "invalid JSON: a number is outside the range of a double";

/// Reads the numbers a boost::json::basic_parser reports as Go reads them. The parser may hand
/// a number's text over in parts: give every part but the last to part().
class number_reader {
 public:
  void part(std::string_view s) { parts_.append(s); }

  /// An integer literal ending in `last`: its value, or the double -0 for "-0".
  boost::json::value integer(std::int64_t i, std::string_view last);
  /// An unsigned integer literal beyond int64.
  boost::json::value unsigned_integer(std::uint64_t u);
  /// A literal with a fraction or exponent ending in `last`, correctly rounded (`boost_value`
  /// is the parser's reading); nothing when it is beyond the range of a double.
  std::optional<boost::json::value> floating(double boost_value, std::string_view last);

 private:
  std::string_view whole_text(std::string_view last);

  std::string parts_;  // the start of a number that arrives in parts
};

/// Builds a value from basic_parser events exactly as boost::json::parser does, with the
/// numbers of number_reader, and counts the object members the text held: Boost merges
/// duplicated keys while it builds an object, so the built value then holds fewer members.
class strict_value_builder {
 public:
  /// `temp` (may be null) is scratch space for the stack, so small values build without it
  /// allocating.
  strict_value_builder(unsigned char* temp, std::size_t temp_size) : stack_(boost::json::storage_ptr(), temp, temp_size) {}

  /// Starts a value built in `storage`.
  void reset(boost::json::storage_ptr storage) {
    stack_.reset(std::move(storage));
    members_in_text_ = 0;
  }

  void array_end(std::size_t n) { stack_.push_array(n); }
  void object_end(std::size_t n) {
    members_in_text_ += n;
    stack_.push_object(n);
  }
  void chars(std::string_view s) { stack_.push_chars(s); }
  void string(std::string_view s) { stack_.push_string(s); }
  void key(std::string_view s) { stack_.push_key(s); }
  void number_part(std::string_view s) { numbers_.part(s); }
  void int64(std::int64_t i, std::string_view last) { push_scalar(numbers_.integer(i, last)); }
  void uint64(std::uint64_t u) { push_scalar(numbers_.unsigned_integer(u)); }
  /// False when the number is beyond the range of a double.
  bool double_(double d, std::string_view last);
  void bool_(bool b) { stack_.push_bool(b); }
  void null() { stack_.push_null(); }

  /// The value built; `duplicated_keys` tells whether the text held a duplicated object key.
  boost::json::value release(bool& duplicated_keys);

 private:
  void push_scalar(const boost::json::value& v);

  boost::json::value_stack stack_;
  number_reader numbers_;
  std::size_t members_in_text_ = 0;
};

}  // namespace flowstore::detail
