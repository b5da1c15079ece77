#include "model/strict_json.hpp"

#include <boost/json/basic_parser_impl.hpp>
#include <boost/json/parse_options.hpp>
#include <boost/json/value_stack.hpp>

#include <boost/container/small_vector.hpp>

#include <charconv>
#include <cmath>
#include <cstdint>
#include <string>
#include <string_view>
#include <system_error>
#include <vector>

namespace flowstore::detail {

namespace {

namespace json = boost::json;

// Builds the value exactly as boost::json::parser does, and counts the members the text held.
// Boost merges duplicated keys while building an object, so the built tree then holds fewer
// members than were counted: one sum to compare instead of a key set per object.
struct counting_handler {
  static constexpr std::size_t max_object_size = json::object::max_size();
  static constexpr std::size_t max_array_size = json::array::max_size();
  static constexpr std::size_t max_key_size = json::string::max_size();
  static constexpr std::size_t max_string_size = json::string::max_size();

  // `temp` (may be null) is scratch space for the stack, so small documents build without it
  // allocating, as boost::json::parse does with its own stack buffer.
  counting_handler(unsigned char* temp, std::size_t temp_size) : stack(json::storage_ptr(), temp, temp_size) {}

  json::value_stack stack;
  std::size_t members_in_text = 0;
  bool number_out_of_range = false;
  std::string number_parts;  // the start of a number that arrives in parts

  // The whole text of the number whose last part is `last`; call once per number.
  std::string_view number_text(json::string_view last) {
    if (number_parts.empty()) return {last.data(), last.size()};
    number_parts.append(last.data(), last.size());
    return number_parts;
  }
  void end_number() { number_parts.clear(); }

  bool on_document_begin(json::error_code&) { return true; }
  bool on_document_end(json::error_code&) { return true; }
  bool on_array_begin(json::error_code&) { return true; }
  bool on_array_end(std::size_t n, json::error_code&) {
    stack.push_array(n);
    return true;
  }
  bool on_object_begin(json::error_code&) { return true; }
  bool on_object_end(std::size_t n, json::error_code&) {
    members_in_text += n;
    stack.push_object(n);
    return true;
  }
  bool on_string_part(json::string_view s, std::size_t, json::error_code&) {
    stack.push_chars(s);
    return true;
  }
  bool on_string(json::string_view s, std::size_t, json::error_code&) {
    stack.push_string(s);
    return true;
  }
  bool on_key_part(json::string_view s, std::size_t, json::error_code&) {
    stack.push_chars(s);
    return true;
  }
  bool on_key(json::string_view s, std::size_t, json::error_code&) {
    stack.push_key(s);
    return true;
  }
  bool on_number_part(json::string_view s, json::error_code&) {
    number_parts.append(s.data(), s.size());
    return true;
  }
  bool on_int64(std::int64_t i, json::string_view s, json::error_code&) {
    // Go reads "-0" as the float64 -0 and writes it back as "-0"; Boost makes it the integer 0.
    if (i == 0 && number_text(s).starts_with('-')) {
      stack.push_double(-0.0);
    } else {
      stack.push_int64(i);
    }
    end_number();
    return true;
  }
  bool on_uint64(std::uint64_t u, json::string_view, json::error_code&) {
    stack.push_uint64(u);
    end_number();
    return true;
  }
  bool on_double(double d, json::string_view s, json::error_code& ec) {
    // Boost's conversion is not always correctly rounded ("-9.223372036823457e+30" becomes
    // the double below), so a number would not read back as the double written for it;
    // from_chars rounds correctly, as Go does.
    const std::string_view text = number_text(s);
    double exact = 0;
    const auto [end, parse_ec] = std::from_chars(text.data(), text.data() + text.size(), exact);
    const bool negative = text.starts_with('-');
    const bool parsed_whole = parse_ec == std::errc() && end == text.data() + text.size();
    end_number();
    if (parse_ec == std::errc::result_out_of_range) {
      if (std::fabs(d) < 1) {
        exact = negative ? -0.0 : 0.0;  // underflow: Go reads it as zero too
      } else {
        // Beyond the double range (1e400): Boost makes it infinite, which no encoder can
        // write back; Go refuses it.
        number_out_of_range = true;
        ec = json::error::exponent_overflow;
        return false;
      }
    } else if (!parsed_whole) {
      exact = d;  // not expected for text the parser accepted as a number
    }
    stack.push_double(exact);
    return true;
  }
  bool on_bool(bool b, json::error_code&) {
    stack.push_bool(b);
    return true;
  }
  bool on_null(json::error_code&) {
    stack.push_null();
    return true;
  }
  bool on_comment_part(json::string_view, json::error_code&) { return true; }
  bool on_comment(json::string_view, json::error_code&) { return true; }
};

// Members of every object in the tree; iterative, so depth costs no stack.
std::size_t members_in_tree(const json::value& root) {
  std::size_t members = 0;
  boost::container::small_vector<const json::value*, 32> pending{&root};
  while (!pending.empty()) {
    const json::value* v = pending.back();
    pending.pop_back();
    if (const auto* object = v->if_object()) {
      members += object->size();
      for (const auto& member : *object) {
        if (member.value().is_structured()) pending.push_back(&member.value());
      }
    } else if (const auto* array = v->if_array()) {
      for (const auto& element : *array) {
        if (element.is_structured()) pending.push_back(&element);
      }
    }
  }
  return members;
}

}  // namespace

std::optional<boost::json::value> parse_strict_json(std::string_view text, std::size_t max_depth, std::string& problem,
                                                    boost::json::storage_ptr storage) {
  json::parse_options options;
  options.max_depth = max_depth;
  unsigned char temp[4096];
  json::basic_parser<counting_handler> parser(options, temp, sizeof temp);
  parser.handler().stack.reset(std::move(storage));
  json::error_code ec;
  const std::size_t consumed = parser.write_some(false, text.data(), text.size(), ec);
  if (ec) {
    problem = parser.handler().number_out_of_range ? "invalid JSON: a number is outside the range of a double"
                                                   : "invalid JSON: " + ec.message();
    return std::nullopt;
  }
  if (consumed != text.size()) {
    problem = "invalid JSON: text after the document";
    return std::nullopt;
  }
  json::value root = parser.handler().stack.release();
  if (members_in_tree(root) != parser.handler().members_in_text) {
    problem = "duplicated object key";
    return std::nullopt;
  }
  return root;
}

}  // namespace flowstore::detail
