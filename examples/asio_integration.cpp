// The store inside an ordinary Asio program: one io_context, one thread, running a ticking
// timer and a TCP echo server with its client while thousands of store operations are in
// flight. Nothing blocks the loop: the timer keeps ticking and echoes keep coming back.
//
//   asio_integration [nats://127.0.0.1:4222]
#include <flowstore/connection.hpp>
#include <flowstore/store.hpp>

#include "example_main.hpp"

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/read.hpp>
#include <boost/asio/redirect_error.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/write.hpp>

#include <chrono>
#include <iostream>

namespace asio = boost::asio;
using asio::ip::tcp;
using namespace std::chrono_literals;

struct activity {
  bool store_busy = true;
  int ticks = 0;
  std::chrono::steady_clock::duration worst_tick_delay{};
  int echoes = 0;
};

// Ticks every 5 ms and records how late each tick is: a blocked loop would show up here.
asio::awaitable<void> ticker(activity& seen) {
  asio::steady_timer timer(co_await asio::this_coro::executor);
  auto next = std::chrono::steady_clock::now();
  while (seen.store_busy) {
    next += 5ms;
    timer.expires_at(next);
    co_await timer.async_wait(asio::use_awaitable);
    seen.worst_tick_delay = std::max(seen.worst_tick_delay, std::chrono::steady_clock::now() - next);
    ++seen.ticks;
  }
}

asio::awaitable<void> echo_session(tcp::socket socket) {
  char data[64];
  try {
    while (true) {
      const std::size_t n = co_await socket.async_read_some(asio::buffer(data), asio::use_awaitable);
      co_await asio::async_write(socket, asio::buffer(data, n), asio::use_awaitable);
    }
  } catch (const std::exception&) {
    // The client went away.
  }
}

asio::awaitable<void> echo_server(tcp::acceptor& acceptor) {
  while (true) {
    tcp::socket socket = co_await acceptor.async_accept(asio::use_awaitable);
    asio::co_spawn(acceptor.get_executor(), echo_session(std::move(socket)), asio::detached);
  }
}

asio::awaitable<void> echo_client(tcp::endpoint server, activity& seen) {
  tcp::socket socket(co_await asio::this_coro::executor);
  co_await socket.async_connect(server, asio::use_awaitable);
  char reply[5];
  while (seen.store_busy) {
    co_await asio::async_write(socket, asio::buffer("ping", 5), asio::use_awaitable);
    co_await asio::async_read(socket, asio::buffer(reply), asio::use_awaitable);
    ++seen.echoes;
  }
}

// One of many concurrent store users: create a flow, then read it back a few times.
asio::awaitable<void> store_user(flowstore::store store, int n, int& completed, int& failed) {
  flowstore::flow f;
  f.id = "asio-integration." + std::to_string(n);
  f.name = "Flow " + std::to_string(n);
  auto created = co_await store.create(std::move(f));
  if (!created && created.error().code != flowstore::errc::already_exists) ++failed;
  for (int i = 0; i < 4; ++i) {
    auto read = co_await store.get("asio-integration." + std::to_string(n));
    read ? ++completed : ++failed;
  }
}

asio::awaitable<int> run(std::string url) {
  auto executor = co_await asio::this_coro::executor;
  auto opened = co_await example::connect_and_open(url);
  if (!opened) co_return 1;
  auto& [conn, store] = *opened;

  activity seen;
  tcp::acceptor acceptor(executor, {asio::ip::address_v4::loopback(), 0});
  asio::co_spawn(executor, echo_server(acceptor), asio::detached);
  asio::co_spawn(executor, echo_client(acceptor.local_endpoint(), seen), asio::detached);
  asio::co_spawn(executor, ticker(seen), asio::detached);

  // 2 000 users at once: 2 000 creates and 8 000 gets, all in flight on one connection.
  constexpr int users = 2000;
  int completed = 0;
  int failed = 0;
  int finished = 0;
  const auto start = std::chrono::steady_clock::now();
  asio::steady_timer all_done(executor, std::chrono::steady_clock::time_point::max());
  for (int n = 0; n < users; ++n) {
    asio::co_spawn(executor, store_user(store, n, completed, failed), [&](std::exception_ptr) {
      if (++finished == users) all_done.cancel();
    });
  }
  boost::system::error_code ignored;
  co_await all_done.async_wait(asio::redirect_error(asio::use_awaitable, ignored));
  const auto elapsed = std::chrono::steady_clock::now() - start;
  seen.store_busy = false;
  acceptor.close();

  const auto ms = [](auto d) { return std::chrono::duration_cast<std::chrono::milliseconds>(d).count(); };
  std::cout << "store: " << completed << " gets completed, " << failed << " failed, in " << ms(elapsed) << " ms\n"
            << "meanwhile on the same thread: " << seen.ticks << " timer ticks (worst delay "
            << ms(seen.worst_tick_delay) << " ms), " << seen.echoes << " TCP echoes\n";
  co_await conn.close();
  co_return failed == 0 && seen.ticks > 0 && seen.echoes > 0 ? 0 : 1;
}

int main(int argc, char** argv) { return example::run_to_completion(run(example::server_url(argc, argv))); }
