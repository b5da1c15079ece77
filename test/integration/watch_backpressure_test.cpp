// Integration tests of a flowstore::watcher's backpressure against a real nats-server: a reader
// slower than the writers loses nothing and the buffer stays bounded.
#include "watch_test_support.hpp"

using namespace flowstore::test::watch_tests;

// =============================================================================================
// 6. backpressure

namespace {

struct backpressure_outcome {
  int puts = 0;               // put events of the written flows (sentinel excluded)
  int out_of_order = 0;       // revision not above the previous one
  int version_gaps = 0;       // a flow's version not previous + 1
  std::uint64_t skipped = 0;  // revisions never delivered between two delivered ones
  std::string first_skip;     // "a..b" of the first such range
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
        std::cout << "[watch backpressure, 200 flows, history 64] " << out.puts << " of 10000 events in " << out.seconds
                  << " s; skipped " << out.skipped << "; peak_buffered " << out.peak << " capacity " << out.capacity
                  << std::endl;
        check_backpressure(out, 10000, 200, 50);
      },
      120s);
}
