// A short program that ends while the library still has work on the wire, for the stress test
// of teardown: whatever it was doing last, no message may be left for nats.c to free after its
// collector has stopped (LeakSanitizer would report it).
//
//   flowstore-exit-probe URL MODE
//     full-watchers    20 watchers with a buffer of 4 fill up; all are stopped; main returns
//     watching         5 watchers get their first event; main returns with them running
//     cancelled-list   a list is cancelled a moment after it started; main returns
//     scans            10 histories and 5 lists start; main returns once the first is done
//     closed           like full-watchers, but the connection is closed before main returns
// None of them closes the connection but the last: destroying it is the exit-time shutdown.
#include <flowstore/connection.hpp>
#include <flowstore/store.hpp>
#include <flowstore/watch.hpp>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/experimental/awaitable_operators.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>

#include <chrono>
#include <cstdio>
#include <memory>
#include <string>
#include <vector>

namespace asio = boost::asio;
using namespace std::chrono_literals;
using namespace asio::experimental::awaitable_operators;

namespace {

asio::awaitable<void> sleep_for(std::chrono::milliseconds d) {
  asio::steady_timer t(co_await asio::this_coro::executor, d);
  co_await t.async_wait(asio::use_awaitable);
}

// Keeps the objects alive until main returns, as a program's own state would.
struct leftovers {
  std::optional<flowstore::connection> conn;
  std::optional<flowstore::store> store;
  std::vector<flowstore::watcher> watchers;
};

asio::awaitable<int> probe(std::string url, std::string mode, leftovers& keep) {
  flowstore::connect_options options;
  options.servers = {url};
  auto conn = co_await flowstore::connect(co_await asio::this_coro::executor, options);
  if (!conn) {
    std::fprintf(stderr, "probe: %s\n", conn.error().what().c_str());
    co_return 3;
  }
  keep.conn.emplace(std::move(*conn));
  auto opened = co_await flowstore::store::open(*keep.conn);
  if (!opened) {
    std::fprintf(stderr, "probe: %s\n", opened.error().what().c_str());
    co_return 3;
  }
  keep.store.emplace(*opened);
  flowstore::store& s = *keep.store;

  if (mode == "full-watchers" || mode == "closed") {
    flowstore::watch_options o;
    o.buffer_capacity = 4;
    for (int i = 0; i < 20; ++i) keep.watchers.push_back(s.watch(">", o));
    for (int tries = 0; tries < 500; ++tries) {
      bool full = true;
      for (const auto& w : keep.watchers) full = full && w.buffered() >= w.capacity();
      if (full) break;
      co_await sleep_for(2ms);
    }
    for (auto& w : keep.watchers) w.stop();
    if (mode == "closed") co_await keep.conn->close();
    co_return 0;
  }
  if (mode == "watching") {
    for (int i = 0; i < 5; ++i) keep.watchers.push_back(s.watch());
    auto first = co_await keep.watchers.front().next();
    co_return first ? 0 : 3;
  }
  if (mode == "cancelled-list") {
    asio::steady_timer soon(co_await asio::this_coro::executor, 1ms);
    auto outcome = co_await (s.list() || soon.async_wait(asio::use_awaitable));
    (void)outcome;
    co_return 0;
  }
  if (mode == "scans") {
    auto first_done = std::make_shared<bool>(false);
    const auto executor = co_await asio::this_coro::executor;
    for (int i = 0; i < 15; ++i) {
      asio::co_spawn(
          executor,
          [](flowstore::store st, int n, std::shared_ptr<bool> done) -> asio::awaitable<void> {
            if (n < 10) {
              (void)co_await st.history("flow-" + std::to_string(n));
            } else {
              (void)co_await st.list();
            }
            *done = true;
          }(s, i, first_done),
          asio::detached);
    }
    while (!*first_done) co_await sleep_for(1ms);
    co_return 0;
  }
  std::fprintf(stderr, "probe: unknown mode %s\n", mode.c_str());
  co_return 1;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc != 3) {
    std::fprintf(stderr, "usage: flowstore-exit-probe URL MODE\n");
    return 1;
  }
  int code = 1;
  leftovers keep;
  {
    asio::io_context io;
    asio::co_spawn(io, probe(argv[1], argv[2], keep), [&](std::exception_ptr e, int result) {
      code = e ? 4 : result;
      io.stop();
    });
    io.run();
    // Returning now: the io_context goes first with work still on it, then the library's
    // objects, then its exit-time shutdown.
  }
  return code;
}
