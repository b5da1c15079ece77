#include "session.hpp"

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/this_coro.hpp>

#include <exception>
#include <iostream>
#include <utility>
#include <vector>

namespace flowstore::cli {

namespace {

// Workaround for a library race (docs/cli.md, "Library gaps"): when a closed connection is
// destroyed, the library's shutdown job may delete the callback hub while nats.c's closed
// callback is about to lock it again (lib/nats/connection_impl.cpp, on_closed), which
// corrupts the heap or deadlocks in about 1 run in 100. The tool therefore never destroys a
// connection: it closes it (every write is answered by then), keeps it here, and main() ends
// the process with std::_Exit, so that no destructor of the library runs at exit either.
void keep_until_exit(connection conn) {
  static auto* kept = new std::vector<connection>();
  kept->push_back(std::move(conn));
}

asio::awaitable<int> session(server_settings settings, store_command command,
                             std::function<void(const connection_event&)> on_event) {
  connect_options options = make_connect_options(settings);
  options.on_event = std::move(on_event);
  auto executor = co_await asio::this_coro::executor;
  auto conn = co_await flowstore::connect(executor, std::move(options));
  if (!conn) co_return report(conn.error());

  store_options bucket;
  bucket.bucket = settings.bucket;
  auto opened = co_await store::open(*conn, std::move(bucket));
  if (!opened) {
    const int code = report(opened.error());
    co_await conn->close();
    keep_until_exit(std::move(*conn));
    co_return code;
  }
  asio::awaitable<int> run = command(*opened, *conn);
  const int code = co_await std::move(run);
  // Closing waits until nothing of nats.c can call back: every write has been answered.
  co_await conn->close();
  keep_until_exit(std::move(*conn));
  co_return code;
}

}  // namespace

int run_with_store(const server_settings& settings, store_command command,
                   std::function<void(const connection_event&)> on_event) {
  // Not destroyed either: the kept connection's strand and timer belong to it (see above).
  auto& io = *new asio::io_context();
  int code = exit_fatal;
  asio::co_spawn(io, session(settings, std::move(command), std::move(on_event)),
                 [&code](std::exception_ptr failure, int result) {
                   if (!failure) {
                     code = result;
                     return;
                   }
                   try {
                     std::rethrow_exception(failure);
                   } catch (const std::exception& e) {
                     code = report(std::string("internal error: ") + e.what(), exit_fatal);
                   } catch (...) {
                     code = report("internal error", exit_fatal);
                   }
                 });
  io.run();
  std::cout.flush();
  return code;
}

}  // namespace flowstore::cli
