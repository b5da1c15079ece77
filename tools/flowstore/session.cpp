#include "session.hpp"

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/this_coro.hpp>

#include <exception>
#include <iostream>
#include <utility>
#include <vector>

namespace flowstore::cli {

namespace asio = boost::asio;

namespace {

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
    co_return code;
  }
  asio::awaitable<int> run = command(*opened, *conn);
  const int code = co_await std::move(run);
  // Closing waits until nothing of nats.c can call back: every write has been answered.
  co_await conn->close();
  co_return code;
}

}  // namespace

int run_with_store(const server_settings& settings, store_command command,
                   std::function<void(const connection_event&)> on_event) {
  asio::io_context io;
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
