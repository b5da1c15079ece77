// Integration tests of flowstore::store against a real nats-server: CRUD semantics, conflicts,
// list and history, binding to foreign buckets, size limits, invalid ids, concurrency,
// timeouts and cancellation, Go-format documents and connection events.

#include <flowstore/connection.hpp>
#include <flowstore/error.hpp>
#include <flowstore/flow.hpp>
#include <flowstore/json.hpp>
#include <flowstore/store.hpp>
#include <flowstore/timestamp.hpp>

#include "access.hpp"
#include "nats/connection_impl.hpp"
#include "support/async.hpp"
#include "support/flowstore_client.hpp"
#include "support/nats_server.hpp"

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/deferred.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/experimental/awaitable_operators.hpp>
#include <boost/asio/experimental/parallel_group.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/json/parse.hpp>

#include <catch2/catch.hpp>

#include <nats.h>

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <cstring>
#include <exception>
#include <functional>
#include <iostream>
#include <limits>
#include <memory>
#include <string>
#include <utility>
#include <vector>

namespace Catch {
template <>
struct StringMaker<flowstore::timestamp> {
  static std::string convert(const flowstore::timestamp& t) { return t.to_string(); }
};
}  // namespace Catch

namespace {

namespace asio = boost::asio;
using namespace std::chrono_literals;
using flowstore::component_type;
using flowstore::condition;
using flowstore::errc;
using flowstore::runtime_state;
using flowstore::test::nats_server;
using flowstore::test::run_async;
using namespace flowstore::test;

// A valid flow with two nodes and a connection; state unset.
flowstore::flow sample_flow(std::string id) {
  flowstore::flow f;
  f.id = std::move(id);
  f.name = "Sample " + f.id;
  f.description = "integration test flow";

  flowstore::flow_node input;
  input.id = "udp-in";
  input.component = "udp";
  input.type = component_type::input;
  input.name = "udp-input-1";
  input.pos = {100, 250};
  input.config["bind"] = "0.0.0.0";
  input.config["port"] = 5000;

  flowstore::flow_node processor;
  processor.id = "graph";
  processor.component = "graph-processor";
  processor.type = component_type::processor;
  processor.name = "graph-processor-1";
  processor.pos = {350.5, 250};
  processor.config["ratio"] = 0.75;
  processor.config["tags"] = boost::json::array{"a", "b"};

  flowstore::flow_connection edge;
  edge.id = "conn-1";
  edge.source_node_id = "udp-in";
  edge.source_port = "out";
  edge.target_node_id = "graph";
  edge.target_port = "in";

  f.nodes.push_back(std::move(input));
  f.nodes.push_back(std::move(processor));
  f.connections.push_back(std::move(edge));
  return f;
}

// Resumes a paused server when the test leaves the scope, even through a failed REQUIRE.
struct resume_on_exit {
  nats_server& server;
  ~resume_on_exit() {
    if (server.paused()) server.resume();
  }
};

// Gets `id` until it succeeds (after a pause, nats.c may need a moment), at most `attempts` times.
asio::awaitable<flowstore::result<flowstore::flow>> get_eventually(flowstore::store s, std::string id, int attempts) {
  auto got = co_await s.get(id);
  for (int i = 1; i < attempts && !got && got.error().code == condition::transient; ++i) {
    got = co_await s.get(id);
  }
  co_return got;
}

double millis(std::chrono::steady_clock::duration d) { return std::chrono::duration<double, std::milli>(d).count(); }

}  // namespace

// =============================================================================================
// 1. create and get

TEST_CASE("store: create returns version 1 with timestamps and get returns the same flow", "[store]") {
  nats_server server;
  run_async([&](asio::io_context&) -> asio::awaitable<void> {
    auto conn = co_await connect_to(server);
    auto s = co_await open_store(conn);

    const auto input = sample_flow("create-get");
    auto created = co_await s.create(input);
    REQUIRE_OK(created);
    CHECK(created->id == input.id);
    CHECK(created->name == input.name);
    CHECK(created->description == input.description);
    CHECK(created->nodes == input.nodes);
    CHECK(created->connections == input.connections);
    CHECK(created->version == 1);
    CHECK(created->revision > 0);
    CHECK(created->state == runtime_state::not_deployed);
    CHECK_FALSE(created->created_at.is_zero());
    CHECK(created->created_at == created->updated_at);
    CHECK(created->updated_at == created->last_modified);
    const auto now = flowstore::timestamp::now().unix_seconds();
    CHECK(created->created_at.unix_seconds() > now - 300);
    CHECK(created->created_at.unix_seconds() < now + 300);

    const std::string id = input.id;
    auto got = co_await s.get(id);
    REQUIRE_OK(got);
    CHECK(got->id == created->id);
    CHECK(got->name == created->name);
    CHECK(got->description == created->description);
    CHECK(got->version == created->version);
    CHECK(got->revision == created->revision);
    CHECK(got->state == created->state);
    CHECK(got->created_at == created->created_at);
    CHECK(got->updated_at == created->updated_at);
    CHECK(got->last_modified == created->last_modified);
    CHECK(got->nodes == created->nodes);
    CHECK(got->connections == created->connections);
    CHECK(*got == *created);

    // A state that is set is kept.
    auto running = sample_flow("create-running");
    running.state = runtime_state::running;
    auto created_running = co_await s.create(std::move(running));
    REQUIRE_OK(created_running);
    CHECK(created_running->state == runtime_state::running);
  });
}

TEST_CASE("store: drafts are stored and read back as written, and a strict store refuses them", "[store]") {
  nats_server server;
  run_async([&](asio::io_context&) -> asio::awaitable<void> {
    auto conn = co_await connect_to(server);
    auto s = co_await open_store(conn);

    // What the flow builder saves before the nodes are configured: a node without a name or a
    // type, a connection whose target is not drawn yet, no flow name.
    flowstore::flow draft;
    draft.id = "draft";
    flowstore::flow_node half;
    half.id = "n1";
    half.component = "udp";
    half.pos = {10, 20};
    draft.nodes.push_back(half);
    flowstore::flow_connection dangling;
    dangling.id = "c1";
    dangling.source_node_id = "n1";
    dangling.source_port = "out";
    dangling.target_node_id = "not-drawn-yet";
    draft.connections.push_back(dangling);
    REQUIRE_FALSE(flowstore::validation_problems(draft).empty());

    auto created = co_await s.create(draft);
    REQUIRE_OK(created);
    CHECK(created->state == runtime_state::not_deployed);
    auto got = co_await s.get("draft");
    REQUIRE_OK(got);
    CHECK(*got == *created);
    CHECK(got->nodes == draft.nodes);
    CHECK(got->connections == draft.connections);

    auto edit = *got;
    edit.nodes[0].config["port"] = 14550;
    auto updated = co_await s.update(edit);
    REQUIRE_OK(updated);
    CHECK(updated->version == 2);

    // The state alone is required on update: an update must not drop a deployment's state.
    auto stateless = *updated;
    stateless.state = runtime_state::unset;
    auto refused_state = co_await s.update(stateless);
    REQUIRE_ERROR(refused_state, errc::invalid_argument);
    CHECK_THAT(refused_state.error().message, Catch::Contains("update flow 'draft': runtime_state is required"));

    flowstore::store_options options;
    options.validate_writes = true;
    auto strict = co_await open_store(conn, std::move(options));
    auto refused = co_await strict.update(*updated);
    REQUIRE_ERROR(refused, errc::validation_failed);
    CHECK(refused.error().code == condition::invalid);
    CHECK_THAT(refused.error().message, Catch::Contains("validate flow 'draft'"));
    CHECK_THAT(refused.error().message, Catch::Contains("target node 'not-drawn-yet' does not exist"));
    draft.id = "draft-strict";
    auto refused_create = co_await strict.create(draft);
    REQUIRE_ERROR(refused_create, errc::validation_failed);
    auto never_stored = co_await strict.get("draft-strict");
    CHECK_ERROR(never_stored, errc::not_found);
    auto unchanged = co_await strict.get("draft");
    REQUIRE_OK(unchanged);
    CHECK(unchanged->version == 2);
  });
}

// =============================================================================================
// 2. create of an existing id, and after remove

TEST_CASE("store: create of an existing id is already_exists and create after remove succeeds", "[store]") {
  nats_server server;
  run_async([&](asio::io_context&) -> asio::awaitable<void> {
    auto conn = co_await connect_to(server);
    auto s = co_await open_store(conn);
    const std::string id = "duplicate";

    auto first_flow = sample_flow(id);
    auto first = co_await s.create(std::move(first_flow));
    REQUIRE_OK(first);

    auto second_flow = sample_flow(id);
    second_flow.name = "second";
    auto second = co_await s.create(std::move(second_flow));
    REQUIRE_ERROR(second, errc::already_exists);
    CHECK(second.error().code == condition::invalid);

    auto unchanged = co_await s.get(id);
    REQUIRE_OK(unchanged);
    CHECK(unchanged->revision == first->revision);
    CHECK(unchanged->name == first->name);

    auto removed = co_await s.remove(id);
    REQUIRE_OK(removed);

    // The key now holds a tombstone.
    auto again_flow = sample_flow(id);
    again_flow.name = "re-created";
    auto again = co_await s.create(std::move(again_flow));
    REQUIRE_OK(again);
    CHECK(again->version == 1);
    CHECK(again->revision > first->revision);
    CHECK(again->name == "re-created");

    auto got = co_await s.get(id);
    REQUIRE_OK(got);
    CHECK(*got == *again);

    // And once re-created it exists again.
    auto third_flow = sample_flow(id);
    auto third = co_await s.create(std::move(third_flow));
    CHECK_ERROR(third, errc::already_exists);
  });
}

// =============================================================================================
// 3. missing flows

TEST_CASE("store: get update and remove of a missing flow are not_found", "[store]") {
  nats_server server;
  run_async([&](asio::io_context&) -> asio::awaitable<void> {
    auto conn = co_await connect_to(server);
    auto s = co_await open_store(conn);
    const std::string missing = "never-written";

    auto got = co_await s.get(missing);
    REQUIRE_ERROR(got, errc::not_found);
    CHECK(got.error().code == condition::invalid);

    auto ghost = sample_flow(missing);
    ghost.state = runtime_state::not_deployed;
    ghost.version = 1;
    auto updated = co_await s.update(std::move(ghost));
    REQUIRE_ERROR(updated, errc::not_found);
    CHECK(updated.error().code == condition::invalid);

    auto removed = co_await s.remove(missing);
    REQUIRE_ERROR(removed, errc::not_found);
    CHECK(removed.error().code == condition::invalid);

    auto removed_checked = co_await s.remove(missing, 1);
    CHECK_ERROR(removed_checked, errc::not_found);

    // A removed flow is missing too.
    const std::string gone = "removed-flow";
    auto gone_flow = sample_flow(gone);
    auto created = co_await s.create(std::move(gone_flow));
    REQUIRE_OK(created);
    auto first_remove = co_await s.remove(gone);
    REQUIRE_OK(first_remove);

    auto got_gone = co_await s.get(gone);
    CHECK_ERROR(got_gone, errc::not_found);
    auto removed_again = co_await s.remove(gone);
    CHECK_ERROR(removed_again, errc::not_found);

    // Updating the copy read before the remove (it carries its revision).
    auto stale = *created;
    stale.name = "too late";
    auto updated_gone = co_await s.update(std::move(stale));
    CHECK_ERROR(updated_gone, errc::not_found);
  });
}

// =============================================================================================
// 4. stale update

TEST_CASE("store: update of a stale copy is a conflict naming both versions", "[store]") {
  nats_server server;
  run_async([&](asio::io_context&) -> asio::awaitable<void> {
    auto conn = co_await connect_to(server);
    auto s = co_await open_store(conn);
    const std::string id = "stale";
    auto input = sample_flow(id);
    auto created = co_await s.create(std::move(input));
    REQUIRE_OK(created);

    auto a = co_await s.get(id);
    auto b = co_await s.get(id);
    REQUIRE_OK(a);
    REQUIRE_OK(b);

    auto first = std::move(a).value();
    first.name = "first writer";
    auto first_updated = co_await s.update(std::move(first));
    REQUIRE_OK(first_updated);
    CHECK(first_updated->version == 2);
    CHECK(first_updated->revision > created->revision);

    auto second = std::move(b).value();
    second.name = "second writer";
    auto second_updated = co_await s.update(std::move(second));
    REQUIRE_ERROR(second_updated, errc::conflict);
    CHECK(second_updated.error().code == condition::invalid);
    CHECK_THAT(second_updated.error().message, Catch::Matchers::Contains("expected version 1"));
    CHECK_THAT(second_updated.error().message, Catch::Matchers::Contains("current version 2"));
    // The server refused the compare-and-set: its own code is kept beside ours.
    CHECK(second_updated.error().server_code == flowstore::jetstream_errc::wrong_last_sequence);
    CHECK(second_updated.error().server_code == condition::invalid);

    auto got = co_await s.get(id);
    REQUIRE_OK(got);
    CHECK(got->name == "first writer");
    CHECK(got->version == 2);
  });
}

// =============================================================================================
// 5. update of a hand-made flow

TEST_CASE("store: update of a hand-made flow keeps created_at and created_by and a wrong version conflicts",
          "[store]") {
  nats_server server;
  run_async([&](asio::io_context&) -> asio::awaitable<void> {
    auto conn = co_await connect_to(server);
    auto s = co_await open_store(conn);
    const std::string id = "by-hand";

    auto original = sample_flow(id);
    original.created_by = "alice";
    auto created = co_await s.create(std::move(original));
    REQUIRE_OK(created);
    CHECK(created->created_by == "alice");

    auto by_hand = sample_flow(id);
    by_hand.name = "edited by hand";
    by_hand.state = runtime_state::deployed_stopped;
    by_hand.version = 1;
    REQUIRE(by_hand.revision == 0);
    REQUIRE(by_hand.created_at.is_zero());
    REQUIRE(by_hand.created_by.empty());
    auto updated = co_await s.update(std::move(by_hand));
    REQUIRE_OK(updated);
    CHECK(updated->version == 2);
    CHECK(updated->name == "edited by hand");
    CHECK(updated->created_at == created->created_at);
    CHECK(updated->created_by == "alice");
    CHECK(updated->revision > created->revision);
    CHECK(updated->updated_at == updated->last_modified);
    CHECK(updated->updated_at >= created->updated_at);

    auto got = co_await s.get(id);
    REQUIRE_OK(got);
    CHECK(*got == *updated);

    auto wrong = sample_flow(id);
    wrong.state = runtime_state::not_deployed;
    wrong.version = 1;  // current is 2
    auto conflicted = co_await s.update(std::move(wrong));
    REQUIRE_ERROR(conflicted, errc::conflict);
    CHECK_THAT(conflicted.error().message, Catch::Matchers::Contains("expected version 1"));
    CHECK_THAT(conflicted.error().message, Catch::Matchers::Contains("current version 2"));

    auto ahead = sample_flow(id);
    ahead.state = runtime_state::not_deployed;
    ahead.version = 7;
    auto conflicted_ahead = co_await s.update(std::move(ahead));
    CHECK_ERROR(conflicted_ahead, errc::conflict);

    auto after = co_await s.get(id);
    REQUIRE_OK(after);
    CHECK(after->version == 2);
    CHECK(after->revision == updated->revision);
  });
}

TEST_CASE("store: the stored version grows by exactly one per update whatever version the caller sends", "[store]") {
  nats_server server;
  run_async([&](asio::io_context&) -> asio::awaitable<void> {
    auto conn = co_await connect_to(server);
    auto s = co_await open_store(conn);
    const std::string id = "invariant";
    auto created = co_await s.create(sample_flow(id));
    REQUIRE_OK(created);
    const flowstore::flow stale = *created;  // a client that keeps version 1
    auto current = *created;
    for (int i = 0; i < 3; ++i) {
      current.description = "edit " + std::to_string(i);
      auto updated = co_await s.update(current);
      REQUIRE_OK(updated);
      current = std::move(updated).value();
    }
    REQUIRE(current.version == 4);

    // Read at version 4 and sent back claiming version 1: refused, and nothing is written.
    auto lowered = current;
    lowered.version = 1;
    auto refused = co_await s.update(lowered);
    REQUIRE_ERROR(refused, errc::conflict);
    CHECK_THAT(refused.error().message, Catch::Matchers::Contains("expected version 1"));
    CHECK_THAT(refused.error().message, Catch::Matchers::Contains("current version 4"));
    for (std::int64_t claimed : {std::int64_t{-5}, std::int64_t{0}, std::int64_t{3}, std::int64_t{5}}) {
      auto other = current;
      other.version = claimed;
      auto r = co_await s.update(std::move(other));
      REQUIRE_ERROR(r, errc::conflict);
      CHECK_THAT(r.error().message, Catch::Matchers::Contains("expected version " + std::to_string(claimed)));
    }
    // The client still holding version 1 conflicts too, as it always should.
    auto from_stale = co_await s.update(stale);
    REQUIRE_ERROR(from_stale, errc::conflict);
    CHECK_THAT(from_stale.error().message, Catch::Matchers::Contains("current version 4"));
    // The same checks hold for a copy made by another store object on the same bucket, which
    // has to read the stored version first.
    auto other_store = co_await open_store(conn);
    auto from_other = co_await other_store.update(lowered);
    REQUIRE_ERROR(from_other, errc::conflict);
    CHECK_THAT(from_other.error().message, Catch::Matchers::Contains("current version 4"));

    auto got = co_await s.get(id);
    REQUIRE_OK(got);
    CHECK(got->version == 4);
    CHECK(got->revision == current.revision);
    auto next = co_await s.update(current);
    REQUIRE_OK(next);
    CHECK(next->version == 5);
    auto history = co_await s.history(id);
    REQUIRE_OK(history);
    std::vector<std::int64_t> versions;
    for (const auto& r : *history) versions.push_back((*r.content)->version);
    CHECK(versions == std::vector<std::int64_t>{1, 2, 3, 4, 5});
  });
}

TEST_CASE("store: a version that cannot be incremented is refused before anything is sent", "[store]") {
  nats_server server;
  run_async([&](asio::io_context&) -> asio::awaitable<void> {
    auto conn = co_await connect_to(server);
    auto s = co_await open_store(conn);
    auto created = co_await s.create(sample_flow("at-the-limit"));
    REQUIRE_OK(created);
    // With the server stopped, anything sent would time out: an immediate answer was not sent.
    server.pause();
    for (bool carries_revision : {true, false}) {
      auto f = *created;
      f.version = std::numeric_limits<std::int64_t>::max();
      if (!carries_revision) f.revision = 0;
      const auto started = std::chrono::steady_clock::now();
      auto refused = co_await s.update(std::move(f));
      REQUIRE_ERROR(refused, errc::invalid_argument);
      CHECK(refused.error().code == condition::invalid);
      CHECK_THAT(refused.error().message, Catch::Matchers::Contains("cannot be incremented"));
      CHECK_THAT(refused.error().message, Catch::Matchers::Contains("at-the-limit"));
      CHECK(std::chrono::steady_clock::now() - started < s.operation_timeout());
    }
    server.resume();
    auto got = co_await s.get("at-the-limit");
    REQUIRE_OK(got);
    CHECK(got->version == 1);
  });
}

// =============================================================================================
// 6. remove with an expected version

TEST_CASE("store: remove with a stale expected version conflicts and with the right one it removes", "[store]") {
  nats_server server;
  run_async([&](asio::io_context&) -> asio::awaitable<void> {
    auto conn = co_await connect_to(server);
    auto s = co_await open_store(conn);
    const std::string id = "checked-remove";
    auto input = sample_flow(id);
    auto created = co_await s.create(std::move(input));
    REQUIRE_OK(created);
    auto next = *created;
    next.name = "version two";
    auto updated = co_await s.update(std::move(next));
    REQUIRE_OK(updated);
    REQUIRE(updated->version == 2);

    auto stale = co_await s.remove(id, 1);
    REQUIRE_ERROR(stale, errc::conflict);
    CHECK(stale.error().code == condition::invalid);
    CHECK_THAT(stale.error().message, Catch::Matchers::Contains("expected version 1"));
    CHECK_THAT(stale.error().message, Catch::Matchers::Contains("current version 2"));
    for (std::int64_t claimed : {std::int64_t{-5}, std::int64_t{3}, std::numeric_limits<std::int64_t>::max()}) {
      auto r = co_await s.remove(id, claimed);
      REQUIRE_ERROR(r, errc::conflict);
    }

    auto still_there = co_await s.get(id);
    REQUIRE_OK(still_there);
    CHECK(*still_there == *updated);

    auto removed = co_await s.remove(id, 2);
    REQUIRE_OK(removed);
    auto gone = co_await s.get(id);
    CHECK_ERROR(gone, errc::not_found);
  });
}

// =============================================================================================
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
// 9. binding

TEST_CASE("store: open binds to a bucket made by nats.c with other settings and uses it as it is", "[store]") {
  nats_server server;
  const std::string bucket = "made_by_nats_c";
  auto raw = raw_connect(server.url());
  {
    kvConfig cfg;
    kvConfig_Init(&cfg);
    cfg.Bucket = bucket.c_str();
    cfg.History = 3;
    cfg.StorageType = js_MemoryStorage;
    kvStore* kv = nullptr;
    REQUIRE_NATS_OK(js_CreateKeyValue(&kv, raw.js.get(), &cfg));
    kvStore_Destroy(kv);
  }
  run_async([&](asio::io_context&) -> asio::awaitable<void> {
    auto conn = co_await connect_to(server);
    flowstore::store_options options;
    options.bucket = bucket;  // history 10 and file storage: only for creating
    auto s = co_await open_store(conn, std::move(options));
    CHECK(s.bucket() == bucket);

    const std::string id = "bound";
    auto input = sample_flow(id);
    auto created = co_await s.create(std::move(input));
    REQUIRE_OK(created);
    auto current = std::move(created).value();
    for (int i = 0; i < 3; ++i) {
      current.name = "edit " + std::to_string(i);
      auto updated = co_await s.update(current);
      REQUIRE_OK(updated);
      current = std::move(updated).value();
    }
    CHECK(current.version == 4);
    auto got = co_await s.get(id);
    REQUIRE_OK(got);
    CHECK(*got == current);

    auto listed = co_await s.list();
    REQUIRE_OK(listed);
    REQUIRE(listed->flows.size() == 1);
    CHECK(listed->flows[0] == current);

    // The bucket keeps 3 revisions per key, not the 10 of store_options.
    auto history = co_await s.history(id);
    REQUIRE_OK(history);
    CHECK(history->size() == 3);

    auto removed = co_await s.remove(id);
    REQUIRE_OK(removed);
    auto gone = co_await s.get(id);
    CHECK_ERROR(gone, errc::not_found);
  });

  // Binding left the stream's settings alone.
  jsStreamInfo* raw_info = nullptr;
  jsErrCode code{};
  const std::string stream = "KV_" + bucket;
  REQUIRE_NATS_OK(js_GetStreamInfo(&raw_info, raw.js.get(), stream.c_str(), nullptr, &code));
  nats_ptr<jsStreamInfo> info(raw_info);
  CHECK(info->Config->MaxMsgsPerSubject == 3);
  CHECK(info->Config->Storage == js_MemoryStorage);
}

TEST_CASE("store: open refuses a KV_ stream with workqueue or interest retention, or a sealed one, naming the setting",
          "[store]") {
  nats_server server;
  auto raw = raw_connect(server.url());
  // Streams with a bucket's name and subjects, made by hand with settings no bucket can have.
  auto make_stream = [&](const std::string& bucket, jsRetentionPolicy retention, bool sealed) {
    jsStreamConfig cfg;
    jsStreamConfig_Init(&cfg);
    const std::string name = "KV_" + bucket;
    const std::string subject = "$KV." + bucket + ".>";
    const char* subjects[] = {subject.c_str()};
    cfg.Name = name.c_str();
    cfg.Subjects = subjects;
    cfg.SubjectsLen = 1;
    cfg.Retention = retention;
    cfg.Storage = js_MemoryStorage;
    jsStreamInfo* info = nullptr;
    REQUIRE_NATS_OK(js_AddStream(&info, raw.js.get(), &cfg, nullptr, nullptr));
    jsStreamInfo_Destroy(info);
    if (sealed) {
      cfg.Sealed = true;
      REQUIRE_NATS_OK(js_UpdateStream(&info, raw.js.get(), &cfg, nullptr, nullptr));
      jsStreamInfo_Destroy(info);
    }
  };
  make_stream("queue", js_WorkQueuePolicy, false);
  make_stream("interest", js_InterestPolicy, false);
  make_stream("sealed", js_LimitsPolicy, true);
  run_async([&](asio::io_context&) -> asio::awaitable<void> {
    auto conn = co_await connect_to(server);
    const std::vector<std::pair<std::string, std::string>> cases = {
        {"queue", "retention \"workqueue\""}, {"interest", "retention \"interest\""}, {"sealed", "is sealed"}};
    for (const auto& [bucket, setting] : cases) {
      flowstore::store_options options;
      options.bucket = bucket;
      auto opened = co_await flowstore::store::open(conn, std::move(options));
      REQUIRE_ERROR(opened, errc::configuration_error);
      CHECK(opened.error().code == condition::fatal);
      CHECK_THAT(opened.error().message, Catch::Matchers::Contains("open bucket '" + bucket + "'"));
      CHECK_THAT(opened.error().message, Catch::Matchers::Contains("KV_" + bucket));
      CHECK_THAT(opened.error().message, Catch::Matchers::Contains(setting));
      CHECK_THAT(opened.error().what(), !Catch::Matchers::Contains(".c:"));
    }
  });
}

TEST_CASE("store: open of a missing bucket without create_bucket is configuration_error", "[store]") {
  nats_server server;
  run_async([&](asio::io_context&) -> asio::awaitable<void> {
    auto conn = co_await connect_to(server);
    flowstore::store_options options;
    options.bucket = "never_made";
    options.create_bucket = false;
    auto opened = co_await flowstore::store::open(conn, std::move(options));
    REQUIRE_ERROR(opened, errc::configuration_error);
    CHECK(opened.error().code == condition::fatal);
    CHECK(opened.error().server_code == flowstore::jetstream_errc::stream_not_found);
    CHECK_THAT(opened.error().message,
               Catch::Matchers::Contains("open bucket 'never_made': the bucket does not exist"));

    // Nothing was created: a second open finds no bucket either.
    flowstore::store_options again;
    again.bucket = "never_made";
    again.create_bucket = false;
    auto reopened = co_await flowstore::store::open(conn, std::move(again));
    CHECK_ERROR(reopened, errc::configuration_error);
  });
}

TEST_CASE("store: open with 3 replicas on a single server fails with configuration_error", "[store]") {
  nats_server server;
  run_async(
      [&](asio::io_context&) -> asio::awaitable<void> {
        auto conn = co_await connect_to(server);
        flowstore::store_options options;
        options.bucket = "replicated";
        options.replicas = 3;
        const auto started = std::chrono::steady_clock::now();
        auto opened = co_await flowstore::store::open(conn, std::move(options));
        const auto elapsed = std::chrono::steady_clock::now() - started;
        REQUIRE_ERROR(opened, errc::configuration_error);
        CHECK(opened.error().code == condition::fatal);
        CHECK(opened.error().server_code == flowstore::jetstream_errc::replicas_not_supported);
        CHECK(elapsed < 10s);
        CHECK(conn.is_connected());
      },
      20s);
}

// =============================================================================================
// 10. too large

namespace {

std::size_t encoded_size(const flowstore::flow& f) {
  auto json = flowstore::to_json(f);
  REQUIRE_OK(json);
  return json->size();
}

// Sets the description so that to_json(f) is exactly `target` bytes ('x' needs no escaping).
void pad_to(flowstore::flow& f, std::size_t target) {
  f.description = "x";
  const std::size_t base = encoded_size(f);
  REQUIRE(target >= base);
  f.description.assign(target - base + 1, 'x');
  REQUIRE(encoded_size(f) == target);
}

// The header block nats.c sends with `Nats-Expected-Last-Subject-Sequence: <revision>`.
std::size_t expected_sequence_header_bytes(std::uint64_t revision) {
  return std::strlen("NATS/1.0\r\n") + 2 + std::strlen("Nats-Expected-Last-Subject-Sequence") + 2 +
         std::to_string(revision).size() + 2;
}

// `f` with the description padded so that the document update() writes, were its time stamps
// `t`, would be `target` bytes.
flowstore::flow padded_for_update(flowstore::flow f, flowstore::timestamp t, std::size_t target) {
  flowstore::flow predicted = f;
  predicted.version += 1;
  predicted.updated_at = t;
  predicted.last_modified = t;
  pad_to(predicted, target);
  f.description = std::move(predicted.description);
  return f;
}

}  // namespace

TEST_CASE("store: a flow up to the server max payload is stored and one byte more is too_large", "[store]") {
  nats_server server;
  run_async(
      [&](asio::io_context&) -> asio::awaitable<void> {
        auto conn = co_await connect_to(server);
        auto s = co_await open_store(conn);
        const auto max_payload = static_cast<std::size_t>(conn.max_payload());
        REQUIRE(max_payload > 100'000);

        // Time stamps of the longest (9 fraction digits) and shortest (none) form.
        const std::int64_t seconds = flowstore::timestamp::now().unix_seconds();
        const auto longest = flowstore::timestamp::from_unix(seconds, 123'456'789);
        const auto shortest = flowstore::timestamp::from_unix(seconds, 0);

        // create: header value "0". At most the limit with the longest stamps: accepted.
        const std::size_t create_limit = max_payload - expected_sequence_header_bytes(0);
        const std::string id = "big";
        auto big = sample_flow(id);
        {
          auto predicted = big;
          predicted.version = 1;
          predicted.state = runtime_state::not_deployed;
          predicted.created_at = predicted.updated_at = predicted.last_modified = longest;
          pad_to(predicted, create_limit);
          big.description = predicted.description;
        }
        auto created = co_await s.create(big);
        REQUIRE_OK(created);
        CHECK(encoded_size(*created) <= create_limit);

        // create: one byte over even with the shortest stamps: rejected, nothing stored.
        const std::string too_big_id = "too-big";
        auto too_big = sample_flow(too_big_id);
        {
          auto predicted = too_big;
          predicted.version = 1;
          predicted.state = runtime_state::not_deployed;
          predicted.created_at = predicted.updated_at = predicted.last_modified = shortest;
          pad_to(predicted, create_limit + 1);
          too_big.description = predicted.description;
        }
        auto rejected_create = co_await s.create(std::move(too_big));
        REQUIRE_ERROR(rejected_create, errc::too_large);
        CHECK(rejected_create.error().code == condition::invalid);
        CHECK(conn.is_connected());
        auto not_stored = co_await s.get(too_big_id);
        CHECK_ERROR(not_stored, errc::not_found);

        // update, exactly at the limit: the prediction with the longest stamps is an upper
        // bound, exact when update's own stamp has 9 fraction digits (90 %); repeat until it had.
        auto current = std::move(created).value();
        bool exact_fit = false;
        for (int attempt = 0; attempt < 20 && !exact_fit; ++attempt) {
          const std::size_t limit = max_payload - expected_sequence_header_bytes(current.revision);
          auto candidate = padded_for_update(current, longest, limit);
          auto updated = co_await s.update(std::move(candidate));
          REQUIRE_OK(updated);
          const std::size_t size = encoded_size(*updated);
          REQUIRE(size <= limit);
          exact_fit = size == limit;
          current = std::move(updated).value();
        }
        CHECK(exact_fit);

        // update, one byte over: the same upper bound + 1. Either its stamp was the longest and
        // the document is exactly one byte over (too_large), or it was shorter and fits; repeat.
        bool rejected = false;
        for (int attempt = 0; attempt < 20 && !rejected; ++attempt) {
          const std::size_t limit = max_payload - expected_sequence_header_bytes(current.revision);
          auto candidate = padded_for_update(current, longest, limit + 1);
          auto updated = co_await s.update(std::move(candidate));
          if (updated) {
            CHECK(encoded_size(*updated) <= limit);
            current = std::move(updated).value();
            continue;
          }
          REQUIRE_ERROR(updated, errc::too_large);
          CHECK(updated.error().code == condition::invalid);
          rejected = true;
        }
        CHECK(rejected);

        // Nothing was sent: the connection is fine and the flow unchanged.
        CHECK(conn.is_connected());
        auto got = co_await s.get(id);
        REQUIRE_OK(got);
        CHECK(got->revision == current.revision);
        CHECK(*got == current);
      },
      90s);
}

// =============================================================================================
// 11. invalid ids

namespace {

struct invalid_id_tally {
  int good_gets = 0;
  int rejected_ids = 0;
};

asio::awaitable<void> get_valid(flowstore::store s, flowstore::flow expected, invalid_id_tally* tally) {
  auto got = co_await s.get(expected.id);
  REQUIRE_OK(got);
  CHECK(*got == expected);
  ++tally->good_gets;
}

asio::awaitable<void> use_invalid_id(flowstore::store s, std::string id, invalid_id_tally* tally) {
  auto got = co_await s.get(id);
  CHECK_ERROR(got, errc::invalid_id);
  auto f = sample_flow(id);
  auto created = co_await s.create(std::move(f));
  CHECK_ERROR(created, errc::invalid_id);
  auto removed = co_await s.remove(id);
  CHECK_ERROR(removed, errc::invalid_id);
  auto removed_checked = co_await s.remove(id, 1);
  CHECK_ERROR(removed_checked, errc::invalid_id);
  auto history = co_await s.history(id);
  CHECK_ERROR(history, errc::invalid_id);
  if (!got) CHECK(got.error().code == condition::invalid);
  ++tally->rejected_ids;
}

}  // namespace

TEST_CASE("store: invalid ids are rejected before sending without disturbing operations in flight", "[store]") {
  nats_server server;
  run_async([&](asio::io_context&) -> asio::awaitable<void> {
    auto conn = co_await connect_to(server);
    auto s = co_await open_store(conn);
    auto input = sample_flow("valid-flow");
    auto created = co_await s.create(std::move(input));
    REQUIRE_OK(created);

    const std::vector<std::string> invalid = {"a b", "a.*", ">", "..", "", std::string(300, 'a')};
    invalid_id_tally tally;
    std::vector<asio::awaitable<void>> tasks;
    int invalid_calls = 0;
    for (int i = 0; i < 100; ++i) {
      tasks.push_back(get_valid(s, *created, &tally));
      if (i % 5 == 2) {
        tasks.push_back(use_invalid_id(s, invalid[static_cast<std::size_t>(invalid_calls) % invalid.size()], &tally));
        ++invalid_calls;
      }
    }
    co_await run_all(std::move(tasks));

    CHECK(tally.good_gets == 100);
    CHECK(tally.rejected_ids == invalid_calls);
    CHECK(conn.is_connected());
    auto after = co_await s.get(created->id);
    CHECK_OK(after);
  });
}

// =============================================================================================
// 12. no lost updates

namespace {

constexpr int writer_count = 16;
constexpr int rounds_per_writer = 50;

struct update_tally {
  int successes = 0;
  int conflicts = 0;
};

std::string mark(int writer, int round) { return "w" + std::to_string(writer) + "-r" + std::to_string(round); }

// get → add its mark (a key of the one node's config: small documents keep this fast) →
// update, retrying on conflict (re-get), `rounds_per_writer` times.
asio::awaitable<void> writer(flowstore::store s, std::string id, int w, update_tally* tally) {
  for (int r = 0; r < rounds_per_writer; ++r) {
    for (;;) {
      auto current = co_await s.get(id);
      REQUIRE_OK(current);
      flowstore::flow next = std::move(current).value();
      REQUIRE(next.nodes.size() == 1);
      REQUIRE_FALSE(next.nodes[0].config.contains(mark(w, r)));
      next.nodes[0].config[mark(w, r)] = true;
      auto updated = co_await s.update(std::move(next));
      if (updated) {
        ++tally->successes;
        break;
      }
      REQUIRE_ERROR(updated, errc::conflict);
      ++tally->conflicts;
    }
  }
}

// Runs the writers (split evenly over `stores`) and checks that no update was lost.
asio::awaitable<void> check_no_lost_updates(std::vector<flowstore::store> stores, std::string id, std::string label) {
  flowstore::flow initial;
  initial.id = id;
  initial.name = "contended";
  flowstore::flow_node marks_node;
  marks_node.id = "marks";
  marks_node.component = "mark";
  marks_node.type = component_type::processor;
  marks_node.name = "marks";
  initial.nodes.push_back(std::move(marks_node));
  auto created = co_await stores[0].create(std::move(initial));
  REQUIRE_OK(created);

  update_tally tally;
  std::vector<asio::awaitable<void>> tasks;
  for (int w = 0; w < writer_count; ++w) {
    const auto which = static_cast<std::size_t>(w) * stores.size() / writer_count;
    tasks.push_back(writer(stores[which], id, w, &tally));
  }
  const auto started = std::chrono::steady_clock::now();
  co_await run_all(std::move(tasks));
  const auto elapsed = std::chrono::steady_clock::now() - started;

  auto final_flow = co_await stores[0].get(id);
  REQUIRE_OK(final_flow);
  std::cout << "[store] lost-update check (" << label << "): " << tally.successes << " successful updates, "
            << tally.conflicts << " conflicts, final version " << final_flow->version << ", " << millis(elapsed)
            << " ms" << std::endl;
  INFO(label << ": successes " << tally.successes << ", conflicts " << tally.conflicts << ", final version "
             << final_flow->version);
  CHECK(tally.successes == writer_count * rounds_per_writer);
  CHECK(final_flow->version - 1 == tally.successes);
  REQUIRE(final_flow->nodes.size() == 1);
  const auto& marks = final_flow->nodes[0].config;
  CHECK(marks.size() == static_cast<std::size_t>(writer_count * rounds_per_writer));
  int missing = 0;
  for (int w = 0; w < writer_count; ++w) {
    for (int r = 0; r < rounds_per_writer; ++r) missing += marks.contains(mark(w, r)) ? 0 : 1;
  }
  CHECK(missing == 0);
}

}  // namespace

TEST_CASE("store: 16 writers retrying on conflict lose no update on one connection and on two", "[store]") {
  nats_server server;
  run_async(
      [&](asio::io_context&) -> asio::awaitable<void> {
        auto conn = co_await connect_to(server);
        auto s = co_await open_store(conn);
        std::vector<flowstore::store> one = {s};
        co_await check_no_lost_updates(std::move(one), "contended-one", "one connection, 16 writers");

        auto conn2 = co_await connect_to(server);
        auto s2 = co_await open_store(conn2);
        std::vector<flowstore::store> two = {s, s2};
        co_await check_no_lost_updates(std::move(two), "contended-two", "two connections, 8 + 8 writers");
        CHECK(conn.is_connected());
        CHECK(conn2.is_connected());
      },
      110s);
}

// =============================================================================================
// 13. many concurrent gets

namespace {

asio::awaitable<void> get_and_compare(flowstore::store s, const flowstore::flow* expected, int* correct, int* wrong) {
  auto got = co_await s.get(expected->id);
  if (got && *got == *expected) {
    ++*correct;
  } else {
    if (++*wrong <= 5) {
      INFO("get " << expected->id << ": " << outcome_text(got));
      CHECK(false);
    }
  }
}

}  // namespace

TEST_CASE("store: 10000 concurrent gets on one connection from one thread all complete correctly", "[store]") {
  nats_server server;
  run_async(
      [&](asio::io_context&) -> asio::awaitable<void> {
        auto conn = co_await connect_to(server);
        flowstore::store_options options;
        options.operation_timeout = 30s;  // a measurement, not a timeout test
        auto s = co_await open_store(conn, std::move(options));

        std::vector<flowstore::flow> flows;
        for (int i = 0; i < 10; ++i) {
          auto f = sample_flow("bulk-" + std::to_string(i));
          auto created = co_await s.create(std::move(f));
          REQUIRE_OK(created);
          flows.push_back(std::move(created).value());
        }

        constexpr int total = 10'000;
        int correct = 0;
        int wrong = 0;
        std::vector<asio::awaitable<void>> tasks;
        tasks.reserve(total);
        for (int i = 0; i < total; ++i) {
          tasks.push_back(get_and_compare(s, &flows[static_cast<std::size_t>(i) % flows.size()], &correct, &wrong));
        }
        const auto started = std::chrono::steady_clock::now();
        co_await run_all(std::move(tasks));
        const auto elapsed = std::chrono::steady_clock::now() - started;

        const double ms = millis(elapsed);
        std::cout << "[store] " << total << " concurrent gets: " << ms << " ms, " << (total / (ms / 1000.0))
                  << " gets/s" << std::endl;
        CHECK(correct == total);
        CHECK(wrong == 0);
        CHECK(conn.is_connected());
      },
      90s);
}

TEST_CASE("store: replies to back-to-back gets are freed in bulk and none stay held once idle", "[store]") {
  nats_server server;
  run_async([&](asio::io_context&) -> asio::awaitable<void> {
    auto conn = co_await connect_to(server);
    auto s = co_await open_store(conn);
    auto created = co_await s.create(one_node_flow("held"));
    REQUIRE_OK(created);

    const flowstore::detail::connection_impl& impl = *flowstore::detail::access::impl(conn);
    std::size_t most_held = 0;
    for (int i = 0; i < 200; ++i) {
      auto got = co_await s.get("held");
      REQUIRE_OK(got);
      // Resumed while the connection handles the reply; the earlier replies' drains ended with
      // this loop's next get already out.
      most_held = std::max(most_held, impl.held_replies());
    }
    CHECK(most_held > 1);
    CHECK(most_held < flowstore::detail::held_messages::max_messages);

    // Once the last reply's handling ends, nothing waits: everything held is freed.
    const auto executor = co_await asio::this_coro::executor;
    co_await asio::post(executor, asio::use_awaitable);
    CHECK(impl.held_replies() == 0);
  });
}

// =============================================================================================
// 14. timeout and cancellation

TEST_CASE("store: a get to a paused server times out as transient and succeeds after resume", "[store]") {
  nats_server server;
  run_async(
      [&](asio::io_context&) -> asio::awaitable<void> {
        auto conn = co_await connect_to(server);
        flowstore::store_options options;
        options.operation_timeout = 500ms;
        auto s = co_await open_store(conn, std::move(options));
        CHECK(s.operation_timeout() == 500ms);
        const std::string id = "paused";
        auto input = sample_flow(id);
        auto created = co_await s.create(std::move(input));
        REQUIRE_OK(created);

        resume_on_exit guard{server};
        server.pause();
        const auto started = std::chrono::steady_clock::now();
        auto timed_out = co_await s.get(id);
        const auto elapsed = std::chrono::steady_clock::now() - started;
        REQUIRE_ERROR(timed_out, errc::timeout);
        CHECK(timed_out.error().code == condition::transient);
        CHECK(elapsed >= 450ms);
        CHECK(elapsed < 5s);

        server.resume();
        auto got = co_await get_eventually(s, id, 40);
        REQUIRE_OK(got);
        CHECK(*got == *created);
      },
      60s);
}

TEST_CASE("store: a get cancelled by a racing timer completes promptly and the connection stays usable", "[store]") {
  using namespace asio::experimental::awaitable_operators;
  nats_server server;
  run_async(
      [&](asio::io_context& io) -> asio::awaitable<void> {
        auto conn = co_await connect_to(server);
        flowstore::store_options options;
        options.operation_timeout = 20s;  // far beyond the test's bounds: only cancellation can end it
        auto s = co_await open_store(conn, std::move(options));
        const std::string id = "cancelled";
        auto input = sample_flow(id);
        auto created = co_await s.create(std::move(input));
        REQUIRE_OK(created);

        resume_on_exit guard{server};
        server.pause();
        asio::steady_timer timer(io, 1ms);
        auto race = s.get(id) || timer.async_wait(asio::use_awaitable);
        const auto started = std::chrono::steady_clock::now();
        auto winner = co_await std::move(race);
        const auto elapsed = std::chrono::steady_clock::now() - started;
        CHECK(winner.index() == 1);
        CHECK(elapsed < 2s);

        server.resume();
        auto got = co_await get_eventually(s, id, 40);
        REQUIRE_OK(got);
        CHECK(*got == *created);
        CHECK(conn.is_connected());
      },
      60s);
}

asio::awaitable<void> list_into(flowstore::store s, std::optional<flowstore::result<flowstore::list_result>>* out) {
  *out = co_await s.list();
}

TEST_CASE("store: a list cancelled while its consumer is set up completes as cancelled without throwing", "[store]") {
  using namespace asio::experimental::awaitable_operators;
  nats_server server;
  run_async(
      [&](asio::io_context& io) -> asio::awaitable<void> {
        auto conn = co_await connect_to(server);
        flowstore::store_options options;
        options.operation_timeout = 1s;
        auto s = co_await open_store(conn, std::move(options));
        auto created = co_await s.create(sample_flow("listed"));
        REQUIRE_OK(created);

        // The server stopped, setting the consumer up waits out its timeout on the library's
        // thread; the cancellation that arrives meanwhile decides the outcome.
        resume_on_exit guard{server};
        server.pause();
        std::optional<flowstore::result<flowstore::list_result>> listed;
        asio::steady_timer timer(io, 50ms);
        const auto started = std::chrono::steady_clock::now();
        auto winner = co_await (list_into(s, &listed) || timer.async_wait(asio::use_awaitable));
        const auto elapsed = std::chrono::steady_clock::now() - started;
        CHECK(winner.index() == 1);
        REQUIRE(listed.has_value());
        REQUIRE_ERROR(*listed, errc::cancelled);
        CHECK(elapsed < 10s);

        server.resume();
        auto again = co_await s.list();
        REQUIRE_OK(again);
        REQUIRE(again->flows.size() == 1);
        CHECK(again->flows[0] == *created);
      },
      60s);
}

// =============================================================================================
// 15. documents written by Go

TEST_CASE("store: a document as Go encoding/json writes it decodes and the documents of the store decode raw",
          "[store]") {
  // Go's Flow, field for field as encoding/json writes it: declaration order, omitempty on
  // description/created_by/*_at pointers, float64 positions without a fraction, sorted map
  // keys, HTML-safe escapes, RFC 3339 nanosecond times in UTC.
  const std::string go_document =
      R"({"id":"go-written","name":"Written by Go","description":"ingest \u003cudp\u003e \u0026 graph",)"
      R"("version":3,"nodes":[{"id":"udp-in","component":"udp","type":"input","name":"udp-input-1",)"
      R"("position":{"x":100,"y":250},"config":{"bind":"0.0.0.0","port":5000}},)"
      R"({"id":"graph","component":"graph-processor","type":"processor","name":"graph-processor-1",)"
      R"("position":{"x":400.5,"y":250},"config":{"batch":{"max_items":100,"window":"5s"},"ratio":0.75,)"
      R"("tags":["a","b"]}}],"connections":[{"id":"conn-1","source_node_id":"udp-in","source_port":"out",)"
      R"("target_node_id":"graph","target_port":"in"}],"runtime_state":"running",)"
      R"("deployed_at":"2024-03-01T09:15:00.5Z","started_at":"2024-03-01T09:15:02.123456789Z",)"
      R"("created_at":"2024-02-29T08:00:00Z","updated_at":"2024-03-01T09:15:02.123456789Z",)"
      R"("created_by":"go-service","last_modified":"2024-03-01T09:15:02.123456789Z"})";

  nats_server server;
  run_async([&](asio::io_context&) -> asio::awaitable<void> {
    auto conn = co_await connect_to(server);
    auto s = co_await open_store(conn);
    auto raw = raw_connect(server.url());
    auto kv = raw_bind(raw.js.get(), s.bucket());

    const std::string go_id = "go-written";
    const std::uint64_t go_revision = raw_put(kv.get(), go_id, go_document);

    auto got = co_await s.get(go_id);
    REQUIRE_OK(got);
    const flowstore::flow& f = *got;
    CHECK(f.revision == go_revision);
    CHECK(f.id == go_id);
    CHECK(f.name == "Written by Go");
    CHECK(f.description == "ingest <udp> & graph");
    CHECK(f.version == 3);
    CHECK(f.state == runtime_state::running);
    auto at = [](const char* text) { return flowstore::timestamp::parse(text).value(); };
    CHECK(f.deployed_at == std::optional(at("2024-03-01T09:15:00.5Z")));
    CHECK(f.started_at == std::optional(at("2024-03-01T09:15:02.123456789Z")));
    CHECK_FALSE(f.stopped_at.has_value());
    CHECK(f.created_at == at("2024-02-29T08:00:00Z"));
    CHECK(f.updated_at == at("2024-03-01T09:15:02.123456789Z"));
    CHECK(f.last_modified == at("2024-03-01T09:15:02.123456789Z"));
    CHECK(f.created_by == "go-service");
    CHECK(f.unknown_fields.empty());
    REQUIRE(f.nodes.size() == 2);
    CHECK(f.nodes[0].id == "udp-in");
    CHECK(f.nodes[0].component == "udp");
    CHECK(f.nodes[0].type == component_type::input);
    CHECK(f.nodes[0].name == "udp-input-1");
    CHECK(f.nodes[0].pos == flowstore::position{100, 250});
    CHECK(f.nodes[0].config == boost::json::parse(R"({"bind":"0.0.0.0","port":5000})").as_object());
    CHECK(f.nodes[1].id == "graph");
    CHECK(f.nodes[1].type == component_type::processor);
    CHECK(f.nodes[1].pos == flowstore::position{400.5, 250});
    CHECK(f.nodes[1].config ==
          boost::json::parse(R"({"batch":{"max_items":100,"window":"5s"},"ratio":0.75,"tags":["a","b"]})").as_object());
    REQUIRE(f.connections.size() == 1);
    CHECK(f.connections[0].id == "conn-1");
    CHECK(f.connections[0].source_node_id == "udp-in");
    CHECK(f.connections[0].source_port == "out");
    CHECK(f.connections[0].target_node_id == "graph");
    CHECK(f.connections[0].target_port == "in");
    // Written back, it is the same bytes.
    auto reencoded = flowstore::to_json(f);
    REQUIRE_OK(reencoded);
    CHECK(*reencoded == go_document);

    // The other way: what the store writes, read raw, decodes to what the store returned.
    auto input = sample_flow("cpp-written");
    input.created_by = "cpp-service";
    auto created = co_await s.create(std::move(input));
    REQUIRE_OK(created);
    const auto [stored, stored_revision] = raw_get(kv.get(), created->id);
    CHECK(stored_revision == created->revision);
    auto decoded = flowstore::flow_from_json(stored);
    REQUIRE_OK(decoded);
    CHECK(decoded->revision == 0);
    decoded->revision = created->revision;
    CHECK(*decoded == *created);
    auto expected_bytes = flowstore::to_json(*created);
    REQUIRE_OK(expected_bytes);
    CHECK(stored == *expected_bytes);
  });
}

// =============================================================================================
// 16. connection events and close

TEST_CASE("store: close() reports a closed event and every operation afterwards fails with closed", "[store]") {
  nats_server server;
  run_async([&](asio::io_context&) -> asio::awaitable<void> {
    auto events = std::make_shared<std::vector<flowstore::connection_event::kind>>();
    auto options = options_for(server);
    options.on_event = [events](const flowstore::connection_event& e) { events->push_back(e.what); };
    auto conn = co_await connect_with(std::move(options));
    auto s = co_await open_store(conn);
    const std::string id = "before-close";
    auto input = sample_flow(id);
    auto created = co_await s.create(std::move(input));
    REQUIRE_OK(created);
    CHECK(events->empty());

    co_await conn.close();
    CHECK(std::count(events->begin(), events->end(), flowstore::connection_event::kind::closed) == 1);
    CHECK_FALSE(conn.is_connected());

    auto got = co_await s.get(id);
    REQUIRE_ERROR(got, errc::closed);
    CHECK(got.error().code == condition::transient);
    auto again = sample_flow("after-close");
    auto created_after = co_await s.create(std::move(again));
    CHECK_ERROR(created_after, errc::closed);
    auto updated = co_await s.update(*created);
    CHECK_ERROR(updated, errc::closed);
    auto removed = co_await s.remove(id);
    CHECK_ERROR(removed, errc::closed);
    auto listed = co_await s.list();
    CHECK_ERROR(listed, errc::closed);
    auto history = co_await s.history(id);
    CHECK_ERROR(history, errc::closed);
    auto reopened = co_await flowstore::store::open(conn);
    CHECK_ERROR(reopened, errc::closed);

    co_await conn.close();  // harmless
    CHECK(std::count(events->begin(), events->end(), flowstore::connection_event::kind::closed) == 1);
  });
}

namespace {

// One operation of the close test: when it started and ended, and how.
// How many turns of the event loop "at once" may take: a result travels from the connection's
// strand to the caller's executor and up a few coroutine frames, each a turn at most.
constexpr int max_turns_at_once = 16;

struct timed_outcome {
  std::chrono::steady_clock::time_point started{};
  std::chrono::steady_clock::time_point ended{};
  bool done = false;
  std::error_code code{};  // empty: success
};

template <class T>
asio::awaitable<void> timed(asio::awaitable<flowstore::result<T>> op, timed_outcome* out) {
  out->started = std::chrono::steady_clock::now();
  auto r = co_await std::move(op);
  out->ended = std::chrono::steady_clock::now();
  out->done = true;
  if (!r) out->code = r.error().code;
}

asio::awaitable<void> timed_remove(flowstore::store s, std::string id, timed_outcome* out) {
  out->started = std::chrono::steady_clock::now();
  auto r = co_await s.remove(std::move(id));
  out->ended = std::chrono::steady_clock::now();
  out->done = true;
  if (!r) out->code = r.error().code;
}

asio::awaitable<void> watch_until_error(flowstore::watcher* w, timed_outcome* out) {
  out->started = std::chrono::steady_clock::now();
  for (;;) {
    auto event = co_await w->next();
    if (event) continue;
    out->ended = std::chrono::steady_clock::now();
    out->done = true;
    out->code = event.error().code;
    co_return;
  }
}

}  // namespace

TEST_CASE("store: close() with 1000 operations and 20 watchers in flight ends every one with closed at once",
          "[store]") {
  nats_server server;
  run_async(
      [&](asio::io_context&) -> asio::awaitable<void> {
        using clock_type = std::chrono::steady_clock;
        auto conn = co_await connect_to(server);
        auto s = co_await open_store(conn);
        std::vector<flowstore::flow> flows;
        for (int i = 0; i < 200; ++i) {
          auto created = co_await s.create(sample_flow("f" + std::to_string(i)));
          REQUIRE_OK(created);
          flows.push_back(std::move(created).value());
        }
        std::vector<flowstore::watcher> watchers;
        std::vector<timed_outcome> watched(20);
        const auto executor = co_await asio::this_coro::executor;
        for (int i = 0; i < 20; ++i) watchers.push_back(s.watch());
        for (int i = 0; i < 20; ++i)
          asio::co_spawn(executor, watch_until_error(&watchers[i], &watched[i]), asio::detached);

        // 1000 mixed operations in flight: get, create, update, remove, list, history.
        std::vector<timed_outcome> ops(1000);
        for (int i = 0; i < 1000; ++i) {
          const auto& f = flows[static_cast<std::size_t>(i % 200)];
          switch (i % 6) {
            case 0:
              asio::co_spawn(executor, timed(s.get(f.id), &ops[i]), asio::detached);
              break;
            case 1:
              asio::co_spawn(executor, timed(s.create(sample_flow("new" + std::to_string(i))), &ops[i]),
                             asio::detached);
              break;
            case 2: {
              auto edited = f;
              edited.description = "edit " + std::to_string(i);
              asio::co_spawn(executor, timed(s.update(std::move(edited)), &ops[i]), asio::detached);
              break;
            }
            case 3:
              asio::co_spawn(executor, timed_remove(s, f.id, &ops[i]), asio::detached);
              break;
            case 4:
              asio::co_spawn(executor, timed(s.list(), &ops[i]), asio::detached);
              break;
            default:
              asio::co_spawn(executor, timed(s.history(f.id), &ops[i]), asio::detached);
              break;
          }
        }
        // Let them get going: requests out, consumers being made.
        asio::steady_timer pause(executor);
        pause.expires_after(20ms);
        co_await pause.async_wait(asio::use_awaitable);
        std::size_t done_before = 0;
        for (const auto& op : ops) done_before += op.done ? 1 : 0;

        const auto close_called = clock_type::now();
        co_await conn.close();
        const auto close_returned = clock_type::now();

        // "At once", without a clock: once close() has returned, every operation and watcher in
        // flight ends within a few turns of the event loop — no reply, timer or other thread is
        // waited for. (The figures in ms are printed below; they depend on the machine.)
        auto in_flight_done = [&] {
          for (const auto* group : {&ops, &watched}) {
            for (const auto& op : *group) {
              if (!op.done) return false;
            }
          }
          return true;
        };
        int turns_after_close = 0;
        while (!in_flight_done() && turns_after_close < max_turns_at_once) {
          co_await asio::post(executor, asio::use_awaitable);
          ++turns_after_close;
        }
        CHECK(in_flight_done());

        // Operations started after close end with closed at once too.
        std::vector<timed_outcome> later(60);
        for (int i = 0; i < 60; ++i) {
          const auto& f = flows[static_cast<std::size_t>(i)];
          switch (i % 3) {
            case 0:
              asio::co_spawn(executor, timed(s.get(f.id), &later[i]), asio::detached);
              break;
            case 1:
              asio::co_spawn(executor, timed(s.list(), &later[i]), asio::detached);
              break;
            default:
              asio::co_spawn(executor, timed(s.history(f.id), &later[i]), asio::detached);
              break;
          }
        }
        auto late_watch = s.watch();
        timed_outcome late_watched;
        asio::co_spawn(executor, watch_until_error(&late_watch, &late_watched), asio::detached);
        auto later_done = [&] {
          for (const auto& op : later) {
            if (!op.done) return false;
          }
          return late_watched.done;
        };
        int turns_later = 0;
        while (!later_done() && turns_later < max_turns_at_once) {
          co_await asio::post(executor, asio::use_awaitable);
          ++turns_later;
        }
        CHECK(later_done());

        const auto give_up = clock_type::now() + 10s;
        auto all_done = [&] {
          for (const auto* group : {&ops, &watched, &later}) {
            for (const auto& op : *group) {
              if (!op.done) return false;
            }
          }
          return late_watched.done;
        };
        while (!all_done() && clock_type::now() < give_up) {
          pause.expires_after(5ms);
          co_await pause.async_wait(asio::use_awaitable);
        }
        REQUIRE(all_done());

        auto longest_after = clock_type::duration::zero();
        std::size_t ended_after_call = 0, succeeded_after_call = 0, succeeded_after_return = 0;
        for (const auto* group : {&ops, &watched}) {
          for (const auto& op : *group) {
            if (op.ended < close_called) continue;
            ++ended_after_call;
            longest_after = std::max(longest_after, op.ended - close_called);
            if (!op.code) ++succeeded_after_call;
            if (!op.code && op.ended > close_returned) ++succeeded_after_return;
            if (op.ended > close_returned) CHECK(op.code == errc::closed);
          }
        }
        auto longest_later = clock_type::duration::zero();
        for (const auto* op : {&late_watched}) longest_later = std::max(longest_later, op->ended - op->started);
        for (const auto& op : later) {
          CHECK(op.code == errc::closed);
          longest_later = std::max(longest_later, op.ended - op.started);
        }
        CHECK(late_watched.code == errc::closed);
        for (const auto& w : watched) CHECK(w.code == errc::closed);

        const auto ms = [](clock_type::duration d) { return std::chrono::duration<double, std::milli>(d).count(); };
        const auto close_time = close_returned - close_called;
        std::cout << "[close] " << done_before << " of 1000 operations done before close(); close() took "
                  << ms(close_time) << " ms; " << ended_after_call
                  << " operations and watchers ended after it was called, the last " << ms(longest_after)
                  << " ms after the call (" << succeeded_after_call << " with a result decided before the close, "
                  << succeeded_after_return << " after it returned); operations started after close ended in at most "
                  << ms(longest_later) << " ms; event-loop turns after close() returned: " << turns_after_close
                  << " for those in flight, " << turns_later << " for those started after it" << std::endl;
        CHECK(ended_after_call > 0);
        CHECK(close_time < 1s);  // the bound the close promises with 1000 operations in flight
        CHECK(succeeded_after_return == 0);

        // No scan or watch set-up went out after the close: nothing waits for a reply.
        CHECK(flowstore::detail::access::impl(conn)->pending_requests() == 0);
      },
      60s);
}

TEST_CASE("store: operations made by a store object run after it is gone", "[store]") {
  nats_server server;
  run_async([&](asio::io_context&) -> asio::awaitable<void> {
    auto conn = co_await connect_to(server);
    // A store of its own for each operation, on the heap, freed before the operation runs (an
    // awaitable starts lazily): under AddressSanitizer an operation that still used the store
    // object would be a use after free.
    auto fresh = [&conn]() -> asio::awaitable<std::unique_ptr<flowstore::store>> {
      co_return std::make_unique<flowstore::store>(co_await open_store(conn));
    };
    flowstore::flow f;
    f.id = "outlived-by-its-operations";
    f.name = "outlived";
    f.state = runtime_state::not_deployed;

    auto s = co_await fresh();
    auto create = s->create(f);
    s.reset();
    auto created = co_await std::move(create);
    REQUIRE_OK(created);
    s = co_await fresh();
    auto get = s->get(f.id);
    s.reset();
    auto got = co_await std::move(get);
    REQUIRE_OK(got);
    s = co_await fresh();
    auto update = s->update(*got);
    s.reset();
    auto updated = co_await std::move(update);
    REQUIRE_OK(updated);
    CHECK(updated->version == 2);
    s = co_await fresh();
    auto list = s->list();
    s.reset();
    auto listed = co_await std::move(list);
    REQUIRE_OK(listed);
    CHECK(listed->flows.size() == 1);
    s = co_await fresh();
    auto history = s->history(f.id);
    s.reset();
    auto revisions = co_await std::move(history);
    REQUIRE_OK(revisions);
    CHECK(revisions->size() == 2);
    s = co_await fresh();
    auto remove = s->remove(f.id, 2);
    s.reset();
    auto removed = co_await std::move(remove);
    REQUIRE_OK(removed);
    co_await conn.close();
  });
}

namespace {

// One writer of the modify() test: `rounds` changes, each counting the writer's own rounds in the
// node's config, derived from the flow it is given (a lost change would leave a count short).
asio::awaitable<void> count_rounds(flowstore::store s, std::string key, int rounds, flowstore::modify_options options,
                                   int& calls, int& failures) {
  // A named function, not a lambda inside the co_await: g++ 12 destroys such temporaries twice.
  std::function<bool(flowstore::flow&)> count = [&calls, key](flowstore::flow& current) {
    ++calls;
    auto& config = current.nodes.front().config;
    const auto* counted = config.if_contains(key);
    config[key] = counted == nullptr ? 1 : counted->as_int64() + 1;
    return true;
  };
  for (int round = 0; round < rounds; ++round) {
    auto done = co_await s.modify("modified", count, options);
    if (!done) ++failures;
  }
}

}  // namespace

TEST_CASE("store: modify() applies every change of 16 writers making 50 each on one flow", "[store]") {
  nats_server server;
  constexpr int writers = 16;
  constexpr int rounds = 50;
  run_async(
      [&](asio::io_context& io) -> asio::awaitable<void> {
        auto conn = co_await connect_to(server);
        auto s = co_await open_store(conn);
        flowstore::flow f;
        f.id = "modified";
        f.name = "modified";
        flowstore::flow_node counters;
        counters.id = "counters";
        counters.component = "json_generic";
        counters.type = component_type::processor;
        counters.name = "counters";
        f.nodes.push_back(std::move(counters));
        auto created = co_await s.create(f);
        REQUIRE_OK(created);

        int calls = 0;
        int failures = 0;
        int finished = 0;
        flowstore::modify_options options;
        options.max_attempts = 10000;  // 16 writers on one flow lose many rounds; none may give up
        asio::steady_timer all_done(io, std::chrono::steady_clock::time_point::max());
        for (int w = 0; w < writers; ++w) {
          asio::co_spawn(io, count_rounds(s, "w" + std::to_string(w), rounds, options, calls, failures),
                         [&](std::exception_ptr e) {
                           if (e) ++failures;
                           if (++finished == writers) all_done.cancel();
                         });
        }
        co_await all_done.async_wait(asio::as_tuple(asio::use_awaitable));
        CHECK(failures == 0);
        auto final_flow = co_await s.get("modified");
        REQUIRE_OK(final_flow);
        CHECK(final_flow->version == 1 + writers * rounds);
        for (int w = 0; w < writers; ++w) {
          INFO("writer " << w);
          CHECK(final_flow->nodes.front().config.at("w" + std::to_string(w)).as_int64() == rounds);
        }
        std::cout << "modify: " << writers * rounds << " changes applied in " << calls << " calls of the change"
                  << std::endl;
        CHECK(calls > writers * rounds);  // they did collide

        // A change that declines writes nothing; a missing flow is not_found.
        const std::function<bool(flowstore::flow&)> decline = [](flowstore::flow&) { return false; };
        const std::function<bool(flowstore::flow&)> accept = [](flowstore::flow&) { return true; };
        const std::function<bool(flowstore::flow&)> rename_id = [](flowstore::flow& g) {
          g.id = "other";
          return true;
        };
        auto declined = co_await s.modify("modified", decline);
        REQUIRE_OK(declined);
        CHECK(declined->version == 1 + writers * rounds);
        auto missing = co_await s.modify("no-such-flow", accept);
        REQUIRE_ERROR(missing, errc::not_found);
        auto renaming = co_await s.modify("modified", rename_id);
        REQUIRE_ERROR(renaming, errc::invalid_argument);
        co_await conn.close();
      },
      std::chrono::seconds(120));
}

TEST_CASE("store: modify() gives up with conflict after its attempts and can be cancelled while it waits", "[store]") {
  using namespace asio::experimental::awaitable_operators;
  nats_server server;
  run_async([&](asio::io_context&) -> asio::awaitable<void> {
    auto conn = co_await connect_to(server);
    auto s = co_await open_store(conn);
    flowstore::flow f;
    f.id = "contended";
    f.name = "contended";
    auto created = co_await s.create(f);
    REQUIRE_OK(created);
    auto rename = [](std::string name) -> std::function<bool(flowstore::flow&)> {
      return [name](flowstore::flow& g) {
        g.name = name;
        return true;
      };
    };
    const auto to_a = rename("a");
    const auto to_b = rename("b");
    const auto to_c = rename("c");
    const auto to_d = rename("d");
    flowstore::modify_options once;
    once.max_attempts = 1;
    // Both read version 1 before either writes (their reads are in flight together): the
    // second compare-and-set loses, and with one attempt it gives up.
    auto [first, second] = co_await (s.modify("contended", to_a, once) && s.modify("contended", to_b, once));
    REQUIRE_OK(first);
    REQUIRE_ERROR(second, errc::conflict);

    // A wait of at least half an hour after a lost round, cancelled by a timer racing it (were
    // the wait not cancellable, the test would time out).
    flowstore::modify_options patient;
    patient.initial_backoff = std::chrono::hours(1);
    patient.max_backoff = std::chrono::hours(1);
    asio::steady_timer soon(co_await asio::this_coro::executor, std::chrono::milliseconds(300));
    auto raced = co_await ((s.modify("contended", to_c, once) && s.modify("contended", to_d, patient)) ||
                           soon.async_wait(asio::use_awaitable));
    REQUIRE(raced.index() == 1);  // the timer won: the modify waiting an hour was cancelled
    co_await conn.close();
  });
}
