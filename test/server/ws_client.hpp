// A WebSocket client for the server tests (Boost.Beast), used inside run_async.
#pragma once

#include "server_fixture.hpp"

#include <boost/asio/awaitable.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/redirect_error.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/beast/core/buffers_to_string.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/core/tcp_stream.hpp>
#include <boost/beast/websocket.hpp>
#include <boost/json/object.hpp>

#include <optional>
#include <string>

namespace flowstore::test {

namespace websocket = boost::beast::websocket;

using ws_client = websocket::stream<boost::beast::tcp_stream>;

// Opens a WebSocket to `target` on the server; throws (failing the test) when the handshake fails.
inline boost::asio::awaitable<ws_client> ws_connect(int port, std::string target) {
  auto executor = co_await boost::asio::this_coro::executor;
  ws_client ws(executor);
  co_await boost::beast::get_lowest_layer(ws).async_connect(
      boost::asio::ip::tcp::endpoint(boost::asio::ip::make_address("127.0.0.1"), static_cast<unsigned short>(port)),
      boost::asio::use_awaitable);
  co_await ws.async_handshake("127.0.0.1:" + std::to_string(port), target, boost::asio::use_awaitable);
  co_return ws;
}

// The next text message as JSON, or nullopt once the server closed the WebSocket.
inline boost::asio::awaitable<std::optional<boost::json::object>> ws_next(ws_client& ws) {
  boost::beast::flat_buffer buffer;
  boost::system::error_code ec;
  co_await ws.async_read(buffer, boost::asio::redirect_error(boost::asio::use_awaitable, ec));
  if (ec) co_return std::nullopt;
  const std::string text = boost::beast::buffers_to_string(buffer.data());
  boost::json::value v = boost::json::parse(text, ec);
  INFO("message: " << text);
  REQUIRE_FALSE(ec);
  REQUIRE(v.is_object());
  co_return v.as_object();
}

// The next message of `type`, skipping others; nullopt once the server closed the WebSocket.
inline boost::asio::awaitable<std::optional<boost::json::object>> ws_next_of(ws_client& ws, std::string_view type) {
  while (true) {
    auto message = co_await ws_next(ws);
    if (!message) co_return message;
    const auto* t = message->if_contains("type");
    if (t != nullptr && t->is_string() && t->as_string() == type) co_return message;
  }
}

}  // namespace flowstore::test
