// Integration tests of flowstore::watcher when things go wrong, against a real nats-server: a
// server restart, corrupt documents, invalid patterns, concurrent next().
#include "watch_test_support.hpp"

using namespace flowstore::test::watch_tests;

// =============================================================================================
// 7. server restart

TEST_CASE("watch: after a server restart every later change arrives exactly once and in order", "[watch][slow]") {
  const std::string how = GENERATE(as<std::string>{}, "stop", "kill");
  nats_server server;
  run_async(
      [&](asio::io_context&) -> asio::awaitable<void> {
        auto connect_opts = options_for(server);
        connect_opts.reconnect.wait = 100ms;
        connect_opts.reconnect.max_attempts = -1;
        connect_opts.operation_timeout = 1500ms;
        auto conn = co_await connect_with(std::move(connect_opts));
        flowstore::store_options store_opts;
        store_opts.operation_timeout = 1500ms;
        auto s = co_await open_store(conn, std::move(store_opts));

        auto a = co_await must_create(s, "team.a");
        co_await must_create(s, "team.b");
        co_await must_create(s, "team.c");

        auto w = s.watch(">");
        std::set<std::uint64_t> seen;
        int duplicates = 0;
        int before = 0;
        auto record = [&](const flow_event& e) {
          if (!seen.insert(e.revision).second) ++duplicates;
        };
        for (;;) {
          auto e = co_await next_event(w);
          if (e.type == kind::initial_values_done) break;
          record(e);
          ++before;
        }
        CHECK(before == 3);
        a = co_await must_update(s, a, "before the restart");
        auto d = co_await must_create(s, "team.d");
        const std::vector<std::uint64_t> live_revisions{a.revision, d.revision};
        for (const std::uint64_t revision : live_revisions) {
          auto e = co_await next_event(w);
          INFO(describe(e));
          CHECK(e.revision == revision);
          record(e);
          ++before;
        }

        if (how == "stop") {
          server.stop();
        } else {
          server.kill();
        }
        server.start();

        // Changes after the restart; writes retry until the client has reconnected.
        retry_stats stats;
        const auto deadline = clock_type::now() + 30s;
        std::vector<std::pair<std::string, std::uint64_t>> expected;
        for (int i = 0; i < 5; ++i) {
          auto created = co_await create_retrying(s, "team.r" + std::to_string(i), &stats, deadline);
          expected.emplace_back(created.id, created.revision);
          a = co_await update_retrying(s, a, "after the restart " + std::to_string(i), &stats, deadline);
          expected.emplace_back(a.id, a.revision);
        }
        auto sentinel = co_await create_retrying(s, "team.sentinel", &stats, deadline);
        expected.emplace_back(sentinel.id, sentinel.revision);

        std::vector<std::pair<std::string, std::uint64_t>> after;
        while (after.size() < expected.size() + 5) {
          auto e = co_await next_event(w);
          INFO(describe(e));
          CHECK(e.type == kind::put);
          record(e);
          after.emplace_back(e.id, e.revision);
          if (e.id == "team.sentinel") break;
        }
        std::cout << "[watch restart/" << how << "] events before " << before << ", after " << after.size()
                  << " (expected " << expected.size() << "), duplicates " << duplicates << ", transient write errors "
                  << stats.transient_errors << '\n';
        CHECK(after == expected);
        CHECK(duplicates == 0);
      },
      90s);
}

// =============================================================================================
// 9. corrupt documents

TEST_CASE("watch: a stored document that is not a flow is a put with a problem and the watch goes on", "[watch]") {
  nats_server server;
  run_async([&](asio::io_context&) -> asio::awaitable<void> {
    auto conn = co_await connect_to(server);
    auto s = co_await open_store(conn);
    auto raw = raw_connect(server.url(), s.bucket());
    const auto old_bad_revision = raw_put(raw.kv.get(), "team.bad0", "garbage");

    auto w = s.watch("team.>");
    auto initial = co_await next_event(w);
    {
      INFO(describe(initial));
      CHECK(initial.type == kind::put);
      CHECK(initial.id == "team.bad0");
      CHECK(initial.revision == old_bad_revision);
      CHECK_FALSE(initial.value);
      REQUIRE(initial.problem);
      CHECK(initial.problem->code == errc::corrupt_data);
      CHECK(initial.problem->code == condition::fatal);
      CHECK_THAT(initial.problem->message, Catch::Contains("team.bad0"));
    }
    co_await expect_marker(w);

    const auto bad_revision = raw_put(raw.kv.get(), "team.bad", "garbage");
    auto good = co_await must_create(s, "team.good");

    auto bad = co_await next_event(w);
    {
      INFO(describe(bad));
      CHECK(bad.type == kind::put);
      CHECK(bad.id == "team.bad");
      CHECK(bad.revision == bad_revision);
      CHECK_FALSE(bad.value);
      REQUIRE(bad.problem);
      CHECK(bad.problem->code == errc::corrupt_data);
      CHECK_THAT(bad.problem->message, Catch::Contains("team.bad"));
    }
    auto next = co_await next_event(w);
    INFO(describe(next));
    CHECK(next.type == kind::put);
    CHECK(next.id == "team.good");
    CHECK(next.revision == good.revision);
    CHECK_FALSE(next.problem);
    REQUIRE(next.value);
    CHECK(*next.value == good);
  });
}

// =============================================================================================
// 10. invalid patterns

TEST_CASE("watch: an invalid pattern makes the first next() fail with invalid_id", "[watch]") {
  const std::string pattern = GENERATE(as<std::string>{}, "a b", "a.>.b", "", ".a", "a..b", "a.b.");
  nats_server server;
  run_async([&](asio::io_context&) -> asio::awaitable<void> {
    auto conn = co_await connect_to(server);
    auto s = co_await open_store(conn);
    auto w = s.watch(pattern);
    CHECK(w.pattern() == pattern);
    auto first = co_await w.next();
    REQUIRE_ERROR(first, errc::invalid_id);
    CHECK_THAT(first.error().message, Catch::Contains("watch"));
    auto second = co_await w.next();  // still an error, never an event
    INFO(outcome_text(second));
    CHECK_FALSE(second);
    w.stop();
    w.stop();
    CHECK(w.buffered() == 0);

    // The connection and store are unharmed.
    auto good = s.watch("team.*");
    co_await expect_marker(good);
    auto created = co_await must_create(s, "team.a");
    auto e = co_await next_event(good);
    CHECK(e.revision == created.revision);
  });
}

// =============================================================================================
// 11. concurrent next()

TEST_CASE("watch: a second next() while one waits fails with already_running and the first gets the event", "[watch]") {
  nats_server server;
  run_async([&](asio::io_context& io) -> asio::awaitable<void> {
    auto conn = co_await connect_to(server);
    auto s = co_await open_store(conn);
    auto w = s.watch(">");
    co_await expect_marker(w);

    auto first = spawn_next(io.get_executor(), w);
    co_await settle();
    REQUIRE_FALSE(first->outcome);  // waiting: the bucket is quiet

    auto second = co_await w.next();
    REQUIRE_ERROR(second, errc::already_running);
    CHECK(second.error().code == condition::invalid);
    CHECK_FALSE(first->outcome);

    auto created = co_await must_create(s, "team.a");
    co_await first->done.wait();
    REQUIRE(first->outcome);
    REQUIRE_OK(*first->outcome);
    const flow_event& e = first->outcome->value();
    INFO(describe(e));
    CHECK(e.type == kind::put);
    CHECK(e.revision == created.revision);

    // And next() works normally afterwards.
    auto updated = co_await must_update(s, created, "again");
    auto later = co_await next_event(w);
    CHECK(later.revision == updated.revision);
  });
}
