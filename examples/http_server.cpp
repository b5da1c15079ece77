// A read-only HTTP/1.1 endpoint over a store, with Boost.Beast: one coroutine per connection on
// the io_context that also runs the store.
//
//   GET /flows        200 [{"id":…,"name":…,"version":…}, …]
//   GET /flows/{id}   200 the stored document, or 404 {"error":"…"}
//
// Every other request is 404. The flow-builder backend with every route, deploys and streams
// is tools/flowstore-server; this is the pattern it builds on, small enough to copy.
//
//   http_server NATS_URL [PORT]      (listens on 127.0.0.1; port 0 picks a free one)
#include <flowstore/json.hpp>

#include "example_main.hpp"

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/redirect_error.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/core/tcp_stream.hpp>
#include <boost/beast/http.hpp>
#include <boost/json/array.hpp>
#include <boost/json/serialize.hpp>

#include <charconv>
#include <chrono>
#include <iostream>
#include <string>
#include <string_view>

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
using asio::ip::tcp;

namespace {

using response = http::response<http::string_body>;

response json_response(http::status status, std::string body) {
  response res{status, 11};
  res.set(http::field::content_type, "application/json");
  res.body() = std::move(body);
  res.prepare_payload();
  return res;
}

response error_response(http::status status, const std::string& message) {
  return json_response(status, boost::json::serialize(boost::json::object{{"error", message}}));
}

// The answer to one request. A store error is 404 when the flow does not exist, else 503 or
// 500 by its category.
asio::awaitable<response> answer(flowstore::store& store, const http::request<http::string_body>& req) {
  const std::string_view target = req.target();
  if (req.method() != http::verb::get || !target.starts_with("/flows")) {
    co_return error_response(http::status::not_found, "no such route");
  }
  if (target == "/flows") {
    auto listed = co_await store.list();
    if (!listed) co_return error_response(http::status::service_unavailable, listed.error().message);
    boost::json::array summary;
    for (const flowstore::flow& f : listed->flows) {
      summary.push_back({{"id", f.id}, {"name", f.name}, {"version", f.version}});
    }
    co_return json_response(http::status::ok, boost::json::serialize(summary));
  }
  if (!target.starts_with("/flows/")) co_return error_response(http::status::not_found, "no such route");
  auto got = co_await store.get(std::string(target.substr(7)));
  if (!got) {
    const auto status = got.error() == flowstore::errc::not_found ? http::status::not_found
                        : got.error() == flowstore::condition::transient ? http::status::service_unavailable
                                                                        : http::status::internal_server_error;
    co_return error_response(status, got.error().message);
  }
  co_return json_response(http::status::ok, *flowstore::to_json(*got));
}

asio::awaitable<void> serve_connection(flowstore::store store, tcp::socket socket) {
  beast::tcp_stream stream(std::move(socket));
  beast::flat_buffer buffer;
  while (true) {
    http::request<http::string_body> req;
    stream.expires_after(std::chrono::seconds(30));  // a client that says nothing is closed
    boost::system::error_code ec;
    co_await http::async_read(stream, buffer, req, asio::redirect_error(asio::use_awaitable, ec));
    if (ec) break;
    response res = co_await answer(store, req);
    res.keep_alive(req.keep_alive());
    co_await http::async_write(stream, res, asio::redirect_error(asio::use_awaitable, ec));
    if (ec || !res.keep_alive()) break;
  }
  boost::system::error_code ignored;
  stream.socket().shutdown(tcp::socket::shutdown_send, ignored);
}

asio::awaitable<int> run(std::string url, unsigned short port) {
  auto session = co_await example::connect_and_open(std::move(url));
  if (!session) co_return 1;
  auto executor = co_await asio::this_coro::executor;
  tcp::acceptor acceptor(executor, {asio::ip::make_address("127.0.0.1"), port});
  std::cout << "listening on http://127.0.0.1:" << acceptor.local_endpoint().port() << std::endl;
  while (true) {
    auto [ec, socket] = co_await acceptor.async_accept(asio::as_tuple(asio::use_awaitable));
    if (ec) {  // out of descriptors, say: the connection waits in the backlog; try again soon
      asio::steady_timer pause(executor, std::chrono::milliseconds(100));
      co_await pause.async_wait(asio::as_tuple(asio::use_awaitable));
      continue;
    }
    asio::co_spawn(executor, serve_connection(session->store, std::move(socket)), asio::detached);
  }
}

}  // namespace

int main(int argc, char** argv) {
  unsigned short port = 8080;
  if (argc > 2) {
    const std::string_view text = argv[2];
    const auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), port);
    if (ec != std::errc() || end != text.data() + text.size()) {
      std::cerr << "usage: http_server NATS_URL [PORT]   (PORT: 0 to 65535)\n";
      return 1;
    }
  }
  return example::run_to_completion(run(example::server_url(argc, argv), port));
}
