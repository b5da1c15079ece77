// Integration tests of list() and history() against a real nats-server: order, removed flows,
// corrupt documents, thousands of flows, lists racing updates, histories.
#include "store_test_support.hpp"

using namespace flowstore::test;
using namespace flowstore::test::store_tests;

// 7. list

TEST_CASE("store: list of an empty bucket is empty", "[store]") {
  nats_server server;
  run_async([&](asio::io_context&) -> asio::awaitable<void> {
    auto conn = co_await connect_to(server);
    auto s = co_await open_store(conn);
    auto listed = co_await s.list();
    REQUIRE_OK(listed);
    CHECK(listed->flows.empty());
    CHECK(listed->failures.empty());
  });
}

TEST_CASE("store: list returns the live flows sorted by id and skips removed ones", "[store]") {
  nats_server server;
  run_async([&](asio::io_context&) -> asio::awaitable<void> {
    auto conn = co_await connect_to(server);
    auto s = co_await open_store(conn);
    for (const char* name : {"charlie", "alpha", "delta", "bravo"}) {
      auto f = sample_flow(name);
      auto created = co_await s.create(std::move(f));
      REQUIRE_OK(created);
    }
    const std::string removed_id = "delta";
    auto removed = co_await s.remove(removed_id);
    REQUIRE_OK(removed);

    auto listed = co_await s.list();
    REQUIRE_OK(listed);
    CHECK(listed->failures.empty());
    REQUIRE(listed->flows.size() == 3);
    CHECK(listed->flows[0].id == "alpha");
    CHECK(listed->flows[1].id == "bravo");
    CHECK(listed->flows[2].id == "charlie");
    for (const auto& f : listed->flows) {
      auto got = co_await s.get(f.id);
      REQUIRE_OK(got);
      CHECK(f == *got);
    }
  });
}

TEST_CASE("store: a corrupt document is a list failure and a corrupt_data get and hides nothing", "[store]") {
  nats_server server;
  run_async([&](asio::io_context&) -> asio::awaitable<void> {
    auto conn = co_await connect_to(server);
    auto s = co_await open_store(conn);
    for (const char* name : {"alpha", "charlie"}) {
      auto f = sample_flow(name);
      auto created = co_await s.create(std::move(f));
      REQUIRE_OK(created);
    }
    const std::string broken = "broken-doc-7";
    {
      auto raw = raw_connect(server.url());
      auto kv = raw_bind(raw.js.get(), s.bucket());
      raw_put(kv.get(), broken, "not json");
    }

    auto listed = co_await s.list();
    REQUIRE_OK(listed);
    REQUIRE(listed->flows.size() == 2);
    CHECK(listed->flows[0].id == "alpha");
    CHECK(listed->flows[1].id == "charlie");
    REQUIRE(listed->failures.size() == 1);
    CHECK(listed->failures[0].id == broken);
    CHECK(listed->failures[0].problem.code == errc::corrupt_data);
    CHECK(listed->failures[0].problem.code == condition::fatal);
    CHECK_THAT(listed->failures[0].problem.message, Catch::Matchers::Contains(broken));

    auto got = co_await s.get(broken);
    REQUIRE_ERROR(got, errc::corrupt_data);
    CHECK(got.error().code == condition::fatal);
    CHECK_THAT(got.error().message, Catch::Matchers::Contains(broken));
  });
}

TEST_CASE("store: a list of thousands decoded in chunks is complete and sorted with its failures", "[store]") {
  // More flows than one decoding chunk (128) many times over, written in an order unlike their
  // ids' order, with corrupt documents among them: list() decodes the chunks on two threads
  // and must still return every flow once, sorted, and every failure, sorted.
  constexpr int flows = 2000;
  constexpr int writers = 16;
  nats_server server;
  run_async(
      [&](asio::io_context&) -> asio::awaitable<void> {
        auto conn = co_await connect_to(server);
        auto s = co_await open_store(conn);
        // Captureless: a coroutine lambda's captures die with the lambda, before its coroutine.
        auto write_share = [](flowstore::store& to, int first) -> asio::awaitable<void> {
          for (int i = first; i < flows; i += writers) {
            flowstore::flow f = sample_flow("f" + std::to_string((i * 7919) % flows));  // a permutation
            auto created = co_await to.create(std::move(f));
            REQUIRE_OK(created);
          }
        };
        std::vector<asio::awaitable<void>> tasks;
        for (int w = 0; w < writers; ++w) tasks.push_back(write_share(s, w));
        co_await run_all(std::move(tasks));
        const std::vector<std::string> corrupt = {"zz-broken", "a-broken", "m-broken"};
        {
          auto raw = raw_connect(server.url());
          auto kv = raw_bind(raw.js.get(), s.bucket());
          for (const auto& id : corrupt) raw_put(kv.get(), id, "{\"id\":");
        }

        auto listed = co_await s.list();
        REQUIRE_OK(listed);
        std::vector<std::string> expected;
        for (int i = 0; i < flows; ++i) expected.push_back("f" + std::to_string(i));
        std::sort(expected.begin(), expected.end());
        REQUIRE(listed->flows.size() == expected.size());
        for (std::size_t i = 0; i < expected.size(); ++i) {
          REQUIRE(listed->flows[i].id == expected[i]);
          CHECK(listed->flows[i].name == "Sample " + expected[i]);
          CHECK(listed->flows[i].revision > 0);
        }
        REQUIRE(listed->failures.size() == corrupt.size());
        CHECK(listed->failures[0].id == "a-broken");
        CHECK(listed->failures[1].id == "m-broken");
        CHECK(listed->failures[2].id == "zz-broken");
        for (const auto& failure : listed->failures) CHECK(failure.problem.code == errc::corrupt_data);
        // Each flow is the one stored under its id, not a neighbour's.
        for (const std::size_t i : {std::size_t{0}, expected.size() / 2, expected.size() - 1}) {
          auto got = co_await s.get(expected[i]);
          REQUIRE_OK(got);
          CHECK(*got == listed->flows[i]);
        }
      },
      std::chrono::seconds(120));
}

TEST_CASE("store: a list while its flows are updated names each flow once, at its latest delivered revision",
          "[store]") {
  // Updates that land while the scan's consumer is set up reach the scan twice: the revision
  // the consumer starts from, and the new one after it. The list keeps one per flow.
  static constexpr int flows = 400;
  static constexpr int writers = 16;
  nats_server server;
  run_async(
      [&](asio::io_context&) -> asio::awaitable<void> {
        auto conn = co_await connect_to(server);
        auto s = co_await open_store(conn);
        std::vector<flowstore::flow> stored;
        for (int i = 0; i < flows; ++i) {
          auto created = co_await s.create(sample_flow("f" + std::to_string(i)));
          REQUIRE_OK(created);
          stored.push_back(*created);
        }

        bool lists_done = false;
        int updates = 0;
        // Captureless: a coroutine lambda's captures die with the lambda, before its coroutine.
        auto update_share = [](flowstore::store& to, std::vector<flowstore::flow>& held, int first, const bool& stop,
                               int& count) -> asio::awaitable<void> {
          while (!stop) {
            for (int i = first; i < flows && !stop; i += writers) {
              held[i].description = "update " + std::to_string(count);
              auto updated = co_await to.update(held[i]);
              REQUIRE_OK(updated);
              held[i] = *updated;
              ++count;
            }
          }
        };
        // Spawned after the writers: each has its first update in flight when this starts.
        auto list_during_updates = [](flowstore::store& from, const std::vector<flowstore::flow>& held,
                                      const int& count, bool& stop) -> asio::awaitable<void> {
          struct stop_writers {
            bool& stop;
            ~stop_writers() { stop = true; }  // also when a check throws
          } at_end{stop};
          for (int round = 0; round < 5; ++round) {
            std::vector<flowstore::flow> before = held;
            std::sort(before.begin(), before.end(), [](const auto& a, const auto& b) { return a.id < b.id; });
            const int count_before = count;
            auto listed = co_await from.list();
            REQUIRE_OK(listed);
            CHECK(count > count_before);  // the writers wrote while the list ran
            CHECK(listed->failures.empty());
            REQUIRE(listed->flows.size() == static_cast<std::size_t>(flows));
            for (int i = 0; i < flows; ++i) {
              REQUIRE(listed->flows[i].id == before[i].id);
              CHECK(listed->flows[i].revision >= before[i].revision);
            }
          }
        };
        std::vector<asio::awaitable<void>> tasks;
        for (int w = 0; w < writers; ++w) tasks.push_back(update_share(s, stored, w, lists_done, updates));
        tasks.push_back(list_during_updates(s, stored, updates, lists_done));
        co_await run_all(std::move(tasks));
      },
      std::chrono::seconds(120));
}

// =============================================================================================
// 8. history

TEST_CASE("store: history lists every revision oldest first and is not_found for a never-written id", "[store]") {
  nats_server server;
  run_async([&](asio::io_context&) -> asio::awaitable<void> {
    auto conn = co_await connect_to(server);
    auto s = co_await open_store(conn);
    const std::string id = "with-history";
    auto input = sample_flow(id);
    auto v1 = co_await s.create(std::move(input));
    REQUIRE_OK(v1);
    auto edit2 = *v1;
    edit2.name = "second";
    auto v2 = co_await s.update(std::move(edit2));
    REQUIRE_OK(v2);
    auto edit3 = *v2;
    edit3.name = "third";
    auto v3 = co_await s.update(std::move(edit3));
    REQUIRE_OK(v3);
    auto removed = co_await s.remove(id);
    REQUIRE_OK(removed);

    auto history = co_await s.history(id);
    REQUIRE_OK(history);
    REQUIRE(history->size() == 4);
    const auto& h = *history;
    CHECK(h[0].operation == flowstore::revision_operation::put);
    CHECK(h[1].operation == flowstore::revision_operation::put);
    CHECK(h[2].operation == flowstore::revision_operation::put);
    CHECK(h[3].operation == flowstore::revision_operation::deleted);
    CHECK(h[0].revision == v1->revision);
    CHECK(h[1].revision == v2->revision);
    CHECK(h[2].revision == v3->revision);
    CHECK(h[3].revision > h[2].revision);
    const flowstore::flow* expected[] = {&*v1, &*v2, &*v3};
    for (std::size_t i = 0; i < 3; ++i) {
      INFO("revision " << i);
      REQUIRE(h[i].content.has_value());
      REQUIRE_OK(*h[i].content);
      const flowstore::flow& f = **h[i].content;
      CHECK(f.version == static_cast<std::int64_t>(i) + 1);
      CHECK(f == *expected[i]);
    }
    CHECK_FALSE(h[3].content.has_value());
    for (std::size_t i = 0; i < h.size(); ++i) {
      CHECK_FALSE(h[i].time.is_zero());
      if (i > 0) CHECK(h[i].time >= h[i - 1].time);
    }

    const std::string never = "never-written";
    auto none = co_await s.history(never);
    REQUIRE_ERROR(none, errc::not_found);
    CHECK(none.error().code == condition::invalid);
  });
}

// =============================================================================================

// =============================================================================================
// Raw reads

TEST_CASE("store: get_raw and list_raw return the stored bytes exactly, decoded or not", "[store]") {
  nats_server server;
  run_async([&](asio::io_context&) -> asio::awaitable<void> {
    auto conn = co_await connect_to(server);
    auto s = co_await open_store(conn);
    auto created = co_await s.create(sample_flow("alpha"));
    REQUIRE_OK(created);
    auto removed = co_await s.create(sample_flow("gone"));
    REQUIRE_OK(removed);
    // Bytes a re-encoding would change: spacing, a number spelled 1.0e2, an unknown field, and
    // a document that is not a flow at all.
    const std::string foreign =
        R"({ "id":"bravo", "name":"by hand","version":1,"nodes":[{"id":"n","type":"udp","config":{"port":1.0e2}}],)"
        R"("connections":null,"runtime_state":"not_deployed","extra":{"kept":true} })";
    const std::string broken = "not json";
    std::uint64_t foreign_revision = 0, broken_revision = 0;
    {
      auto raw = raw_connect(server.url());
      auto kv = raw_bind(raw.js.get(), s.bucket());
      foreign_revision = raw_put(kv.get(), "bravo", foreign);
      broken_revision = raw_put(kv.get(), "broken", broken);
    }
    auto remove_gone = co_await s.remove("gone");
    REQUIRE_OK(remove_gone);

    auto alpha = co_await s.get_raw("alpha");
    REQUIRE_OK(alpha);
    CHECK(alpha->id == "alpha");
    CHECK(alpha->revision == created->revision);
    CHECK(alpha->document == flowstore::to_json(*created).value());
    CHECK_FALSE(alpha->time.is_zero());

    auto bravo = co_await s.get_raw("bravo");
    REQUIRE_OK(bravo);
    CHECK(bravo->document == foreign);
    CHECK(bravo->revision == foreign_revision);

    auto not_a_flow = co_await s.get_raw("broken");
    REQUIRE_OK(not_a_flow);  // nothing is decoded, so nothing is corrupt
    CHECK(not_a_flow->document == broken);
    CHECK(not_a_flow->revision == broken_revision);

    auto missing = co_await s.get_raw("never-written");
    CHECK_ERROR(missing, errc::not_found);
    auto gone = co_await s.get_raw("gone");
    CHECK_ERROR(gone, errc::not_found);
    auto invalid = co_await s.get_raw("no spaces");
    CHECK_ERROR(invalid, errc::invalid_id);

    auto listed = co_await s.list_raw();
    REQUIRE_OK(listed);
    REQUIRE(listed->size() == 3);
    CHECK((*listed)[0].id == "alpha");
    CHECK((*listed)[0].document == alpha->document);
    CHECK((*listed)[0].revision == alpha->revision);
    CHECK((*listed)[1].id == "bravo");
    CHECK((*listed)[1].document == foreign);
    CHECK((*listed)[2].id == "broken");
    CHECK((*listed)[2].document == broken);

    // The decoded list agrees on what is there.
    auto decoded = co_await s.list();
    REQUIRE_OK(decoded);
    CHECK(decoded->flows.size() + decoded->failures.size() == listed->size());
  });
}

TEST_CASE("store: list_raw of an empty bucket is empty and of thousands is complete and sorted", "[store]") {
  nats_server server;
  run_async(
      [&](asio::io_context&) -> asio::awaitable<void> {
        auto conn = co_await connect_to(server);
        auto s = co_await open_store(conn);
        auto empty = co_await s.list_raw();
        REQUIRE_OK(empty);
        CHECK(empty->empty());

        constexpr int count = 2000;
        std::vector<std::string> expected;
        {
          auto raw = raw_connect(server.url());
          auto kv = raw_bind(raw.js.get(), s.bucket());
          // Written in an order unlike their ids' (and each twice: only the latest counts).
          for (int round = 0; round < 2; ++round) {
            for (int i = count - 1; i >= 0; --i) {
              const std::string id = "f" + std::to_string(i * 7919 % count);
              raw_put(kv.get(), id, "{\"id\":\"" + id + "\",\"round\":" + std::to_string(round) + "}");
              if (round == 0) expected.push_back(id);
            }
          }
        }
        std::sort(expected.begin(), expected.end());
        auto listed = co_await s.list_raw();
        REQUIRE_OK(listed);
        REQUIRE(listed->size() == expected.size());
        for (std::size_t i = 0; i < expected.size(); ++i) {
          INFO(i);
          CHECK((*listed)[i].id == expected[i]);
          CHECK((*listed)[i].document == "{\"id\":\"" + expected[i] + "\",\"round\":1}");
        }
      },
      60s);
}
