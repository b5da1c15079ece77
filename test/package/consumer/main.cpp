// A program outside the flowstore tree. The package tests build it three ways (against the
// installed CMake package, through add_subdirectory, with pkg-config's flags) and check what it
// prints. Without arguments it needs no server: it validates and encodes a flow. With a server
// URL it also connects, which is why even the serverless run links connect() and so nats.c.
//
//   consumer [nats://127.0.0.1:4222]
#include <flowstore/flowstore.hpp>  // the umbrella header: the whole API

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/this_coro.hpp>

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

  if (argc > 1) {
    asio::io_context io;
    asio::co_spawn(io, connect_and_close(argv[1]), asio::detached);
    io.run();
  }
  return 0;
}
