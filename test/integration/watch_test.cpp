// Integration tests of flowstore::watcher against a real nats-server: start modes, the
// initial_values_done marker, live event order, backpressure, server restarts, patterns,
// corrupt documents, invalid patterns, concurrent next(), cancellation, stop and close.

#include <flowstore/connection.hpp>
#include <flowstore/error.hpp>
#include <flowstore/flow.hpp>
#include <flowstore/store.hpp>
#include <flowstore/watch.hpp>

#include "support/async.hpp"
#include "support/flowstore_client.hpp"
#include "support/nats_server.hpp"

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/experimental/awaitable_operators.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/redirect_error.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>

#include <catch2/catch.hpp>

#include <nats.h>

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <exception>
#include <functional>
#include <iostream>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <utility>
#include <vector>

namespace Catch {
template <>
struct StringMaker<flowstore::flow_event::kind> {
  static std::string convert(flowstore::flow_event::kind k) { return std::string(flowstore::to_string(k)); }
};
}  // namespace Catch

namespace {

namespace asio = boost::asio;
using namespace std::chrono_literals;
using flowstore::condition;
using flowstore::errc;
using flowstore::flow_event;
using flowstore::watch_start;
using flowstore::test::nats_server;
using flowstore::test::run_async;
using namespace flowstore::test;
using kind = flowstore::flow_event::kind;
using clock_type = std::chrono::steady_clock;

std::string describe(const flow_event& e) {
  std::string text = Catch::StringMaker<kind>::convert(e.type) + " '" + e.id + "' rev " + std::to_string(e.revision);
  if (e.value) text += " v" + std::to_string(e.value->version);
  if (e.problem) text += " problem: " + e.problem->message;
  return text;
}

// A valid flow with one node.
flowstore::flow sample_flow(std::string id) {
  flowstore::flow f;
  f.id = std::move(id);
  f.name = "Watched " + f.id;
  f.description = "watch test flow";
  flowstore::flow_node node;
  node.id = "in";
  node.component = "udp";
  node.type = flowstore::component_type::input;
  node.name = "udp-input-1";
  node.pos = {10, 20};
  node.config["port"] = 5000;
  f.nodes.push_back(std::move(node));
  return f;
}

asio::awaitable<flowstore::flow> must_create(flowstore::store s, std::string id) {
  auto f = sample_flow(std::move(id));
  auto created = co_await s.create(std::move(f));
  REQUIRE_OK(created);
  co_return std::move(created).value();
}

asio::awaitable<flowstore::flow> must_update(flowstore::store s, flowstore::flow f, std::string description) {
  f.description = std::move(description);
  auto updated = co_await s.update(std::move(f));
  REQUIRE_OK(updated);
  co_return std::move(updated).value();
}

asio::awaitable<void> must_remove(flowstore::store s, std::string id) {
  auto removed = co_await s.remove(std::move(id));
  REQUIRE_OK(removed);
}

// The next event; fails the test on an error. `w` must outlive the (immediately awaited) call.
asio::awaitable<flow_event> next_event(flowstore::watcher& w) {
  auto event = co_await w.next();
  REQUIRE_OK(event);
  co_return std::move(event).value();
}

asio::awaitable<void> expect_marker(flowstore::watcher& w) {
  auto event = co_await next_event(w);
  INFO(describe(event));
  REQUIRE(event.type == kind::initial_values_done);
}

asio::awaitable<void> pause_for(std::chrono::milliseconds d) {
  asio::steady_timer timer(co_await asio::this_coro::executor, d);
  co_await timer.async_wait(asio::use_awaitable);
}

// Lets already queued handlers (a spawned coroutine's first steps) run.
asio::awaitable<void> settle() {
  const auto executor = co_await asio::this_coro::executor;
  for (int i = 0; i < 8; ++i) co_await asio::post(executor, asio::use_awaitable);
}

// A flag that a coroutine can wait for.
class latch {
 public:
  explicit latch(asio::any_io_executor executor) : timer_(executor, clock_type::time_point::max()) {}
  void set() {
    set_ = true;
    timer_.cancel();
  }
  bool is_set() const { return set_; }
  asio::awaitable<void> wait() {
    while (!set_) {
      boost::system::error_code ec;
      auto token = asio::redirect_error(asio::use_awaitable, ec);
      co_await timer_.async_wait(token);
    }
  }

 private:
  asio::steady_timer timer_;
  bool set_ = false;
};

// A next() started in the background, and its outcome once complete.
struct pending_next {
  explicit pending_next(asio::any_io_executor executor) : done(executor) {}
  latch done;
  std::optional<flowstore::result<flow_event>> outcome;
};

asio::awaitable<void> next_into(flowstore::watcher* w, std::shared_ptr<pending_next> p) {
  auto event = co_await w->next();
  p->outcome.emplace(std::move(event));
  p->done.set();
}

std::shared_ptr<pending_next> spawn_next(asio::any_io_executor executor, flowstore::watcher& w) {
  auto p = std::make_shared<pending_next>(executor);
  asio::co_spawn(executor, next_into(&w, p), asio::detached);
  return p;
}

// Background coroutines; wait() rethrows the first exception. on_failure runs at the first one.
class task_group {
 public:
  explicit task_group(asio::any_io_executor executor) : state_(std::make_shared<state>(executor)) {}
  void spawn(asio::awaitable<void> task) {
    ++state_->running;
    auto done = [st = state_](std::exception_ptr e) {
      if (e && !st->failure) {
        st->failure = e;
        if (st->on_failure) st->on_failure();
      }
      if (--st->running == 0) st->finished.set();
    };
    asio::co_spawn(state_->executor, std::move(task), std::move(done));
  }
  void on_failure(std::function<void()> f) { state_->on_failure = std::move(f); }
  asio::awaitable<void> wait() {
    auto st = state_;
    if (st->running > 0) co_await st->finished.wait();
    if (st->failure) std::rethrow_exception(st->failure);
  }

 private:
  struct state {
    explicit state(asio::any_io_executor ex) : executor(ex), finished(ex) {}
    asio::any_io_executor executor;
    latch finished;
    int running = 0;
    std::exception_ptr failure;
    std::function<void()> on_failure;
  };
  std::shared_ptr<state> state_;
};

// Creates every flow of `ids`, then updates them round-robin until each was written `writes` times.
asio::awaitable<void> write_rounds(flowstore::store s, std::vector<std::string> ids, int writes) {
  std::vector<flowstore::flow> current;
  for (const auto& id : ids) current.push_back(co_await must_create(s, id));
  for (int i = 2; i <= writes; ++i) {
    for (auto& f : current) {
      f.description = "write " + std::to_string(i);
      auto updated = co_await s.update(std::move(f));
      REQUIRE_OK(updated);
      f = std::move(updated).value();
    }
  }
}

// Like write_versions, but stops early once *stop is set.
asio::awaitable<void> write_until(flowstore::store s, std::string id, int max_writes, const bool* stop) {
  auto current = co_await must_create(s, id);
  for (int i = 2; i <= max_writes && !*stop; ++i) {
    current.description = "write " + std::to_string(i);
    auto updated = co_await s.update(std::move(current));
    REQUIRE_OK(updated);
    current = std::move(updated).value();
  }
}

double seconds_since(clock_type::time_point start) {
  return std::chrono::duration<double>(clock_type::now() - start).count();
}

// ---------------------------------------------------------------------------------------------
// Writes that retry transient errors (around a server restart).

struct retry_stats {
  int transient_errors = 0;
};

asio::awaitable<flowstore::flow> get_retrying(flowstore::store s, std::string id, retry_stats* stats,
                                              clock_type::time_point deadline) {
  for (;;) {
    auto got = co_await s.get(id);
    if (got) co_return std::move(got).value();
    INFO("get " << id << ": " << got.error().what());
    REQUIRE(got.error().code == condition::transient);
    REQUIRE(clock_type::now() < deadline);
    ++stats->transient_errors;
    co_await pause_for(50ms);  // pacing of retries while the client reconnects
  }
}

asio::awaitable<flowstore::flow> create_retrying(flowstore::store s, std::string id, retry_stats* stats,
                                                 clock_type::time_point deadline) {
  bool uncertain = false;  // a failed attempt may have been applied after all
  for (;;) {
    auto f = sample_flow(id);
    auto created = co_await s.create(std::move(f));
    if (created) co_return std::move(created).value();
    if (uncertain && created.error().code == errc::already_exists) {
      auto stored = co_await get_retrying(s, id, stats, deadline);
      REQUIRE(stored.version == 1);
      co_return stored;
    }
    INFO("create " << id << ": " << created.error().what());
    REQUIRE(created.error().code == condition::transient);
    REQUIRE(clock_type::now() < deadline);
    ++stats->transient_errors;
    uncertain = true;
    co_await pause_for(50ms);
  }
}

asio::awaitable<flowstore::flow> update_retrying(flowstore::store s, flowstore::flow f, std::string description,
                                                 retry_stats* stats, clock_type::time_point deadline) {
  f.description = std::move(description);
  bool uncertain = false;
  for (;;) {
    auto attempt = f;
    auto updated = co_await s.update(std::move(attempt));
    if (updated) co_return std::move(updated).value();
    if (uncertain && updated.error().code == errc::conflict) {
      auto stored = co_await get_retrying(s, f.id, stats, deadline);
      REQUIRE(stored.version == f.version + 1);
      REQUIRE(stored.description == f.description);
      co_return stored;
    }
    INFO("update " << f.id << ": " << updated.error().what());
    REQUIRE(updated.error().code == condition::transient);
    REQUIRE(clock_type::now() < deadline);
    ++stats->transient_errors;
    uncertain = true;
    co_await pause_for(50ms);
  }
}

}  // namespace

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
// 6. backpressure

namespace {

struct backpressure_outcome {
  int puts = 0;                 // put events of the written flows (sentinel excluded)
  int out_of_order = 0;         // revision not above the previous one
  int version_gaps = 0;         // a flow's version not previous + 1
  std::uint64_t skipped = 0;    // revisions never delivered between two delivered ones
  std::string first_skip;       // "a..b" of the first such range
  std::map<std::string, std::int64_t> last_version;
  std::size_t peak = 0, capacity = 0;
  double seconds = 0;
};

// Creates `id` once every task of `group` finished.
asio::awaitable<void> create_after(task_group* group, flowstore::store s, std::string id) {
  co_await group->wait();
  co_await must_create(s, std::move(id));
}

// `writers` coroutines each own `flows_per_writer` flows ("load.<w>-<f>") and write each of them
// `writes_per_flow` times, while a watcher with buffer_capacity 16 consumes, slowly for the
// first `slow_events` events; a sentinel written afterwards ends the consumption.
asio::awaitable<backpressure_outcome> run_backpressure(const nats_server& server, int history, int writers_count,
                                                      int flows_per_writer, int writes_per_flow, int slow_events) {
  const auto executor = co_await asio::this_coro::executor;
  auto conn = co_await connect_to(server);
  flowstore::store_options store_opts;
  store_opts.storage = flowstore::storage_type::memory;
  store_opts.history = history;
  auto s = co_await open_store(conn, std::move(store_opts));

  flowstore::watch_options options;
  options.buffer_capacity = 16;
  auto w = s.watch("load.*", std::move(options));
  REQUIRE(w.capacity() == 16);
  co_await expect_marker(w);

  backpressure_outcome out;
  const auto started = clock_type::now();
  task_group writers(executor);
  writers.on_failure([&w] { w.stop(); });  // unblocks the consumer below
  for (int i = 0; i < writers_count; ++i) {
    std::vector<std::string> ids;
    for (int f = 0; f < flows_per_writer; ++f) ids.push_back("load." + std::to_string(i) + "-" + std::to_string(f));
    writers.spawn(write_rounds(s, std::move(ids), writes_per_flow));
  }
  task_group sentinel_writer(executor);
  sentinel_writer.spawn(create_after(&writers, s, "load.sentinel"));

  std::uint64_t last_revision = 0;
  asio::steady_timer pace(executor);
  for (int n = 0;; ++n) {
    auto e = co_await next_event(w);
    INFO(describe(e));
    REQUIRE(e.type == kind::put);
    REQUIRE(e.value);
    if (e.revision <= last_revision) ++out.out_of_order;
    if (last_revision != 0 && e.revision > last_revision + 1) {
      if (out.skipped == 0) out.first_skip = std::to_string(last_revision + 1) + ".." + std::to_string(e.revision - 1);
      out.skipped += e.revision - last_revision - 1;
    }
    last_revision = std::max(last_revision, e.revision);
    if (e.id == "load.sentinel") break;
    ++out.puts;
    auto& version = out.last_version[e.id];
    if (e.value->version != version + 1) ++out.version_gaps;
    version = e.value->version;
    if (n < slow_events) {  // consumer pacing: slow at first so that the buffer fills up
      pace.expires_after(5ms);
      co_await pace.async_wait(asio::use_awaitable);
    }
  }
  out.seconds = seconds_since(started);
  co_await sentinel_writer.wait();  // rethrows a writer's failure
  out.peak = w.peak_buffered();
  out.capacity = w.capacity();
  co_return out;
}

void check_backpressure(const backpressure_outcome& out, int total, int flows, int writes_per_flow) {
  INFO("first skipped revisions: " << out.first_skip);
  CHECK(out.skipped == 0);
  CHECK(out.puts == total);
  CHECK(out.out_of_order == 0);
  CHECK(out.version_gaps == 0);
  CHECK(out.last_version.size() == static_cast<std::size_t>(flows));
  for (const auto& [id, version] : out.last_version) {
    INFO(id);
    CHECK(version == writes_per_flow);
  }
  CHECK(out.peak <= out.capacity + 1);
  CHECK(out.peak >= out.capacity);  // the slow phase really filled the buffer
}

}  // namespace

TEST_CASE("watch: a lagging watcher skips only revisions the bucket no longer keeps, in order, to the last",
          "[watch][slow]") {
  nats_server server;
  run_async(
      [&](asio::io_context&) -> asio::awaitable<void> {
        // 8 writers, one flow each, 1250 writes per flow, history 10: while the watcher lags the
        // server drops all but the last 10 revisions of each flow, as KV retention says. What
        // arrives must still be in order, never twice, end with every flow's last version, and
        // the buffer must stay bounded.
        auto out = co_await run_backpressure(server, 10, 8, 1, 1250, 200);
        std::cout << "[watch backpressure, 8 flows, history 10] " << out.puts << " of 10000 events in " << out.seconds
                  << " s; skipped " << out.skipped << "; peak_buffered " << out.peak << " capacity " << out.capacity
                  << std::endl;
        CHECK(out.out_of_order == 0);
        CHECK(out.puts <= 10000);
        CHECK(out.puts >= 8 * 10);  // at least the retained tail of every flow
        CHECK(out.last_version.size() == 8u);
        for (const auto& [id, version] : out.last_version) {
          INFO(id);
          CHECK(version == 1250);
        }
        CHECK(out.peak <= out.capacity + 1);
      },
      120s);
}

TEST_CASE("watch: with every revision retained a slow consumer gets all 10000 events in order", "[watch][slow]") {
  nats_server server;
  run_async(
      [&](asio::io_context&) -> asio::awaitable<void> {
        // 8 writers, 25 flows each, 50 writes per flow: no flow outgrows the history of 64, so
        // the server discards nothing; whatever is missing was lost on the client side.
        auto out = co_await run_backpressure(server, 64, 8, 25, 50, 200);
        std::cout << "[watch backpressure, 200 flows, history 64] " << out.puts << " of 10000 events in "
                  << out.seconds << " s; skipped " << out.skipped << "; peak_buffered " << out.peak << " capacity "
                  << out.capacity << std::endl;
        check_backpressure(out, 10000, 200, 50);
      },
      120s);
}

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
                  << " (expected " << expected.size() << "), duplicates " << duplicates
                  << ", transient write errors " << stats.transient_errors << '\n';
        CHECK(after == expected);
        CHECK(duplicates == 0);
      },
      90s);
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
    const std::vector<seen_event> ops_expected{
        {kind::put, "ops.a"}, {kind::put, "ops.a"}, {kind::put, "ops.end"}};

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

TEST_CASE("watch: a second next() while one waits fails with already_running and the first gets the event",
          "[watch]") {
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
    std::cout << "[watch cancellation] " << timer_wins << " cancelled next() calls during " << writes
              << " events\n";
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
TEST_CASE("watch: closing the connection as a coroutine's last step before its io_context goes is safe",
          "[watch]") {
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
