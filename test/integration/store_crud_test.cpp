// Integration tests of the store's single-flow operations against a real nats-server: create,
// get, update and remove, drafts, conflicts, the version invariant, size limits, invalid ids
// and documents as the Go package writes them.
#include "store_test_support.hpp"

using namespace flowstore::test;
using namespace flowstore::test::store_tests;

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
