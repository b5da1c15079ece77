#include "http.hpp"

#include <flowstore/json.hpp>

#include <boost/json/basic_parser_impl.hpp>
#include <boost/json/value.hpp>

namespace flowstore::server {

response json_response(http::status status, std::string body) {
  response res{status, 11};
  res.set(http::field::content_type, "application/json");
  // Go's encoder ends every body with a newline; clients that compare bodies expect it.
  if (body.empty() || body.back() != '\n') body += '\n';
  res.body() = std::move(body);
  res.prepare_payload();
  return res;
}

std::string json_string(std::string_view text) {
  // Go's escaping (HTML-safe, U+2028/2029), so that what the server writes matches Go's bytes.
  auto encoded = to_go_json(boost::json::value(boost::json::string_view(text.data(), text.size())));
  return encoded ? std::move(*encoded) : std::string("\"\"");
}

namespace {

// A SAX handler that keeps nothing: the parser checks the syntax, the handler only says yes.
struct syntax_only {
  static constexpr std::size_t max_object_size = static_cast<std::size_t>(-1);
  static constexpr std::size_t max_array_size = static_cast<std::size_t>(-1);
  static constexpr std::size_t max_key_size = static_cast<std::size_t>(-1);
  static constexpr std::size_t max_string_size = static_cast<std::size_t>(-1);
  using ec = boost::json::error_code;
  using sv = boost::json::string_view;
  bool on_document_begin(ec&) { return true; }
  bool on_document_end(ec&) { return true; }
  bool on_object_begin(ec&) { return true; }
  bool on_object_end(std::size_t, ec&) { return true; }
  bool on_array_begin(ec&) { return true; }
  bool on_array_end(std::size_t, ec&) { return true; }
  bool on_key_part(sv, std::size_t, ec&) { return true; }
  bool on_key(sv, std::size_t, ec&) { return true; }
  bool on_string_part(sv, std::size_t, ec&) { return true; }
  bool on_string(sv, std::size_t, ec&) { return true; }
  bool on_number_part(sv, ec&) { return true; }
  bool on_int64(std::int64_t, sv, ec&) { return true; }
  bool on_uint64(std::uint64_t, sv, ec&) { return true; }
  bool on_double(double, sv, ec&) { return true; }
  bool on_bool(bool, ec&) { return true; }
  bool on_null(ec&) { return true; }
  bool on_comment_part(sv, ec&) { return true; }
  bool on_comment(sv, ec&) { return true; }
};

}  // namespace

bool is_json_object(std::string_view text) {
  const auto first = text.find_first_not_of(" \t\r\n");
  if (first == std::string_view::npos || text[first] != '{') return false;
  boost::json::parse_options options;
  options.max_depth = 10000;  // as deep as the library and the Go package read
  boost::json::basic_parser<syntax_only> parser(options);
  boost::json::error_code ec;
  parser.write_some(false, text.data(), text.size(), ec);
  return !ec && parser.done();
}

response error_response(http::status status, std::string_view message) {
  return json_response(status, "{\"error\":" + json_string(message) + "}");
}

http::status status_for(const flowstore::error& e) {
  if (e == errc::not_found) return http::status::not_found;
  if (e == errc::already_exists || e == errc::conflict || e == errc::invalid_state) return http::status::conflict;
  if (e == errc::too_large) return http::status::payload_too_large;
  if (e == condition::invalid) return http::status::bad_request;
  if (e == condition::transient) return http::status::service_unavailable;
  // Fatal: what the store holds or the configuration is wrong, not the request.
  return e == errc::corrupt_data ? http::status::bad_gateway : http::status::internal_server_error;
}

response error_response(const flowstore::error& e) {
  response res = error_response(status_for(e), e.message);
  if (e.code == condition::transient) res.set(http::field::retry_after, "1");
  return res;
}

target_parts split_target(std::string_view target) {
  const auto question = target.find('?');
  if (question == std::string_view::npos) return {target, {}};
  return {target.substr(0, question), target.substr(question + 1)};
}

std::optional<std::string> percent_decode(std::string_view text) {
  std::string out;
  out.reserve(text.size());
  auto hex = [](char c) -> int {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
  };
  for (std::size_t i = 0; i < text.size(); ++i) {
    if (text[i] != '%') {
      out += text[i];
      continue;
    }
    if (i + 2 >= text.size()) return std::nullopt;
    const int high = hex(text[i + 1]);
    const int low = hex(text[i + 2]);
    if (high < 0 || low < 0) return std::nullopt;
    out += static_cast<char>(high * 16 + low);
    i += 2;
  }
  return out;
}

std::optional<std::string> query_value(std::string_view query, std::string_view name) {
  while (!query.empty()) {
    const auto amp = query.find('&');
    const std::string_view pair = query.substr(0, amp);
    query = amp == std::string_view::npos ? std::string_view() : query.substr(amp + 1);
    const auto eq = pair.find('=');
    if (pair.substr(0, eq) != name) continue;
    if (eq == std::string_view::npos) return std::string();
    std::string value(pair.substr(eq + 1));
    for (char& c : value) {
      if (c == '+') c = ' ';
    }
    auto decoded = percent_decode(value);
    return decoded ? std::move(*decoded) : std::optional<std::string>();
  }
  return std::nullopt;
}

}  // namespace flowstore::server
