// Integration tests of what a flowstore::watcher delivers against a real nats-server: start modes,
// the initial_values_done marker, history, live event order and patterns.
#include "watch_test_support.hpp"

using namespace flowstore::test::watch_tests;

// =============================================================================================
// 1. empty bucket

TEST_CASE("watch: on an empty bucket initial_values_done comes first and exactly once", "[watch]") {
  const auto marker_timeout = GENERATE(as<std::optional<std::chrono::milliseconds>>{}, std::nullopt, 1ms);
  nats_server server;
  run_async([&](asio::io_context&) -> asio::awaitable<void> {
    auto conn = co_await connect_to(server);
    auto s = co_await open_store(conn);
    flowstore::watch_options options;
    options.initial_values_timeout = marker_timeout;  // 1ms: the marker timer also fires early
    auto w = s.watch(">", std::move(options));
    CHECK(w.pattern() == ">");
    CHECK(w.capacity() == 256);

    auto first = co_await next_event(w);
    INFO(describe(first));
    REQUIRE(first.type == kind::initial_values_done);

    auto created = co_await must_create(s, "team.a");
    auto second = co_await next_event(w);
    INFO(describe(second));
    REQUIRE(second.type == kind::put);
    CHECK(second.id == "team.a");
    CHECK(second.revision == created.revision);
    REQUIRE(second.value);
    CHECK(*second.value == created);

    auto updated = co_await must_update(s, created, "changed");
    auto third = co_await next_event(w);
    INFO(describe(third));
    REQUIRE(third.type == kind::put);
    CHECK(third.revision == updated.revision);
    REQUIRE(third.value);
    CHECK(third.value->version == 2);
  });
}

// =============================================================================================
// 2. current values

TEST_CASE("watch: current_values delivers each current flow once, removals by ignore_deletes, then live changes",
          "[watch]") {
  const bool ignore_deletes = GENERATE(false, true);
  nats_server server;
  run_async([&](asio::io_context&) -> asio::awaitable<void> {
    auto conn = co_await connect_to(server);
    auto s = co_await open_store(conn);
    auto a = co_await must_create(s, "team.a");
    auto b = co_await must_create(s, "team.b");
    auto c = co_await must_create(s, "team.c");
    co_await must_create(s, "team.d");
    b = co_await must_update(s, b, "second version");
    co_await must_remove(s, "team.d");
    const std::map<std::string, flowstore::flow> current{{"team.a", a}, {"team.b", b}, {"team.c", c}};

    flowstore::watch_options options;
    options.ignore_deletes = ignore_deletes;
    auto w = s.watch(">", std::move(options));

    std::map<std::string, int> seen;
    std::uint64_t last_revision = 0;
    for (;;) {
      auto e = co_await next_event(w);
      INFO(describe(e));
      if (e.type == kind::initial_values_done) break;
      CHECK(e.revision > last_revision);
      last_revision = e.revision;
      ++seen[e.id];
      if (e.id == "team.d") {
        CHECK_FALSE(ignore_deletes);
        CHECK(e.type == kind::deleted);
        CHECK_FALSE(e.value);
        continue;
      }
      REQUIRE(current.count(e.id) == 1);
      CHECK(e.type == kind::put);
      CHECK(e.revision == current.at(e.id).revision);
      CHECK_FALSE(e.problem);
      REQUIRE(e.value);
      CHECK(*e.value == current.at(e.id));
      CHECK_FALSE(e.time.is_zero());
    }
    std::map<std::string, int> expected{{"team.a", 1}, {"team.b", 1}, {"team.c", 1}};
    if (!ignore_deletes) expected["team.d"] = 1;
    CHECK(seen == expected);
    CHECK(b.version == 2);

    // Live: an update, a removal (skipped with ignore_deletes), a creation.
    auto a2 = co_await must_update(s, a, "live");
    co_await must_remove(s, "team.c");
    auto e_flow = co_await must_create(s, "team.e");

    auto live1 = co_await next_event(w);
    INFO(describe(live1));
    CHECK(live1.type == kind::put);
    CHECK(live1.revision == a2.revision);
    REQUIRE(live1.value);
    CHECK(live1.value->version == 2);
    if (!ignore_deletes) {
      auto removal = co_await next_event(w);
      INFO(describe(removal));
      CHECK(removal.type == kind::deleted);
      CHECK(removal.id == "team.c");
      CHECK(removal.revision > a2.revision);
      CHECK(removal.revision < e_flow.revision);
    }
    auto live2 = co_await next_event(w);
    INFO(describe(live2));
    CHECK(live2.type == kind::put);
    CHECK(live2.id == "team.e");
    CHECK(live2.revision == e_flow.revision);
  });
}

// =============================================================================================
// 3. updates only

TEST_CASE("watch: updates_only skips existing flows, sends the marker first, then live changes", "[watch]") {
  nats_server server;
  run_async([&](asio::io_context&) -> asio::awaitable<void> {
    auto conn = co_await connect_to(server);
    auto s = co_await open_store(conn);
    auto a = co_await must_create(s, "team.a");
    co_await must_create(s, "team.b");

    flowstore::watch_options options;
    options.start = watch_start::updates_only;
    auto w = s.watch(">", std::move(options));
    co_await expect_marker(w);  // from here on every change must be delivered

    auto c = co_await must_create(s, "team.c");
    auto a2 = co_await must_update(s, a, "after the watch started");
    co_await must_remove(s, "team.b");

    auto e1 = co_await next_event(w);
    INFO(describe(e1));
    CHECK(e1.type == kind::put);
    CHECK(e1.id == "team.c");
    CHECK(e1.revision == c.revision);
    REQUIRE(e1.value);
    CHECK(*e1.value == c);

    auto e2 = co_await next_event(w);
    INFO(describe(e2));
    CHECK(e2.type == kind::put);
    CHECK(e2.id == "team.a");
    CHECK(e2.revision == a2.revision);
    REQUIRE(e2.value);
    CHECK(e2.value->version == 2);

    auto e3 = co_await next_event(w);
    INFO(describe(e3));
    CHECK(e3.type == kind::deleted);
    CHECK(e3.id == "team.b");
    CHECK(e3.revision > a2.revision);
  });
}

TEST_CASE("watch: updates_only sends the marker first also while flows are being written", "[watch]") {
  nats_server server;
  run_async([&](asio::io_context& io) -> asio::awaitable<void> {
    auto conn = co_await connect_to(server);
    auto s = co_await open_store(conn);
    bool stop_writer = false;
    task_group writer(io.get_executor());
    writer.spawn(write_until(s, "team.busy", 100000, &stop_writer));

    flowstore::watch_options options;
    options.start = watch_start::updates_only;
    int marker_first = 0;
    std::vector<std::string> late;  // what came before the marker, per watcher
    for (int i = 0; i < 10; ++i) {
      auto w = s.watch("team.*", options);
      auto first = co_await next_event(w);
      if (first.type == kind::initial_values_done) {
        ++marker_first;
        continue;
      }
      std::string before = "watcher " + std::to_string(i) + ": " + describe(first);
      for (;;) {
        auto e = co_await next_event(w);
        if (e.type == kind::initial_values_done) break;
        before += ", " + describe(e);
      }
      late.push_back(std::move(before));
    }
    stop_writer = true;
    co_await writer.wait();
    INFO("events before the marker: " << Catch::Detail::stringify(late));
    CHECK(marker_first == 10);
  });
}

// =============================================================================================
// 4. all history

TEST_CASE("watch: all_history delivers every retained revision, then the marker", "[watch]") {
  nats_server server;
  run_async([&](asio::io_context&) -> asio::awaitable<void> {
    auto conn = co_await connect_to(server);
    auto s = co_await open_store(conn);
    auto v1 = co_await must_create(s, "team.a");
    auto v2 = co_await must_update(s, v1, "two");
    auto v3 = co_await must_update(s, v2, "three");

    flowstore::watch_options options;
    options.start = watch_start::all_history;
    auto w = s.watch("team.a", std::move(options));
    const std::vector<flowstore::flow> expected{v1, v2, v3};
    for (std::size_t i = 0; i < expected.size(); ++i) {
      auto e = co_await next_event(w);
      INFO("event " << i << ": " << describe(e));
      REQUIRE(e.type == kind::put);
      CHECK(e.id == "team.a");
      CHECK(e.revision == expected[i].revision);
      REQUIRE(e.value);
      CHECK(e.value->version == static_cast<std::int64_t>(i + 1));
      CHECK(*e.value == expected[i]);
    }
    co_await expect_marker(w);

    auto v4 = co_await must_update(s, v3, "four");
    auto live = co_await next_event(w);
    INFO(describe(live));
    CHECK(live.type == kind::put);
    CHECK(live.revision == v4.revision);
  });
}

// =============================================================================================
// 5. live order

TEST_CASE("watch: live put, update and remove events arrive in revision order with decoded flows", "[watch]") {
  nats_server server;
  run_async([&](asio::io_context&) -> asio::awaitable<void> {
    auto conn = co_await connect_to(server);
    auto s = co_await open_store(conn);
    auto w = s.watch("team.*");
    co_await expect_marker(w);

    struct expectation {
      kind type;
      std::string id;
      std::optional<flowstore::flow> value;  // puts: the stored flow (with its revision)
    };
    std::vector<expectation> expected;
    auto a = co_await must_create(s, "team.a");
    expected.push_back({kind::put, "team.a", a});
    auto b = co_await must_create(s, "team.b");
    expected.push_back({kind::put, "team.b", b});
    a = co_await must_update(s, a, "a2");
    expected.push_back({kind::put, "team.a", a});
    co_await must_remove(s, "team.b");
    expected.push_back({kind::deleted, "team.b", std::nullopt});
    a = co_await must_update(s, a, "a3");
    expected.push_back({kind::put, "team.a", a});
    b = co_await must_create(s, "team.b");  // re-created after removal
    expected.push_back({kind::put, "team.b", b});
    co_await must_remove(s, "team.a");
    expected.push_back({kind::deleted, "team.a", std::nullopt});

    std::uint64_t last_revision = 0;
    for (std::size_t i = 0; i < expected.size(); ++i) {
      auto e = co_await next_event(w);
      INFO("event " << i << ": " << describe(e));
      CHECK(e.revision > last_revision);
      last_revision = e.revision;
      CHECK(e.type == expected[i].type);
      CHECK(e.id == expected[i].id);
      CHECK_FALSE(e.time.is_zero());
      CHECK_FALSE(e.problem);
      if (expected[i].value) {
        CHECK(e.revision == expected[i].value->revision);
        REQUIRE(e.value);
        CHECK(*e.value == *expected[i].value);
      } else {
        CHECK_FALSE(e.value);
      }
    }
    CHECK(a.version == 3);
    CHECK(b.version == 1);
  });
}

// =============================================================================================
// 8. patterns

TEST_CASE("watch: watchers with different patterns each see only their keys", "[watch]") {
  nats_server server;
  run_async([&](asio::io_context&) -> asio::awaitable<void> {
    auto conn = co_await connect_to(server);
    auto s = co_await open_store(conn);
    co_await must_create(s, "ops.old");  // existing before: current value for ops.* only
    auto team = s.watch("team.*");
    auto ops = s.watch("ops.*");

    auto first_ops = co_await next_event(ops);
    INFO(describe(first_ops));
    CHECK(first_ops.id == "ops.old");
    co_await expect_marker(ops);
    co_await expect_marker(team);

    auto team_a = co_await must_create(s, "team.a");
    auto ops_a = co_await must_create(s, "ops.a");
    co_await must_create(s, "other.a");
    co_await must_create(s, "team.x.y");  // two tokens after "team": not team.*
    co_await must_create(s, "opsx.a");
    auto team_b = co_await must_create(s, "team.b");
    ops_a = co_await must_update(s, ops_a, "ops v2");
    co_await must_remove(s, "team.a");
    auto team_end = co_await must_create(s, "team.end");
    auto ops_end = co_await must_create(s, "ops.end");

    using seen_event = std::pair<kind, std::string>;
    const std::vector<seen_event> team_expected{
        {kind::put, "team.a"}, {kind::put, "team.b"}, {kind::deleted, "team.a"}, {kind::put, "team.end"}};
    const std::vector<seen_event> ops_expected{{kind::put, "ops.a"}, {kind::put, "ops.a"}, {kind::put, "ops.end"}};

    std::vector<seen_event> team_seen, ops_seen;
    for (;;) {
      auto e = co_await next_event(team);
      team_seen.emplace_back(e.type, e.id);
      if (e.id == "team.end" || team_seen.size() > 10) break;
    }
    for (;;) {
      auto e = co_await next_event(ops);
      ops_seen.emplace_back(e.type, e.id);
      if (e.id == "ops.end" || ops_seen.size() > 10) break;
    }
    CHECK(team_seen == team_expected);
    CHECK(ops_seen == ops_expected);
    CHECK(team_a.version == 1);
    CHECK(team_b.version == 1);
    CHECK(ops_a.version == 2);
    CHECK(team_end.revision < ops_end.revision);
  });
}
