// Scale without threads or unbounded memory, against a real nats-server: 10 000 watchers on one
// connection, watchers that never read while a large flow changes thousands of times, and 2000
// concurrent scans. Each test asserts what must hold (no thread added, what the server sent,
// every scan complete) and prints its figures (times, threads, RSS); speed targets are checked
// by flowstore-bench, not here.
#include <flowstore/connection.hpp>
#include <flowstore/store.hpp>
#include <flowstore/watch.hpp>

#include "support/async.hpp"
#include "support/flowstore_client.hpp"
#include "support/nats_server.hpp"

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>

#include <catch2/catch.hpp>

#include <nats.h>

#include <chrono>
#include <fstream>
#include <iostream>
#include <memory>
#include <string>
#include <vector>

namespace {

namespace asio = boost::asio;
using namespace std::chrono_literals;
using namespace flowstore::test;
using clock_type = std::chrono::steady_clock;
using kind = flowstore::flow_event::kind;

// A field of /proc/self/status ("Threads", "VmRSS" in kB).
long status_field(const std::string& name) {
  std::ifstream in("/proc/self/status");
  for (std::string line; std::getline(in, line);) {
    if (line.rfind(name + ":", 0) == 0) return std::stol(line.substr(name.size() + 1));
  }
  FAIL("no " << name << " in /proc/self/status");
  return 0;
}

double seconds_since(clock_type::time_point start) {
  return std::chrono::duration<double>(clock_type::now() - start).count();
}

asio::awaitable<void> pause_for(std::chrono::milliseconds d) {
  asio::steady_timer timer(co_await asio::this_coro::executor, d);
  co_await timer.async_wait(asio::use_awaitable);
}

flowstore::flow flow_of_size(std::string id, std::size_t bytes) {
  flowstore::flow f;
  f.id = std::move(id);
  f.name = "scale";
  f.description = std::string(bytes, 'x');
  return f;
}

struct fan_out {
  int ready = 0;    // watchers past their initial values
  int reached = 0;  // watchers that saw the write
  int failed = 0;
  std::uint64_t revision = 0;  // the write to wait for
};

asio::awaitable<void> follow(flowstore::watcher* w, fan_out* state) {
  for (;;) {
    auto event = co_await w->next();
    if (!event) {
      if (event.error().code != flowstore::errc::closed) ++state->failed;
      co_return;
    }
    if (event->type == kind::initial_values_done) {
      ++state->ready;
    } else if (state->revision != 0 && event->revision == state->revision) {
      ++state->reached;
      co_return;
    }
  }
}

asio::awaitable<void> wait_until(std::function<bool()> done, std::chrono::seconds limit, const char* what) {
  const auto give_up = clock_type::now() + limit;
  while (!done()) {
    INFO(what);
    REQUIRE(clock_type::now() < give_up);
    co_await pause_for(2ms);
  }
}

}  // namespace

TEST_CASE("scale: 10000 watchers on one connection add no thread and one write reaches them all", "[scale]") {
  nats_server server;
  run_async(
      [&](asio::io_context&) -> asio::awaitable<void> {
        auto conn = co_await connect_to(server);
        auto s = co_await open_store(conn);
        auto created = co_await s.create(flow_of_size("fan", 200));
        REQUIRE_OK(created);
        const auto executor = co_await asio::this_coro::executor;
        fan_out state;
        // One watcher and one list first: every thread nats.c and the library start lazily runs.
        std::vector<flowstore::watcher> watchers;
        watchers.reserve(10000);
        watchers.push_back(s.watch());
        asio::co_spawn(executor, follow(&watchers.back(), &state), asio::detached);
        co_await wait_until([&] { return state.ready == 1; }, 30s, "the first watcher");
        auto listed = co_await s.list();
        REQUIRE_OK(listed);
        const long threads_before = status_field("Threads");

        const auto setup_started = clock_type::now();
        for (int i = 1; i < 10000; ++i) {
          watchers.push_back(s.watch());
          asio::co_spawn(executor, follow(&watchers.back(), &state), asio::detached);
        }
        co_await wait_until([&] { return state.ready + state.failed == 10000; }, 120s, "10000 watchers ready");
        const double setup_seconds = seconds_since(setup_started);
        const long threads_after = status_field("Threads");
        REQUIRE(state.failed == 0);

        auto next = *created;
        next.description = "the write every watcher waits for";
        const auto written_at = clock_type::now();
        auto updated = co_await s.update(std::move(next));
        REQUIRE_OK(updated);
        state.revision = updated->revision;
        co_await wait_until([&] { return state.reached + state.failed == 10000; }, 120s, "the write reaching all");
        const double fan_out_seconds = seconds_since(written_at);
        std::cout << "[scale] 10000 watchers: threads " << threads_before << " before, " << threads_after
                  << " after; set up in " << setup_seconds << " s; one write reached all in " << fan_out_seconds << " s"
                  << std::endl;
        CHECK(state.failed == 0);
        CHECK(state.reached == 10000);
        CHECK(threads_after == threads_before);
        for (auto& w : watchers) w.stop();
      },
      300s);
}

TEST_CASE(
    "scale: 20 watchers that never read are sent no more than their buffers while a 24 KB flow changes 4000 times",
    "[scale]") {
  nats_server server;
  run_async(
      [&](asio::io_context&) -> asio::awaitable<void> {
        auto conn = co_await connect_to(server);
        flowstore::store_options options;
        options.history = 64;
        auto s = co_await open_store(conn, std::move(options));
        auto current = co_await s.create(flow_of_size("big", 24 * 1024));
        REQUIRE_OK(current);
        const long rss_before = status_field("VmRSS");
        flowstore::watch_options watch_opts;
        watch_opts.buffer_capacity = 64;
        std::vector<flowstore::watcher> watchers;
        for (int i = 0; i < 20; ++i) watchers.push_back(s.watch("big", watch_opts));
        // The current value and the marker; from then on the watchers take nothing. (Their first
        // fetch delivered the current value, so it waits on the server for the changes.)
        for (auto& w : watchers) {
          auto initial = co_await w.next();
          REQUIRE_OK(initial);
          REQUIRE(initial->revision == current->revision);
          auto marker = co_await w.next();
          REQUIRE_OK(marker);
          REQUIRE(marker->type == kind::initial_values_done);
        }
        flowstore::flow f = *current;
        long rss_peak = rss_before;
        for (int i = 0; i < 4000; ++i) {
          f.description[static_cast<std::size_t>(i) % f.description.size()] = 'y';
          auto updated = co_await s.update(f);
          REQUIRE_OK(updated);
          f = std::move(updated).value();
          if (i % 250 == 0) rss_peak = std::max(rss_peak, status_field("VmRSS"));
        }
        // Whatever the server could send has arrived by now (a round trip after the last write).
        auto probe = co_await s.get("big");
        REQUIRE_OK(probe);
        co_await pause_for(200ms);
        rss_peak = std::max(rss_peak, status_field("VmRSS"));
        std::size_t buffered = 0, peak = 0;
        for (const auto& w : watchers) {
          buffered += w.buffered();
          peak = std::max(peak, w.peak_buffered());
        }
        std::cout << "[scale] 20 non-reading watchers (buffer 64) over a 24 KB flow updated 4000 times: " << buffered
                  << " events buffered in all, at most " << peak << " per watcher; RSS grew by "
                  << static_cast<double>(rss_peak - rss_before) / 1024.0
                  << " MB (bound by construction: 20 x 64 x 24 KB = 30 MB)" << std::endl;
        // Each watcher holds exactly what it asked for, and the oldest events: it sees the first
        // 64 changes in order when it reads.
        CHECK(buffered == 20 * 64);
        CHECK(peak == 64);
        auto first = co_await watchers[0].next();
        REQUIRE_OK(first);
        CHECK(first->revision == current->revision + 1);
        for (auto& w : watchers) w.stop();
      },
      300s);
}

TEST_CASE("scale: 1000 lists and 1000 histories at once over 500 flows all complete", "[scale]") {
  nats_server server;
  run_async(
      [&](asio::io_context&) -> asio::awaitable<void> {
        auto conn = co_await connect_to(server);
        auto s = co_await open_store(conn);
        for (int i = 0; i < 500; ++i) {
          auto created = co_await s.create(flow_of_size("scan" + std::to_string(i), 500));
          REQUIRE_OK(created);
          auto again = *created;
          again.name = "updated";
          REQUIRE_OK(co_await s.update(std::move(again)));
        }
        struct tally {
          int lists = 0, histories = 0, failed = 0;
          double longest = 0;
          std::string first_failure;
        } t;
        const auto executor = co_await asio::this_coro::executor;
        const long threads_before = status_field("Threads");
        const auto started = clock_type::now();
        int running = 2000;
        for (int i = 0; i < 2000; ++i) {
          asio::co_spawn(
              executor,
              [](flowstore::store st, int n, tally* out, int* left) -> asio::awaitable<void> {
                const auto began = clock_type::now();
                bool ok = false;
                std::string why;
                if (n % 2 == 0) {
                  auto listed = co_await st.list();
                  ok = listed && listed->flows.size() == 500;
                  if (!listed) why = listed.error().what();
                  if (ok) ++out->lists;
                } else {
                  auto history = co_await st.history("scan" + std::to_string(n % 500));
                  ok = history && history->size() == 2;
                  if (!history) why = history.error().what();
                  if (ok) ++out->histories;
                }
                out->longest = std::max(out->longest, seconds_since(began));
                if (!ok) {
                  ++out->failed;
                  if (out->first_failure.empty()) out->first_failure = why.empty() ? "incomplete" : why;
                }
                --*left;
              }(s, i, &t, &running),
              asio::detached);
        }
        long threads_peak = threads_before;
        while (running > 0) {
          threads_peak = std::max(threads_peak, status_field("Threads"));
          co_await pause_for(5ms);
        }
        const double all_seconds = seconds_since(started);
        std::cout << "[scale] 1000 lists + 1000 histories over 500 flows: " << t.lists << " lists and " << t.histories
                  << " histories complete, " << t.failed << " failed; " << all_seconds << " s in all, the longest "
                  << t.longest << " s; threads " << threads_before << " before, at most " << threads_peak
                  << " meanwhile" << std::endl;
        INFO("first failure: " << t.first_failure);
        CHECK(t.failed == 0);
        CHECK(t.lists == 1000);
        CHECK(t.histories == 1000);
        CHECK(threads_peak == threads_before);
      },
      600s);
}
