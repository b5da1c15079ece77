// Integration tests of the store under concurrency against a real nats-server: writers racing on
// one flow (by hand and with modify()), thousands of gets in flight, replies freed in bulk.
#include "store_test_support.hpp"

using namespace flowstore::test;
using namespace flowstore::test::store_tests;

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
