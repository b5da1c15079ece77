// What the watch tests share: writing flows, taking events, a latch, a task group, and writes
// that retry transient errors around a server restart.
#pragma once

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

namespace flowstore::test::watch_tests {

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

inline std::string describe(const flow_event& e) {
  std::string text = Catch::StringMaker<kind>::convert(e.type) + " '" + e.id + "' rev " + std::to_string(e.revision);
  if (e.value) text += " v" + std::to_string(e.value->version);
  if (e.problem) text += " problem: " + e.problem->message;
  return text;
}

// A valid flow with one node.
inline flowstore::flow sample_flow(std::string id) {
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

inline asio::awaitable<flowstore::flow> must_create(flowstore::store s, std::string id) {
  auto f = sample_flow(std::move(id));
  auto created = co_await s.create(std::move(f));
  REQUIRE_OK(created);
  co_return std::move(created).value();
}

inline asio::awaitable<flowstore::flow> must_update(flowstore::store s, flowstore::flow f, std::string description) {
  f.description = std::move(description);
  auto updated = co_await s.update(std::move(f));
  REQUIRE_OK(updated);
  co_return std::move(updated).value();
}

inline asio::awaitable<void> must_remove(flowstore::store s, std::string id) {
  auto removed = co_await s.remove(std::move(id));
  REQUIRE_OK(removed);
}

// The next event; fails the test on an error. `w` must outlive the (immediately awaited) call.
inline asio::awaitable<flow_event> next_event(flowstore::watcher& w) {
  auto event = co_await w.next();
  REQUIRE_OK(event);
  co_return std::move(event).value();
}

inline asio::awaitable<void> expect_marker(flowstore::watcher& w) {
  auto event = co_await next_event(w);
  INFO(describe(event));
  REQUIRE(event.type == kind::initial_values_done);
}

inline asio::awaitable<void> pause_for(std::chrono::milliseconds d) {
  asio::steady_timer timer(co_await asio::this_coro::executor, d);
  co_await timer.async_wait(asio::use_awaitable);
}

// Lets already queued handlers (a spawned coroutine's first steps) run.
inline asio::awaitable<void> settle() {
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

inline asio::awaitable<void> next_into(flowstore::watcher* w, std::shared_ptr<pending_next> p) {
  auto event = co_await w->next();
  p->outcome.emplace(std::move(event));
  p->done.set();
}

inline std::shared_ptr<pending_next> spawn_next(asio::any_io_executor executor, flowstore::watcher& w) {
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
inline asio::awaitable<void> write_rounds(flowstore::store s, std::vector<std::string> ids, int writes) {
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
inline asio::awaitable<void> write_until(flowstore::store s, std::string id, int max_writes, const bool* stop) {
  auto current = co_await must_create(s, id);
  for (int i = 2; i <= max_writes && !*stop; ++i) {
    current.description = "write " + std::to_string(i);
    auto updated = co_await s.update(std::move(current));
    REQUIRE_OK(updated);
    current = std::move(updated).value();
  }
}

inline double seconds_since(clock_type::time_point start) {
  return std::chrono::duration<double>(clock_type::now() - start).count();
}

// ---------------------------------------------------------------------------------------------
// Writes that retry transient errors (around a server restart).

struct retry_stats {
  int transient_errors = 0;
};

inline asio::awaitable<flowstore::flow> get_retrying(flowstore::store s, std::string id, retry_stats* stats,
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

inline asio::awaitable<flowstore::flow> create_retrying(flowstore::store s, std::string id, retry_stats* stats,
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

inline asio::awaitable<flowstore::flow> update_retrying(flowstore::store s, flowstore::flow f, std::string description,
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

}  // namespace flowstore::test::watch_tests
