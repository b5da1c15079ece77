#include "model/strict_json.hpp"

#include <boost/json/basic_parser_impl.hpp>
#include <boost/json/parse_options.hpp>
#include <boost/json/value_stack.hpp>

#include <cstdint>
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

  json::value_stack stack;
  std::size_t members_in_text = 0;

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
  bool on_number_part(json::string_view, json::error_code&) { return true; }
  bool on_int64(std::int64_t i, json::string_view, json::error_code&) {
    stack.push_int64(i);
    return true;
  }
  bool on_uint64(std::uint64_t u, json::string_view, json::error_code&) {
    stack.push_uint64(u);
    return true;
  }
  bool on_double(double d, json::string_view, json::error_code&) {
    stack.push_double(d);
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
  std::vector<const json::value*> pending{&root};
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

std::optional<boost::json::value> parse_strict_json(std::string_view text, std::size_t max_depth,
                                                    std::string& problem) {
  json::parse_options options;
  options.max_depth = max_depth;
  json::basic_parser<counting_handler> parser(options);
  parser.handler().stack.reset();
  json::error_code ec;
  const std::size_t consumed = parser.write_some(false, text.data(), text.size(), ec);
  if (ec) {
    problem = "invalid JSON: " + ec.message();
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
