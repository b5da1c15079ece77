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

namespace json = boost::json;

namespace {

// Hands every parser event to a strict_value_builder.
struct strict_handler {
  static constexpr std::size_t max_object_size = json::object::max_size();
  static constexpr std::size_t max_array_size = json::array::max_size();
  static constexpr std::size_t max_key_size = json::string::max_size();
  static constexpr std::size_t max_string_size = json::string::max_size();

  strict_handler(unsigned char* temp, std::size_t temp_size) : value(temp, temp_size) {}

  strict_value_builder value;
  bool number_out_of_range = false;

  bool on_document_begin(json::error_code&) { return true; }
  bool on_document_end(json::error_code&) { return true; }
  bool on_array_begin(json::error_code&) { return true; }
  bool on_array_end(std::size_t n, json::error_code&) {
    value.array_end(n);
    return true;
  }
  bool on_object_begin(json::error_code&) { return true; }
  bool on_object_end(std::size_t n, json::error_code&) {
    value.object_end(n);
    return true;
  }
  bool on_string_part(json::string_view s, std::size_t, json::error_code&) {
    value.chars(s);
    return true;
  }
  bool on_string(json::string_view s, std::size_t, json::error_code&) {
    value.string(s);
    return true;
  }
  bool on_key_part(json::string_view s, std::size_t, json::error_code&) {
    value.chars(s);
    return true;
  }
  bool on_key(json::string_view s, std::size_t, json::error_code&) {
    value.key(s);
    return true;
  }
  bool on_number_part(json::string_view s, json::error_code&) {
    value.number_part(s);
    return true;
  }
  bool on_int64(std::int64_t i, json::string_view s, json::error_code&) {
    value.int64(i, s);
    return true;
  }
  bool on_uint64(std::uint64_t u, json::string_view, json::error_code&) {
    value.uint64(u);
    return true;
  }
  bool on_double(double d, json::string_view s, json::error_code& ec) {
    if (value.double_(d, s)) return true;
    number_out_of_range = true;
    ec = json::error::exponent_overflow;
    return false;
  }
  bool on_bool(bool b, json::error_code&) {
    value.bool_(b);
    return true;
  }
  bool on_null(json::error_code&) {
    value.null();
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

std::string_view number_reader::whole_text(std::string_view last) {
  if (parts_.empty()) return last;
  parts_.append(last);
  return parts_;
}

json::value number_reader::integer(std::int64_t i, std::string_view last) {
  // Go reads "-0" as the float64 -0 and writes it back as "-0"; Boost makes it the integer 0.
  const bool negative_zero = i == 0 && whole_text(last).starts_with('-');
  parts_.clear();
  if (negative_zero) return json::value(-0.0);
  return json::value(i);
}

json::value number_reader::unsigned_integer(std::uint64_t u) {
  parts_.clear();
  return json::value(u);
}

std::optional<json::value> number_reader::floating(double boost_value, std::string_view last) {
  // Boost's conversion is not always correctly rounded ("-9.223372036823457e+30" becomes
  // the double below), so a number would not read back as the double written for it;
  // from_chars rounds correctly, as Go does.
  const std::string_view text = whole_text(last);
  double exact = 0;
  const auto [end, parse_ec] = std::from_chars(text.data(), text.data() + text.size(), exact);
  const bool negative = text.starts_with('-');
  const bool parsed_whole = parse_ec == std::errc() && end == text.data() + text.size();
  parts_.clear();
  if (parse_ec == std::errc::result_out_of_range) {
    // Beyond the double range (1e400): Boost makes it infinite, which no encoder can write
    // back; Go refuses it. Underflow Go reads as zero.
    if (std::fabs(boost_value) >= 1) return std::nullopt;
    exact = negative ? -0.0 : 0.0;
  } else if (!parsed_whole) {
    exact = boost_value;  // not expected for text the parser accepted as a number
  }
  return json::value(exact);
}

void strict_value_builder::push_scalar(const json::value& v) {
  if (v.is_int64()) {
    stack_.push_int64(v.get_int64());
  } else if (v.is_uint64()) {
    stack_.push_uint64(v.get_uint64());
  } else {
    stack_.push_double(v.get_double());
  }
}

bool strict_value_builder::double_(double d, std::string_view last) {
  auto v = numbers_.floating(d, last);
  if (!v) return false;
  stack_.push_double(v->get_double());
  return true;
}

json::value strict_value_builder::release(bool& duplicated_keys) {
  json::value v = stack_.release();
  duplicated_keys = members_in_tree(v) != members_in_text_;
  return v;
}

std::optional<boost::json::value> parse_strict_json(std::string_view text, std::size_t max_depth, std::string& problem,
                                                    boost::json::storage_ptr storage) {
  json::parse_options options;
  options.max_depth = max_depth;
  unsigned char temp[4096];
  json::basic_parser<strict_handler> parser(options, temp, sizeof temp);
  parser.handler().value.reset(std::move(storage));
  json::error_code ec;
  const std::size_t consumed = parser.write_some(false, text.data(), text.size(), ec);
  if (ec) {
    problem = parser.handler().number_out_of_range ? std::string(number_out_of_range_problem)
                                                   : "invalid JSON: " + ec.message();
    return std::nullopt;
  }
  if (consumed != text.size()) {
    problem = "invalid JSON: text after the document";
    return std::nullopt;
  }
  bool duplicated_keys = false;
  json::value root = parser.handler().value.release(duplicated_keys);
  if (duplicated_keys) {
    problem = "duplicated object key";
    return std::nullopt;
  }
  return root;
}

}  // namespace flowstore::detail
