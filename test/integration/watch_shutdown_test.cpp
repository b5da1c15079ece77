// Integration tests of how a flowstore::watcher ends, against a real nats-server: cancellation,
// destruction, stop() and the connection's close().
#include "watch_test_support.hpp"

using namespace flowstore::test::watch_tests;

// =============================================================================================
// 12. cancellation, destruction and stop

TEST_CASE("watch: a next() that loses a race against a timer loses no event", "[watch]") {
  using namespace asio::experimental::awaitable_operators;
  nats_server server;
  run_async([&](asio::io_context& io) -> asio::awaitable<void> {
    std::vector<std::string> notes;  // connection events and gaps, reported on failure
    const auto started = clock_type::now();
    auto connect_opts = options_for(server);
    connect_opts.on_event = [&notes, started](const flowstore::connection_event& ev) {
      notes.push_back("connection event " + std::to_string(static_cast<int>(ev.what)) + " '" + ev.text + "' at " +
                      std::to_string(seconds_since(started)) + " s");
    };
    auto conn = co_await connect_with(std::move(connect_opts));
    // Every revision stays in the bucket (5 flows x 60 writes <= history 64): the server cannot
    // discard any, so a missing event is one the watcher lost.
    flowstore::store_options store_opts;
    store_opts.history = 64;
    auto s = co_await open_store(conn, std::move(store_opts));
    auto w = s.watch(">");
    co_await expect_marker(w);

    asio::steady_timer timer(io, 50ms);
    auto race = w.next() || timer.async_wait(asio::use_awaitable);
    auto winner = co_await std::move(race);
    CHECK(winner.index() == 1);

    auto created = co_await must_create(s, "team.a");
    auto e = co_await next_event(w);  // neither already_running nor lost
    INFO(describe(e));
    CHECK(e.type == kind::put);
    CHECK(e.revision == created.revision);

    // Cancelled again, repeatedly, while events stream in: every event still arrives once.
    constexpr int flows = 5, writes_per_flow = 60, writes = flows * writes_per_flow;
    std::vector<std::string> ids;
    for (int i = 0; i < flows; ++i) ids.push_back("busy.f" + std::to_string(i));
    task_group writer(io.get_executor());
    writer.on_failure([&w] { w.stop(); });
    writer.spawn(write_rounds(s, std::move(ids), writes_per_flow));
    std::map<std::string, std::int64_t> last_version;
    std::uint64_t last_revision = e.revision;
    int received = 0, timer_wins = 0, gaps = 0;
    while (received < writes) {
      asio::steady_timer short_timer(io, 1ms);
      auto next_race = w.next() || short_timer.async_wait(asio::use_awaitable);
      auto outcome = co_await std::move(next_race);
      if (outcome.index() == 1) {
        ++timer_wins;
        continue;
      }
      auto& got = std::get<0>(outcome);
      REQUIRE_OK(got);
      INFO(describe(*got));
      REQUIRE(got->value);
      ++received;
      auto& version = last_version[got->id];
      if (got->revision != last_revision + 1 || got->value->version != version + 1) {
        ++gaps;
        notes.push_back("after revision " + std::to_string(last_revision) + " came " + describe(*got) + " at " +
                        std::to_string(seconds_since(started)) + " s, after " + std::to_string(timer_wins) +
                        " cancelled calls");
      }
      last_revision = got->revision;
      version = got->value->version;
    }
    co_await writer.wait();
    std::cout << "[watch cancellation] " << timer_wins << " cancelled next() calls during " << writes << " events\n";
    INFO(Catch::Detail::stringify(notes));
    CHECK(gaps == 0);
    CHECK(received == writes);
    for (const auto& [id, version] : last_version) {
      INFO(id);
      CHECK(version == writes_per_flow);
    }
  });
}

TEST_CASE("watch: destroying one watcher and stopping another mid-stream is safe and next() is then closed",
          "[watch]") {
  nats_server server;
  run_async([&](asio::io_context& io) -> asio::awaitable<void> {
    auto conn = co_await connect_to(server);
    auto s = co_await open_store(conn);
    flowstore::watch_options small;
    small.buffer_capacity = 4;
    std::optional<flowstore::watcher> doomed(s.watch(">", small));
    auto stopped = s.watch(">", small);
    co_await expect_marker(*doomed);
    co_await expect_marker(stopped);

    bool stop_writer = false;
    task_group writer(io.get_executor());
    writer.spawn(write_until(s, "team.busy", 5000, &stop_writer));

    // Store round trips (real work, no sleeps) until `w` holds a full buffer; the writer keeps
    // producing meanwhile.
    auto until_full = [&s](flowstore::watcher* w) -> asio::awaitable<bool> {
      for (int i = 0; i < 500 && w->buffered() < w->capacity(); ++i) {
        auto got = co_await s.get("team.busy");
        REQUIRE_OK(got);
      }
      co_return w->buffered() >= w->capacity();
    };

    for (int i = 0; i < 20; ++i) co_await next_event(*doomed);
    for (int i = 0; i < 100; ++i) co_await next_event(stopped);
    auto doomed_filling = until_full(&*doomed);
    const bool doomed_full = co_await std::move(doomed_filling);
    CHECK(doomed_full);
    doomed.reset();  // destroyed while its delivery callback waits for room

    for (int i = 0; i < 50; ++i) co_await next_event(stopped);
    auto stopped_filling = until_full(&stopped);
    const bool stopped_full = co_await std::move(stopped_filling);
    CHECK(stopped_full);
    const auto held = stopped.buffered();
    stopped.stop();  // with events buffered: next() must still end
    auto after_stop = co_await stopped.next();
    INFO(held << " events were buffered at stop()");
    CHECK_ERROR(after_stop, errc::closed);
    int served_after_stop = after_stop ? 1 : 0;
    for (int i = 0; i < 10; ++i) {
      auto more = co_await stopped.next();
      if (!more) {
        CHECK(more.error().code == errc::closed);
        break;
      }
      ++served_after_stop;
    }
    CHECK(served_after_stop == 0);
    auto again = co_await stopped.next();
    CHECK_ERROR(again, errc::closed);
    stopped.stop();  // idempotent

    // A new watcher on the same store still works while the writer runs.
    flowstore::watch_options fresh_opts;
    fresh_opts.start = watch_start::updates_only;
    auto fresh = s.watch("team.busy", fresh_opts);
    auto e = co_await next_event(fresh);
    if (e.type == kind::initial_values_done) e = co_await next_event(fresh);
    CHECK(e.type == kind::put);

    stop_writer = true;
    co_await writer.wait();
  });
}

// =============================================================================================
// 13. connection close

TEST_CASE("watch: closing the connection ends a waiting next() with closed", "[watch]") {
  nats_server server;
  run_async([&](asio::io_context& io) -> asio::awaitable<void> {
    auto conn = co_await connect_to(server);
    auto s = co_await open_store(conn);
    auto w = s.watch(">");
    co_await expect_marker(w);

    auto waiting = spawn_next(io.get_executor(), w);
    co_await settle();
    REQUIRE_FALSE(waiting->outcome);

    co_await conn.close();
    co_await waiting->done.wait();
    REQUIRE(waiting->outcome);
    REQUIRE_ERROR(*waiting->outcome, errc::closed);
    auto later = co_await w.next();
    REQUIRE_ERROR(later, errc::closed);
  });
}

// Every test above ends by destroying its io_context right after its last step; closing the
// connection as that last step must be just as safe.
TEST_CASE("watch: closing the connection as a coroutine's last step before its io_context goes is safe", "[watch]") {
  nats_server server;
  for (int i = 0; i < 20; ++i) {
    INFO("round " << i);
    run_async([&](asio::io_context&) -> asio::awaitable<void> {
      auto conn = co_await connect_to(server);
      auto s = co_await open_store(conn);
      auto w = s.watch(">");
      co_await expect_marker(w);
      co_await conn.close();  // the io_context is destroyed right after this returns
    });
  }
}
