// Fault tests with real nats-server processes: a server killed and restarted under load, a
// stalled server, a 3-node cluster losing a follower and then its stream leader, and a server
// list whose first entry is down. The claims: no acknowledged write is lost, every operation
// ends (with success or a transient error) within its timeout, stores and watchers carry on
// without being re-created, and a watcher sees every acknowledged change exactly once.
//
// Each test prints its numbers (writes acknowledged and found, operations and how they ended).

#include <flowstore/connection.hpp>
#include <flowstore/error.hpp>
#include <flowstore/flow.hpp>
#include <flowstore/store.hpp>
#include <flowstore/watch.hpp>

#include "support/async.hpp"
#include "support/flowstore_client.hpp"
#include "support/nats_server.hpp"

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/deferred.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/experimental/parallel_group.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/thread_pool.hpp>
#include <boost/asio/use_awaitable.hpp>

#include <catch2/catch.hpp>

#include <nats.h>

#include <chrono>
#include <exception>
#include <functional>
#include <iostream>
#include <map>
#include <optional>
#include <set>
#include <sstream>
#include <string>
#include <utility>
#include <vector>

namespace {

namespace asio = boost::asio;
using namespace std::chrono_literals;
using namespace flowstore::test;
using flowstore::condition;
using flowstore::errc;
using clock_type = std::chrono::steady_clock;
using kind = flowstore::flow_event::kind;

constexpr auto operation_timeout = 2s;

// ---------------------------------------------------------------------------------------------
// Bookkeeping of a write load.

struct op_record {
  clock_type::time_point start;
  clock_type::time_point end;
  std::optional<std::error_code> failure;  // empty: success
};

struct load_state {
  std::vector<op_record> ops;
  // Per flow: every acknowledged write, as (revision, the description it wrote).
  std::map<std::string, std::vector<std::pair<std::uint64_t, std::string>>> acked;
  int acks = 0;
  int in_flight = 0;
  bool stop = false;
  std::vector<std::string> unexpected;  // errors that are neither transient nor explained

  template <class T>
  void record(clock_type::time_point start, const flowstore::result<T>& r) {
    ops.push_back({start, clock_type::now(), r ? std::nullopt : std::optional(r.error().code)});
  }
  // Counts one operation as in flight from here until finish(), which records how it ended.
  struct tracked_op {
    explicit tracked_op(load_state* st) : state(st) { ++state->in_flight; }
    template <class T>
    void finish(const flowstore::result<T>& r) {
      --state->in_flight;
      state->record(start, r);
    }
    load_state* state;
    clock_type::time_point start = clock_type::now();
  };

  void ack(const flowstore::flow& f) {
    acked[f.id].emplace_back(f.revision, f.description);
    ++acks;
  }
};

// How the operations that were in flight at `moment` ended, and every failure by code.
struct op_summary {
  int total = 0;
  int failures = 0;
  int spanning = 0;  // in flight at the moment
  int spanning_succeeded = 0;
  std::map<std::string, int> failures_by_code;
  clock_type::duration longest{};
};

op_summary summarize(const load_state& st, clock_type::time_point moment) {
  op_summary s;
  for (const auto& op : st.ops) {
    ++s.total;
    s.longest = std::max(s.longest, op.end - op.start);
    if (op.failure) {
      ++s.failures;
      ++s.failures_by_code[op.failure->message()];
    }
    if (op.start <= moment && moment <= op.end) {
      ++s.spanning;
      if (!op.failure) ++s.spanning_succeeded;
    }
  }
  return s;
}

std::string describe(const op_summary& s) {
  std::ostringstream out;
  out << s.total << " operations, " << s.failures << " failures";
  for (const auto& [code, n] : s.failures_by_code) out << " [" << code << ": " << n << "]";
  out << "; " << s.spanning << " in flight at the fault: " << s.spanning_succeeded << " succeeded, "
      << s.spanning - s.spanning_succeeded << " failed transient";
  return out.str();
}

// Every failure was transient, and no operation outlived its timeout by more than scheduling
// slack (a hung operation would outlive it without bound).
void check_operations(const load_state& st, const op_summary& s) {
  INFO("unexpected errors: " << st.unexpected.size() << (st.unexpected.empty() ? "" : ", first: " + st.unexpected[0]));
  CHECK(st.unexpected.empty());
  // conflict and already_exists only answer a retry of a write whose first try failed
  // transiently yet was applied; note_failure() counted any other as unexpected.
  for (const auto& op : st.ops) {
    if (op.failure) {
      CHECK((*op.failure == condition::transient || *op.failure == errc::conflict ||
             *op.failure == errc::already_exists));
    }
  }
  CHECK(s.longest < operation_timeout + 3s);
}

asio::awaitable<void> pause_for(std::chrono::milliseconds d) {
  asio::steady_timer timer(co_await asio::this_coro::executor, d);
  co_await timer.async_wait(asio::use_awaitable);
}

// Waits until `done()` holds, checking every few milliseconds; fails after `limit`.
asio::awaitable<void> wait_until(std::function<bool()> done, std::chrono::milliseconds limit, std::string what) {
  const auto deadline = clock_type::now() + limit;
  while (!done()) {
    INFO("waiting for " << what);
    REQUIRE(clock_type::now() < deadline);
    co_await pause_for(5ms);
  }
}

// A thread for blocking fixture calls (start a server, restart a node, ask a node), so the
// io_context keeps serving operations and timeouts meanwhile. One thread for the whole program:
// a server process dies with the thread that started it (PR_SET_PDEATHSIG is per thread).
asio::thread_pool& blocking_thread() {
  static asio::thread_pool pool(1);
  return pool;
}

asio::awaitable<void> off_thread(std::function<void()> job) {
  auto task = [job]() -> asio::awaitable<void> {
    job();
    co_return;
  };
  co_await asio::co_spawn(blocking_thread(), task, asio::use_awaitable);
}

// ---------------------------------------------------------------------------------------------
// The writers: each owns one flow, creates it, then updates it, retrying transient failures.
// A transient failure leaves the outcome open (the write may have been applied); the retry
// then finds out: already_exists after a create, conflict after an update (then re-read).

// The flow `id` as its `attempt`-th write leaves it: the description tells the writes apart.
flowstore::flow flow_for(const std::string& id, int attempt) {
  auto f = one_node_flow(id);
  f.description = id + " write " + std::to_string(attempt);
  return f;
}

asio::awaitable<flowstore::flow> read_current(flowstore::store s, std::string id, load_state* st) {
  for (;;) {
    load_state::tracked_op op(st);
    auto got = co_await s.get(id);
    op.finish(got);
    if (got) co_return std::move(got).value();
    if (got.error().code != condition::transient) {
      st->unexpected.push_back(got.error().what());
      REQUIRE(got.error().code == condition::transient);
    }
    co_await pause_for(20ms);
  }
}

void note_failure(load_state* st, const flowstore::error& e, errc explained) {
  if (e.code == condition::transient || e.code == explained) return;
  st->unexpected.push_back(e.what());
}

asio::awaitable<void> write_flow(flowstore::store s, std::string id, int target_acks, load_state* st) {
  int attempt = 0;
  flowstore::flow current;
  for (;;) {
    load_state::tracked_op op(st);
    auto created = co_await s.create(flow_for(id, ++attempt));
    op.finish(created);
    if (created) {
      st->ack(*created);
      current = std::move(created).value();
      break;
    }
    note_failure(st, created.error(), errc::already_exists);
    if (created.error().code == errc::already_exists) {
      current = co_await read_current(s, id, st);
      break;
    }
    co_await pause_for(20ms);
  }
  while (!st->stop && (target_acks == 0 || static_cast<int>(st->acked[id].size()) < target_acks)) {
    auto next = current;
    next.description = id + " write " + std::to_string(++attempt);
    load_state::tracked_op op(st);
    auto updated = co_await s.update(std::move(next));
    op.finish(updated);
    if (updated) {
      st->ack(*updated);
      current = std::move(updated).value();
      continue;
    }
    note_failure(st, updated.error(), errc::conflict);
    if (updated.error().code == errc::conflict) {
      current = co_await read_current(s, id, st);
    } else {
      co_await pause_for(20ms);
    }
  }
}

// ---------------------------------------------------------------------------------------------
// The watcher's side.

struct watch_log {
  std::vector<std::pair<std::string, std::uint64_t>> events;  // (id, revision) of puts and deletes
  std::optional<std::string> error;
  bool ready = false;  // the initial values are through: later writes all arrive as changes
  bool finished = false;
};

// Collects events until the flow `last_id` shows up.
asio::awaitable<void> collect(flowstore::watcher* w, std::string last_id, watch_log* log) {
  for (;;) {
    auto event = co_await w->next();
    if (!event) {
      log->error = event.error().what();
      co_return;
    }
    if (event->type == kind::initial_values_done) {
      log->ready = true;
      continue;
    }
    log->events.emplace_back(event->id, event->revision);
    if (event->id == last_id) {
      log->finished = true;
      co_return;
    }
  }
}

struct check_totals {
  int acked = 0;
  int found = 0;
  int seen_by_watcher = 0;
  int scans = 0;        // history scans and lists made to check
  int short_scans = 0;  // of those, the ones missing an acknowledged write
};

// Every acknowledged write is in its flow's history with its content, and in one list at its
// flow's latest revision; the watcher saw each revision once, in order, and every acknowledged
// one. Each scan is made once: a scan that misses an acknowledged write fails the test.
asio::awaitable<check_totals> check_nothing_lost(flowstore::store s, const load_state& st, const watch_log& log) {
  check_totals totals;
  for (const auto& [id, writes] : st.acked) {
    auto history = co_await s.history(id);
    ++totals.scans;
    REQUIRE_OK(history);
    std::map<std::uint64_t, std::string> stored;
    for (const auto& revision : *history) {
      if (revision.content && *revision.content) stored[revision.revision] = (*revision.content)->description;
    }
    int found = 0;
    for (const auto& [revision, description] : writes) {
      const auto it = stored.find(revision);
      if (it != stored.end() && it->second == description) ++found;
    }
    if (found != static_cast<int>(writes.size())) ++totals.short_scans;
    totals.acked += static_cast<int>(writes.size());
    totals.found += found;
  }
  auto listed = co_await s.list();
  ++totals.scans;
  REQUIRE_OK(listed);
  std::map<std::string, std::uint64_t> listed_at;
  for (const auto& f : listed->flows) listed_at[f.id] = f.revision;
  int list_misses = 0;
  for (const auto& [id, writes] : st.acked) {
    const auto it = listed_at.find(id);
    if (it == listed_at.end() || it->second < writes.back().first) ++list_misses;
  }
  if (list_misses > 0) ++totals.short_scans;
  CHECK(list_misses == 0);
  CHECK(totals.short_scans == 0);
  CHECK(totals.found == totals.acked);

  REQUIRE_FALSE(log.error.has_value());
  REQUIRE(log.finished);
  std::set<std::uint64_t> revisions;
  std::uint64_t previous = 0;
  bool ordered = true;
  for (const auto& [id, revision] : log.events) {
    ordered = ordered && revision > previous;
    previous = revision;
    revisions.insert(revision);
  }
  CHECK(ordered);
  CHECK(revisions.size() == log.events.size());
  std::vector<std::uint64_t> missed;
  for (const auto& [id, writes] : st.acked) {
    for (const auto& [revision, description] : writes) {
      if (revisions.count(revision)) {
        ++totals.seen_by_watcher;
      } else {
        missed.push_back(revision);
      }
    }
  }
  if (!missed.empty()) {
    std::sort(missed.begin(), missed.end());
    std::ostringstream text;
    for (const auto revision : missed) {
      text << revision << " (watcher around it:";
      for (const auto& [id, seen] : log.events) {
        if (seen + 3 >= revision && seen <= revision + 3) text << ' ' << seen;
      }
      text << ") ";
    }
    UNSCOPED_INFO("acknowledged revisions the watcher missed: " << text.str());
  }
  CHECK(totals.seen_by_watcher == totals.acked);
  co_return totals;
}

flowstore::connect_options fault_tolerant(std::vector<std::string> servers) {
  flowstore::connect_options options;
  options.servers = std::move(servers);
  options.name = "flowstore-fault-tests";
  options.operation_timeout = operation_timeout;
  options.reconnect.wait = 100ms;
  options.reconnect.max_attempts = -1;
  return options;
}

// Writes flow after flow (`prefix`.0, `prefix`.1, …), 50 acknowledged writes each, until stopped.
asio::awaitable<void> write_until_stopped(flowstore::store s, std::string prefix, load_state* st) {
  for (int k = 0; !st->stop; ++k) co_await write_flow(s, prefix + "." + std::to_string(k), 50, st);
}

asio::awaitable<void> write_marker(flowstore::store s, std::string id, load_state* st) {
  st->stop = false;
  co_await write_flow(std::move(s), std::move(id), 1, st);
}

}  // namespace

TEST_CASE("fault: a server killed and restarted under load loses no acknowledged write", "[fault]") {
  nats_server server;
  run_async(
      [&](asio::io_context&) -> asio::awaitable<void> {
        auto options = fault_tolerant({server.url()});
        auto conn = co_await connect_with(std::move(options));
        flowstore::store_options store_opts;
        store_opts.history = 64;  // every revision of the test stays retained
        auto s = co_await open_store(conn, std::move(store_opts));
        auto w = s.watch();
        watch_log log;
        const auto executor = co_await asio::this_coro::executor;
        asio::co_spawn(executor, collect(&w, "zz-last", &log), asio::detached);
        std::function<bool()> watcher_ready = [&] { return log.ready; };
        co_await wait_until(std::move(watcher_ready), 30s, "the watcher's initial values");

        const int writers = 16;
        const int acks_per_writer = 40;
        load_state st;
        std::vector<asio::awaitable<void>> tasks;
        for (int i = 0; i < writers; ++i) tasks.push_back(write_flow(s, "w" + std::to_string(i), acks_per_writer, &st));

        clock_type::time_point killed_at{};
        int acks_before = 0;
        int in_flight_at_kill = 0;
        auto fault = [&]() -> asio::awaitable<void> {
          std::function<bool()> enough_acks = [&] { return st.acks >= 200; };
          std::string enough_acks_text = "200 acknowledged writes";
          co_await wait_until(std::move(enough_acks), 60s, std::move(enough_acks_text));
          acks_before = st.acks;
          in_flight_at_kill = st.in_flight;
          killed_at = clock_type::now();
          server.kill();
          std::function<void()> restart = [&] { server.start(); };
          co_await off_thread(std::move(restart));
        };
        tasks.push_back(fault());
        co_await run_all(std::move(tasks));

        co_await write_marker(s, "zz-last", &st);
        std::function<bool()> watcher_done = [&] { return log.finished || log.error.has_value(); };
        std::string watcher_done_text = "the watcher's last event";
        co_await wait_until(std::move(watcher_done), 30s, std::move(watcher_done_text));
        const auto summary = summarize(st, killed_at);
        const auto totals = co_await check_nothing_lost(s, st, log);
        std::cout << "[fault] kill -9 and restart: " << writers << " writers, " << acks_before
                  << " writes acknowledged before the kill, " << totals.acked << " in all; " << totals.found
                  << " found afterwards; " << in_flight_at_kill << " operations in flight at the kill; "
                  << describe(summary) << "; watcher: " << log.events.size() << " events, " << totals.seen_by_watcher
                  << " of " << totals.acked << " acknowledged revisions seen, none twice" << std::endl;
        check_operations(st, summary);
        CHECK(in_flight_at_kill > 0);
        CHECK(totals.acked == writers * acks_per_writer + 1);
        w.stop();
      },
      120s);
}

TEST_CASE("fault: a stalled server times operations out as transient and all works after it resumes", "[fault]") {
  nats_server server;
  run_async(
      [&](asio::io_context&) -> asio::awaitable<void> {
        auto options = fault_tolerant({server.url()});
        options.operation_timeout = 500ms;
        auto conn = co_await connect_with(std::move(options));
        auto s = co_await open_store(conn);
        auto created = co_await s.create(flow_for("stalled", 0));
        REQUIRE_OK(created);
        auto w = s.watch();
        auto initial = co_await w.next();
        REQUIRE_OK(initial);
        auto marker = co_await w.next();
        REQUIRE_OK(marker);
        REQUIRE(marker->type == kind::initial_values_done);

        server.pause();
        auto got = co_await s.get("stalled");
        CHECK_ERROR(got, errc::timeout);
        auto refused = co_await s.update(*created);
        CHECK_ERROR(refused, errc::timeout);
        CHECK(refused.error().code == condition::transient);
        auto listed = co_await s.list();
        CHECK_ERROR(listed, errc::timeout);
        server.resume();

        // The timed-out update may have been applied once the server ran again: find out.
        load_state st;
        auto current = co_await read_current(s, "stalled", &st);
        CHECK(current.version >= 1);
        CHECK(current.version <= 2);
        auto next = current;
        next.description = "after the stall";
        auto updated = co_await s.update(std::move(next));
        REQUIRE_OK(updated);

        // The watcher reports each change once: the update that timed out (if it was applied)
        // and the one after the stall.
        std::vector<std::uint64_t> revisions;
        for (;;) {
          auto event = co_await w.next();
          REQUIRE_OK(event);
          revisions.push_back(event->revision);
          if (event->revision == updated->revision) break;
        }
        CHECK(static_cast<std::int64_t>(revisions.size()) == current.version);  // one event per update after creation
        CHECK(revisions.back() == updated->revision);
        w.stop();
      },
      60s);
}

namespace {

struct stream_replicas {
  std::string leader;
  std::map<std::string, bool> current;  // follower name → caught up
};

// The stream's leader and followers as a running node reports them; nothing when the stream
// has no leader at the moment.
std::optional<stream_replicas> replicas_of(const std::string& url, const std::string& stream) {
  natsConnection* nc = nullptr;
  if (natsConnection_ConnectTo(&nc, url.c_str()) != NATS_OK) return std::nullopt;
  nats_ptr<natsConnection> conn(nc);
  jsCtx* js = nullptr;
  if (natsConnection_JetStream(&js, nc, nullptr) != NATS_OK) return std::nullopt;
  nats_ptr<jsCtx> ctx(js);
  jsStreamInfo* raw = nullptr;
  jsErrCode jerr{};
  if (js_GetStreamInfo(&raw, js, stream.c_str(), nullptr, &jerr) != NATS_OK) return std::nullopt;
  nats_ptr<jsStreamInfo> info(raw);
  if (info->Cluster == nullptr || info->Cluster->Leader == nullptr) return std::nullopt;
  stream_replicas r;
  r.leader = info->Cluster->Leader;
  for (int i = 0; i < info->Cluster->ReplicasLen; ++i) {
    const jsPeerInfo* peer = info->Cluster->Replicas[i];
    r.current[peer->Name] = peer->Current && peer->Lag == 0;
  }
  return r;
}

std::size_t node_named(nats_cluster& cluster, const std::string& name) {
  for (std::size_t i = 0; i < cluster.size(); ++i) {
    if (cluster.node(i).name() == name) return i;
  }
  FAIL("no node named " << name);
  return 0;
}

// A running node's URL.
std::string running_url(nats_cluster& cluster, std::size_t except) {
  for (std::size_t i = 0; i < cluster.size(); ++i) {
    if (i != except && cluster.node(i).running()) return cluster.node(i).url();
  }
  FAIL("no running node");
  return {};
}

// The stream's replicas as reported by a running node other than `except`, asked off the
// io_context's thread (the request blocks); retried while the stream has no leader.
asio::awaitable<stream_replicas> replicas_eventually(nats_cluster& cluster, std::size_t except, std::string stream) {
  const auto deadline = clock_type::now() + 60s;
  for (;;) {
    std::optional<stream_replicas> replicas;
    const std::string url = running_url(cluster, except);
    std::function<void()> ask = [&] { replicas = replicas_of(url, stream); };
    co_await off_thread(std::move(ask));
    if (replicas) co_return *replicas;
    INFO("the stream " << stream << " having a leader");
    REQUIRE(clock_type::now() < deadline);
    co_await pause_for(100ms);
  }
}

// Kills node `victim` under load, waits for progress, restarts it and waits until it caught up.
asio::awaitable<void> lose_and_restore(nats_cluster& cluster, std::size_t victim, const std::string& stream,
                                       load_state* st, std::string label) {
  std::function<bool()> progress_before = [&] { return st->acks >= 100; };
  std::string progress_before_text = "progress before " + label;
  co_await wait_until(std::move(progress_before), 60s, std::move(progress_before_text));
  const int acks_before = st->acks;
  const auto killed_at = clock_type::now();
  const std::size_t ops_before = st->ops.size();
  cluster.kill_node(victim);
  std::function<bool()> progress_after = [&] { return st->acks >= acks_before + 100; };
  std::string progress_after_text = "progress after " + label;
  co_await wait_until(std::move(progress_after), 60s, std::move(progress_after_text));
  const int acks_while_down = st->acks - acks_before;
  std::function<void()> restart = [&] { cluster.start_node(victim); };
  co_await off_thread(std::move(restart));
  const std::string name = cluster.node(victim).name();
  const auto deadline = clock_type::now() + 60s;
  for (;;) {
    const auto replicas = co_await replicas_eventually(cluster, victim, stream);
    const auto it = replicas.current.find(name);
    // A leader is current by definition.
    if (replicas.leader == name || (it != replicas.current.end() && it->second)) break;
    INFO(label << ": the restarted node catching up");
    REQUIRE(clock_type::now() < deadline);
    co_await pause_for(100ms);
  }

  load_state window;
  window.ops.assign(st->ops.begin() + static_cast<std::ptrdiff_t>(ops_before), st->ops.end());
  const auto summary = summarize(window, killed_at);
  std::cout << "[fault] cluster, " << label << ": " << acks_before << " writes acknowledged before, " << acks_while_down
            << " while the node was down; " << describe(summary) << "; the node caught up after its restart"
            << std::endl;
  st->acks = 0;
}

}  // namespace

TEST_CASE("fault: a 3-node cluster loses a follower and then the stream leader without losing a write",
          "[fault][cluster]") {
  nats_cluster cluster;
  run_async(
      [&](asio::io_context&) -> asio::awaitable<void> {
        auto options = fault_tolerant(cluster.urls());
        auto conn = co_await connect_with(std::move(options));
        flowstore::store_options store_opts;
        store_opts.replicas = 3;
        store_opts.history = 64;
        auto s = co_await open_store(conn, std::move(store_opts));
        const std::string stream = "KV_" + s.bucket();
        auto w = s.watch();
        watch_log log;
        const auto executor = co_await asio::this_coro::executor;
        asio::co_spawn(executor, collect(&w, "zz-last", &log), asio::detached);
        std::function<bool()> watcher_ready = [&] { return log.ready; };
        co_await wait_until(std::move(watcher_ready), 30s, "the watcher's initial values");

        const int writers = 8;
        load_state st;
        std::vector<asio::awaitable<void>> tasks;
        // 50 writes per flow: the bucket keeps 64 revisions, so every one stays checkable.
        for (int i = 0; i < writers; ++i) tasks.push_back(write_until_stopped(s, "c" + std::to_string(i), &st));
        auto faults = [&]() -> asio::awaitable<void> {
          const auto before = co_await replicas_eventually(cluster, cluster.size(), stream);
          std::size_t follower = 0;
          while (cluster.node(follower).name() == before.leader) ++follower;
          co_await lose_and_restore(cluster, follower, stream, &st, "follower " + cluster.node(follower).name());
          const auto now = co_await replicas_eventually(cluster, cluster.size(), stream);
          const std::size_t leader = node_named(cluster, now.leader);
          co_await lose_and_restore(cluster, leader, stream, &st, "stream leader " + now.leader);
          st.stop = true;
        };
        tasks.push_back(faults());
        co_await run_all(std::move(tasks));

        co_await write_marker(s, "zz-last", &st);
        std::function<bool()> watcher_done = [&] { return log.finished || log.error.has_value(); };
        std::string watcher_done_text = "the watcher's last event";
        co_await wait_until(std::move(watcher_done), 30s, std::move(watcher_done_text));
        const auto summary = summarize(st, clock_type::time_point{});
        const auto totals = co_await check_nothing_lost(s, st, log);
        std::cout << "[fault] cluster: " << totals.acked << " writes acknowledged, " << totals.found
                  << " found afterwards; " << summary.total << " operations, " << summary.failures
                  << " failures (all transient or a retry's conflict); watcher: " << totals.seen_by_watcher << " of "
                  << totals.acked << " acknowledged revisions seen, none twice; " << totals.scans
                  << " scans to check (history of each "
                  << "flow and one list), " << totals.short_scans << " short" << std::endl;
        check_operations(st, summary);
        w.stop();
      },
      300s);
}

TEST_CASE("fault: a server list whose first server is down connects to the next", "[fault]") {
  nats_server server;
  const int dead_port = free_loopback_port();
  run_async([&](asio::io_context&) -> asio::awaitable<void> {
    auto options = fault_tolerant({"nats://127.0.0.1:" + std::to_string(dead_port), server.url()});
    options.connect_timeout = 500ms;
    auto conn = co_await connect_with(std::move(options));
    CHECK(conn.is_connected());
    auto s = co_await open_store(conn);
    auto created = co_await s.create(flow_for("listed", 0));
    REQUIRE_OK(created);

    // Nothing to connect to at all is connection_failed, a transient error.
    const auto executor = co_await asio::this_coro::executor;
    auto nowhere_options = fault_tolerant({"nats://127.0.0.1:" + std::to_string(dead_port)});
    nowhere_options.connect_timeout = 500ms;
    auto nowhere = co_await flowstore::connect(executor, std::move(nowhere_options));
    REQUIRE_ERROR(nowhere, errc::connection_failed);
    CHECK(nowhere.error().code == condition::transient);
    CHECK_THAT(nowhere.error().message, Catch::Contains(std::to_string(dead_port)));
  });
}

namespace {

struct scan_tally {
  int scans = 0;
  int short_scans = 0;
  int failed = 0;
};

// A list holds every flow at its latest acknowledged revision or later.
asio::awaitable<void> list_is_complete(flowstore::store s, std::vector<flowstore::flow> latest, scan_tally* tally) {
  ++tally->scans;
  auto listed = co_await s.list();
  if (!listed) {
    ++tally->failed;
    UNSCOPED_INFO("list: " << listed.error().what());
    co_return;
  }
  std::map<std::string, std::uint64_t> at;
  for (const auto& f : listed->flows) at[f.id] = f.revision;
  for (const auto& f : latest) {
    if (at[f.id] < f.revision) {
      ++tally->short_scans;
      co_return;
    }
  }
}

// A history ends at the flow's latest acknowledged revision or later.
asio::awaitable<void> history_is_complete(flowstore::store s, flowstore::flow latest, scan_tally* tally) {
  ++tally->scans;
  auto history = co_await s.history(latest.id);
  if (!history) {
    ++tally->failed;
    UNSCOPED_INFO("history: " << history.error().what());
    co_return;
  }
  if (history->empty() || history->back().revision < latest.revision) ++tally->short_scans;
}

}  // namespace

TEST_CASE("fault: scans of a 3-replica bucket made while a follower catches up miss no acknowledged write",
          "[fault][cluster]") {
  nats_cluster cluster;
  run_async(
      [&](asio::io_context&) -> asio::awaitable<void> {
        auto conn = co_await connect_with(fault_tolerant(cluster.urls()));
        flowstore::store_options store_opts;
        store_opts.replicas = 3;
        store_opts.history = 64;
        auto s = co_await open_store(conn, std::move(store_opts));
        const std::string stream = "KV_" + s.bucket();
        const int flows = 20;
        std::vector<flowstore::flow> latest;
        for (int i = 0; i < flows; ++i) {
          auto created = co_await s.create(flow_for("lag" + std::to_string(i), 0));
          REQUIRE_OK(created);
          latest.push_back(std::move(created).value());
        }
        const auto replicas = co_await replicas_eventually(cluster, cluster.size(), stream);
        // Not the node the connection is on (the first of the list) and not the leader.
        std::size_t follower = 1;
        while (cluster.node(follower).name() == replicas.leader) ++follower;

        // The follower falls behind: 200 writes are acknowledged by the other two meanwhile.
        cluster.node(follower).pause();
        for (int round = 0; round < 10; ++round) {
          for (auto& f : latest) {
            f.description = "round " + std::to_string(round);
            auto updated = co_await s.update(f);
            REQUIRE_OK(updated);
            f = std::move(updated).value();
          }
        }
        cluster.node(follower).resume();

        // Scans started at once: their consumers land on any of the three replicas, the one
        // still catching up among them.
        scan_tally tally;
        std::vector<asio::awaitable<void>> tasks;
        for (int i = 0; i < 40; ++i) {
          if (i % 4 == 3) {
            tasks.push_back(list_is_complete(s, latest, &tally));
          } else {
            tasks.push_back(history_is_complete(s, latest[static_cast<std::size_t>(i % flows)], &tally));
          }
        }
        co_await run_all(std::move(tasks));
        std::cout << "[fault] cluster, scans while follower " << cluster.node(follower).name()
                  << " catches up 200 writes: " << tally.scans << " scans (30 history, 10 list), " << tally.short_scans
                  << " short, " << tally.failed << " failed" << std::endl;
        CHECK(tally.scans == 40);
        CHECK(tally.failed == 0);
        CHECK(tally.short_scans == 0);
      },
      120s);
}
