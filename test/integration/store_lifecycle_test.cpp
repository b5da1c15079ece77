// Integration tests of the store's timeouts, cancellation and shutdown against a real
// nats-server: a paused server, racing timers, close() with operations in flight, operations
// that outlive their store object.
#include "store_test_support.hpp"

using namespace flowstore::test;
using namespace flowstore::test::store_tests;

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
