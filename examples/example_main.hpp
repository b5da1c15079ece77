// What every example starts with: take the NATS server URL from the command line, run the
// example's coroutine on a single-threaded io_context, connect and open the store. Each
// example's own work is in its `run` coroutine; copy these few lines along with it.
#pragma once

#include <flowstore/connection.hpp>
#include <flowstore/store.hpp>

#include <boost/asio/awaitable.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/this_coro.hpp>

#include <exception>
#include <iostream>
#include <optional>
#include <string>
#include <utility>

namespace example {

// The first command-line argument, or a local server.
inline std::string server_url(int argc, char** argv) { return argc > 1 ? argv[1] : "nats://127.0.0.1:4222"; }

// Runs `program` until it and everything it started have finished; its result is the exit
// code. An exception that escapes it ends the program.
inline int run_to_completion(boost::asio::awaitable<int> program) {
  boost::asio::io_context io(1);
  int exit_code = 1;
  boost::asio::co_spawn(io, std::move(program), [&](std::exception_ptr e, int code) {
    if (e) std::rethrow_exception(e);
    exit_code = code;
  });
  io.run();
  return exit_code;
}

// A connection and the store in the default bucket on it.
struct session {
  flowstore::connection conn;
  flowstore::store store;
};

// Connects to `url` and opens the store; on failure prints the error and returns nothing.
inline boost::asio::awaitable<std::optional<session>> connect_and_open(std::string url) {
  flowstore::connect_options options;
  options.servers = {std::move(url)};
  auto conn = co_await flowstore::connect(co_await boost::asio::this_coro::executor, std::move(options));
  if (!conn) {
    std::cerr << conn.error().what() << '\n';
    co_return std::nullopt;
  }
  auto store = co_await flowstore::store::open(*conn);
  if (!store) {
    std::cerr << store.error().what() << '\n';
    co_return std::nullopt;
  }
  std::optional<session> opened;
  opened.emplace(session{std::move(*conn), std::move(*store)});
  co_return opened;
}

}  // namespace example
