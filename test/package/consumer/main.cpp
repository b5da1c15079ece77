// A program outside the flowstore tree. The package tests build it three ways (against the
// installed CMake package, through add_subdirectory, with pkg-config's flags) and check what it
// prints. Without arguments it needs no server: it validates and encodes a flow, catches an
// exception the library throws, and fails to connect to a port nobody listens on (a coroutine
// of the library on this program's io_context). With a server URL it also connects.
//
//   consumer [nats://127.0.0.1:4222]
#include <flowstore/flowstore.hpp>  // the umbrella header: the whole API

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/json/value.hpp>
#include <boost/json/value_to.hpp>

#include <chrono>
#include <iostream>
#include <string>

namespace asio = boost::asio;

asio::awaitable<void> connect_and_close(std::string url) {
  flowstore::connect_options options;
  options.servers = {std::move(url)};
  auto conn = co_await flowstore::connect(co_await asio::this_coro::executor, std::move(options));
  if (!conn) {
    std::cout << "connect failed: " << conn.error().what() << '\n';
    co_return;
  }
  std::cout << "connected\n";
  co_await conn->close();
}

// Nothing listens on port 1: connect must fail with a transient error, not hang or crash.
asio::awaitable<void> connect_refused() {
  flowstore::connect_options options;
  options.servers = {"nats://127.0.0.1:1"};
  options.connect_timeout = std::chrono::milliseconds(500);
  auto conn = co_await flowstore::connect(co_await asio::this_coro::executor, std::move(options));
  if (conn) {
    std::cout << "connected to port 1\n";
  } else if (conn.error() == flowstore::condition::transient) {
    std::cout << "connect refused: transient\n";
  } else {
    std::cout << "connect refused: " << conn.error().what() << '\n';
  }
}

int main(int argc, char** argv) {
  std::cout << "flowstore " << flowstore::version() << '\n';

  flowstore::flow f;
  f.id = "consumer";
  f.name = "Package consumer";
  f.state = flowstore::runtime_state::not_deployed;
  if (auto valid = flowstore::validate(f); !valid) {
    std::cout << "invalid: " << valid.error().what() << '\n';
    return 1;
  }
  auto json = flowstore::to_json(f);
  if (!json) {
    std::cout << "not encoded: " << json.error().what() << '\n';
    return 1;
  }
  std::cout << *json << '\n';

  // Thrown inside the library (value_to of a value that is not a flow), caught here by type; its
  // code is of the library's one error category.
  try {
    (void)boost::json::value_to<flowstore::flow>(boost::json::value(42));
    std::cout << "no exception\n";
  } catch (const flowstore::exception& e) {
    const bool ours = &e.code().category() == &flowstore::error_category();
    std::cout << "caught flowstore::exception" << (ours ? "" : " of another category") << '\n';
  }

  {
    asio::io_context io;
    asio::co_spawn(io, connect_refused(), asio::detached);
    io.run();
  }

  if (argc > 1) {
    asio::io_context io;
    asio::co_spawn(io, connect_and_close(argv[1]), asio::detached);
    io.run();
  }
  return 0;
}
