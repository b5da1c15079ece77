// What every example's main() does: take the NATS server URL from the command line and run
// the example's coroutine on a single-threaded io_context. Each example's own work is in its
// `run` coroutine; copy these few lines along with it.
#pragma once

#include <boost/asio/awaitable.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/io_context.hpp>

#include <exception>
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

}  // namespace example
