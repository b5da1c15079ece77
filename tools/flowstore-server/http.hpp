// HTTP types and helpers of flowstore-server (Boost.Beast), shared by the session, the routes
// and the streams.
#pragma once

#include "app.hpp"

#include <flowstore/error.hpp>

#include <boost/asio/awaitable.hpp>
#include <boost/beast/core/tcp_stream.hpp>
#include <boost/beast/http/message.hpp>
#include <boost/beast/http/string_body.hpp>

#include <optional>
#include <string>
#include <string_view>

namespace flowstore::server {

namespace beast = boost::beast;
namespace http = beast::http;

using request = http::request<http::string_body>;
using response = http::response<http::string_body>;

/// A JSON response (`application/json`).
response json_response(http::status status, std::string body);
/// `{"error":"<message>"}` with the status.
response error_response(http::status status, std::string_view message);
/// The status for a library error: invalid input 400/404/409/413, transient 503, fatal 500/502.
http::status status_for(const flowstore::error& e);
/// A library error as a response.
response error_response(const flowstore::error& e);
/// `text` as a JSON string, quotes included.
std::string json_string(std::string_view text);
/// Whether `text` is one well-formed JSON object (syntax only, nothing built): what a stored
/// document must be before the server sends it on unchanged inside its own JSON.
bool is_json_object(std::string_view text);

/// The target's path and its query, split.
struct target_parts {
  std::string_view path;
  std::string_view query;
};
target_parts split_target(std::string_view target);
/// `%XX` escapes decoded; nullopt when one is malformed.
std::optional<std::string> percent_decode(std::string_view text);
/// The value of `name` in a query string (`a=1&b=2`), percent-decoded; nullopt when absent.
std::optional<std::string> query_value(std::string_view query, std::string_view name);

/// The route handlers: every request that is not a stream.
asio::awaitable<response> handle_request(app& a, const request& req);

/// Whether the request is for a stream (the status WebSocket, the SSE routes).
bool is_stream_request(const request& req);
/// Serves a stream on the connection until it ends. Returns a response instead when the request
/// is refused before streaming (unknown flow, not an upgrade, …); nullopt once it has streamed.
asio::awaitable<std::optional<response>> serve_stream(app& a, beast::tcp_stream& stream, request req);

}  // namespace flowstore::server
