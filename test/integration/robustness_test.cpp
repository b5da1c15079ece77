// Hostile and broken input against a real server: ids and watch patterns that are not keys,
// documents in the bucket that are not flows, and flows at the size and nesting limits.
// Nothing may crash, hang or throw out of the library; every refusal has its specific code.

#include <flowstore/connection.hpp>
#include <flowstore/error.hpp>
#include <flowstore/flow.hpp>
#include <flowstore/json.hpp>
#include <flowstore/store.hpp>
#include <flowstore/watch.hpp>

#include "support/async.hpp"
#include "support/flowstore_client.hpp"
#include "support/nats_server.hpp"

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/deferred.hpp>
#include <boost/asio/experimental/parallel_group.hpp>
#include <boost/asio/this_coro.hpp>

#include <catch2/catch.hpp>

#include <algorithm>
#include <chrono>
#include <map>
#include <set>
#include <string>
#include <utility>
#include <vector>

namespace {

namespace asio = boost::asio;
using namespace std::chrono_literals;
using namespace flowstore::test;
using flowstore::condition;
using flowstore::errc;
using kind = flowstore::flow_event::kind;

// Not keys: empty, blanks, wildcards, empty tokens, control characters, non-ASCII, NUL, and
// far too long.
std::vector<std::string> hostile_ids() {
  return {"",
          " ",
          "a b",
          "*",
          ">",
          "a.*",
          "a.>",
          "..",
          "a..b",
          ".a",
          "a.",
          "\x01",
          "a\tb",
          "line\nbreak",
          "\x7f",
          "caf\xc3\xa9",
          "\xff",
          "$KV.x",
          "a\\b",
          "quote\"d",
          std::string("nul\0byte", 8),
          std::string(10 * 1024, 'a')};
}

// Not patterns: like the ids, except that `*` tokens and a final `>` are allowed.
std::vector<std::string> hostile_patterns() {
  return {"",
          " ",
          "a b",
          "..",
          ".a",
          "a.",
          "a.>.b",
          ">.a",
          "a*",
          "*a",
          "a>",
          "\x01",
          "caf\xc3\xa9",
          "\xff",
          std::string("nul\0byte", 8),
          std::string(10 * 1024, 'a')};
}

template <class T>
void check_refused(const flowstore::result<T>& r, const std::string& operation) {
  INFO(operation << ": " << outcome_text(r));
  REQUIRE_FALSE(r.has_value());
  CHECK(r.error().code == errc::invalid_id);
  CHECK(r.error().code == condition::invalid);
  CHECK_THAT(r.error().message, Catch::Contains(operation));
}

// Every store operation that takes an id refuses `id`, and a watch refuses it as a pattern.
asio::awaitable<void> refuse_everywhere(flowstore::store s, std::string id, int* refused) {
  auto got = co_await s.get(id);
  check_refused(got, "get flow");
  auto created = co_await s.create(one_node_flow(id));
  // create validates first: an invalid id is one of the validation problems there.
  INFO("create: " << outcome_text(created));
  REQUIRE_FALSE(created.has_value());
  CHECK((created.error().code == errc::invalid_id || created.error().code == errc::validation_failed));
  CHECK(created.error().code == condition::invalid);
  auto f = one_node_flow(id);
  f.version = 1;
  auto updated = co_await s.update(std::move(f));
  INFO("update: " << outcome_text(updated));
  REQUIRE_FALSE(updated.has_value());
  CHECK(updated.error().code == condition::invalid);
  auto removed = co_await s.remove(id);
  check_refused(removed, "remove flow");
  auto history = co_await s.history(id);
  check_refused(history, "history");
  ++*refused;
}

asio::awaitable<void> refuse_pattern(flowstore::store s, std::string pattern, int* refused) {
  auto w = s.watch(pattern);
  auto first = co_await w.next();
  INFO("watch " << outcome_text(first));
  REQUIRE_FALSE(first.has_value());
  CHECK(first.error().code == errc::invalid_id);
  CHECK(first.error().code == condition::invalid);
  ++*refused;
}

asio::awaitable<void> get_expecting(flowstore::store s, flowstore::flow expected, int* matched) {
  auto got = co_await s.get(expected.id);
  REQUIRE_OK(got);
  CHECK(*got == expected);
  ++*matched;
}

}  // namespace

TEST_CASE("robustness: hostile ids and patterns are invalid_id and never reach the wire", "[robustness]") {
  nats_server server;
  run_async(
      [&](asio::io_context&) -> asio::awaitable<void> {
        // A long timeout: a refusal that went to the paused server would take 60 s, not none.
        auto options = options_for(server);
        options.operation_timeout = 60s;
        auto conn = co_await connect_with(std::move(options));
        auto s = co_await open_store(conn);
        auto created = co_await s.create(one_node_flow("valid"));
        REQUIRE_OK(created);

        // 1. Mixed with valid gets in flight on the same connection: those are unaffected.
        const auto ids = hostile_ids();
        const auto patterns = hostile_patterns();
        int matched = 0;
        int refused_ids = 0;
        int refused_patterns = 0;
        std::vector<asio::awaitable<void>> tasks;
        for (std::size_t i = 0; i < ids.size(); ++i) {
          tasks.push_back(get_expecting(s, *created, &matched));
          tasks.push_back(refuse_everywhere(s, ids[i], &refused_ids));
          tasks.push_back(get_expecting(s, *created, &matched));
        }
        for (const auto& pattern : patterns) tasks.push_back(refuse_pattern(s, pattern, &refused_patterns));
        co_await run_all(std::move(tasks));
        CHECK(matched == static_cast<int>(2 * ids.size()));
        CHECK(refused_ids == static_cast<int>(ids.size()));
        CHECK(refused_patterns == static_cast<int>(patterns.size()));

        // 2. With the server stopped (SIGSTOP), every refusal still comes at once: it never
        // waited for a reply.
        server.pause();
        std::vector<asio::awaitable<void>> paused_tasks;
        int refused_while_paused = 0;
        int patterns_while_paused = 0;
        for (const auto& id : ids) paused_tasks.push_back(refuse_everywhere(s, id, &refused_while_paused));
        for (const auto& pattern : patterns) {
          paused_tasks.push_back(refuse_pattern(s, pattern, &patterns_while_paused));
        }
        co_await run_all(std::move(paused_tasks));
        server.resume();
        CHECK(refused_while_paused == static_cast<int>(ids.size()));
        CHECK(patterns_while_paused == static_cast<int>(patterns.size()));

        // Wildcard patterns are patterns: they watch.
        for (const std::string pattern : {"*", ">", "valid.*", "valid.>", "*.x"}) {
          auto w = s.watch(pattern);
          bool saw_marker = false;
          while (!saw_marker) {
            auto event = co_await w.next();
            INFO(pattern << ": " << outcome_text(event));
            REQUIRE_OK(event);
            saw_marker = event->type == kind::initial_values_done;
          }
          w.stop();
        }
        auto after = co_await s.get("valid");
        CHECK_OK(after);
      },
      50s);
}

namespace {

struct garbage {
  std::string id;
  std::string document;
};

std::vector<garbage> garbage_documents() {
  std::string deep;
  for (int i = 0; i < 100000; ++i) deep += '[';
  std::string big = "\"" + std::string(900 * 1024, 'x') + "\"";
  return {
      {"bad.truncated", R"({"id":"bad.truncated","name":"cut off)"},
      {"bad.array", R"([{"id":"bad.array","name":"in an array"}])"},
      {"bad.types", R"({"id":"bad.types","name":["not","a","string"],"version":"7","nodes":{}})"},
      {"bad.utf8", "{\"id\":\"bad.utf8\",\"name\":\"\xff\xfe\xfd\"}"},
      {"bad.huge", big},
      {"bad.duplicated", R"({"id":"bad.duplicated","name":"first","name":"second","runtime_state":"running"})"},
      {"bad.deep", deep},
      {"bad.empty", ""},
      {"bad.binary", std::string("\x00\x01\x02\x03\xff", 5)},
  };
}

}  // namespace

TEST_CASE("robustness: stored garbage is corrupt_data for get and history and a failure in list and watch",
          "[robustness]") {
  nats_server server;
  run_async(
      [&](asio::io_context&) -> asio::awaitable<void> {
        auto conn = co_await connect_to(server);
        auto s = co_await open_store(conn);
        for (const char* id : {"good.1", "good.2"}) {
          auto created = co_await s.create(one_node_flow(id));
          REQUIRE_OK(created);
        }
        const auto bad = garbage_documents();
        {
          auto raw = raw_connect(server.url(), s.bucket());
          for (const auto& g : bad) raw_put(raw.kv.get(), g.id, g.document);
        }

        for (const auto& g : bad) {
          auto got = co_await s.get(g.id);
          INFO(g.id << ": " << outcome_text(got));
          REQUIRE_FALSE(got.has_value());
          CHECK(got.error().code == errc::corrupt_data);
          CHECK(got.error().code == condition::fatal);
          CHECK_THAT(got.error().message, Catch::Contains(g.id));
          auto history = co_await s.history(g.id);
          REQUIRE_OK(history);
          REQUIRE(history->size() == 1);
          REQUIRE(history->front().content.has_value());
          CHECK_FALSE(history->front().content->has_value());
        }

        auto listed = co_await s.list();
        REQUIRE_OK(listed);
        REQUIRE(listed->flows.size() == 2);
        CHECK(listed->flows[0].id == "good.1");
        CHECK(listed->flows[1].id == "good.2");
        std::set<std::string> failed_ids;
        for (const auto& failure : listed->failures) {
          CHECK(failure.problem.code == errc::corrupt_data);
          CHECK_THAT(failure.problem.message, Catch::Contains(failure.id));
          failed_ids.insert(failure.id);
        }
        CHECK(failed_ids.size() == bad.size());
        for (const auto& g : bad) CHECK(failed_ids.count(g.id) == 1);

        // The watch reports each as a put with a problem, goes on, and delivers what follows.
        auto w = s.watch();
        std::map<std::string, bool> problem_seen;
        int good_seen = 0;
        for (;;) {
          auto event = co_await w.next();
          REQUIRE_OK(event);
          if (event->type == kind::initial_values_done) break;
          REQUIRE(event->type == kind::put);
          if (event->problem) {
            CHECK(event->problem->code == errc::corrupt_data);
            CHECK_FALSE(event->value.has_value());
            problem_seen[event->id] = true;
          } else {
            REQUIRE(event->value.has_value());
            ++good_seen;
          }
        }
        CHECK(good_seen == 2);
        CHECK(problem_seen.size() == bad.size());
        auto later = co_await s.create(one_node_flow("good.3"));
        REQUIRE_OK(later);
        auto live = co_await w.next();
        REQUIRE_OK(live);
        CHECK(live->id == "good.3");
        CHECK(live->value.has_value());
        w.stop();

        // A corrupt flow can be repaired by removing it and creating it anew.
        auto removed = co_await s.remove("bad.truncated");
        REQUIRE_OK(removed);
        auto recreated = co_await s.create(one_node_flow("bad.truncated"));
        REQUIRE_OK(recreated);
      },
      60s);
}

TEST_CASE("robustness: a flow of 10000 nodes and 9999 connections round-trips and validates", "[robustness]") {
  server_options config;
  config.extra_config = "max_payload: 8MB\n";
  nats_server server(config);
  run_async(
      [&](asio::io_context&) -> asio::awaitable<void> {
        auto conn = co_await connect_to(server);
        REQUIRE(conn.max_payload() == 8 * 1024 * 1024);
        flowstore::store_options strict;
        strict.validate_writes = true;
        auto s = co_await open_store(conn, std::move(strict));

        flowstore::flow f;
        f.id = "huge";
        f.name = "ten thousand nodes";
        for (int i = 0; i < 10000; ++i) {
          flowstore::flow_node node;
          node.id = "n" + std::to_string(i);
          node.component = "processor-component";
          node.type = flowstore::component_type::processor;
          node.name = "node " + std::to_string(i);
          node.pos = {static_cast<double>(i % 100) * 10.5, static_cast<double>(i / 100) * 20.25};
          node.config["index"] = i;
          f.nodes.push_back(std::move(node));
          if (i > 0) {
            flowstore::flow_connection edge;
            edge.id = "c" + std::to_string(i);
            edge.source_node_id = "n" + std::to_string(i - 1);
            edge.source_port = "out";
            edge.target_node_id = "n" + std::to_string(i);
            edge.target_port = "in";
            f.connections.push_back(std::move(edge));
          }
        }
        auto created = co_await s.create(f);
        REQUIRE_OK(created);
        auto got = co_await s.get("huge");
        REQUIRE_OK(got);
        CHECK(got->nodes.size() == 10000);
        CHECK(got->connections.size() == 9999);
        CHECK(*got == *created);

        auto edited = std::move(got).value();
        edited.connections.back().target_node_id = "missing";
        edited.nodes[5000].name.clear();
        auto refused = co_await s.update(edited);
        REQUIRE_ERROR(refused, errc::validation_failed);
        CHECK_THAT(refused.error().message, Catch::Contains("2 problems"));
        CHECK_THAT(refused.error().message, Catch::Contains("node[5000] 'n5000'"));
        CHECK_THAT(refused.error().message, Catch::Contains("connection[9998] 'c9999'"));

        auto listed = co_await s.list();
        REQUIRE_OK(listed);
        REQUIRE(listed->flows.size() == 1);
        CHECK(listed->flows[0].nodes.size() == 10000);
      },
      60s);
}

TEST_CASE("robustness: a config nested deeper than a document can hold is refused as invalid", "[robustness]") {
  nats_server server;
  run_async([&](asio::io_context&) -> asio::awaitable<void> {
    auto conn = co_await connect_to(server);
    auto f = one_node_flow("deep");
    boost::json::object* level = &f.nodes[0].config;
    for (int i = 0; i < 2000; ++i) level = &(*level)["k"].emplace_object();

    // A draft writer cannot store it either: no reader could parse the document back.
    auto drafts = co_await open_store(conn);
    auto unstorable = co_await drafts.create(f);
    REQUIRE_ERROR(unstorable, errc::validation_failed);
    CHECK(unstorable.error().code == condition::invalid);
    CHECK_THAT(unstorable.error().message, Catch::Contains("create flow 'deep': cannot be stored"));
    CHECK_THAT(unstorable.error().message, Catch::Contains("node[0]: config holds a non-finite number or nests too deep"));

    flowstore::store_options options;
    options.validate_writes = true;
    auto strict = co_await open_store(conn, std::move(options));
    auto refused = co_await strict.create(f);
    REQUIRE_ERROR(refused, errc::validation_failed);
    CHECK(refused.error().code == condition::invalid);
    CHECK_THAT(refused.error().message, Catch::Contains("config nests deeper than"));
    auto absent = co_await strict.get("deep");
    CHECK_ERROR(absent, errc::not_found);
  });
}
