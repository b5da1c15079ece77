// Smoke tests of the test harness itself, with raw nats.c: the server and cluster fixtures
// really serve JetStream KV, survive restarts and pauses, and run_async behaves.

#include "support/async.hpp"
#include "support/flowstore_client.hpp"
#include "support/nats_server.hpp"

#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>

#include <catch2/catch.hpp>

#include <nats.h>

#include <chrono>
#include <filesystem>
#include <memory>
#include <stdexcept>
#include <string>
#include <thread>

#include <signal.h>
#include <sys/types.h>

namespace {

using namespace std::chrono_literals;
using flowstore::test::describe_status;
using flowstore::test::nats_cluster;
using flowstore::test::nats_ptr;
using flowstore::test::nats_server;

nats_ptr<natsConnection> connect(const std::string& url) {
  natsConnection* nc = nullptr;
  REQUIRE_NATS_OK(natsConnection_ConnectTo(&nc, url.c_str()));
  return nats_ptr<natsConnection>(nc);
}

nats_ptr<jsCtx> jetstream(natsConnection* nc) {
  jsCtx* js = nullptr;
  REQUIRE_NATS_OK(natsConnection_JetStream(&js, nc, nullptr));
  return nats_ptr<jsCtx>(js);
}

nats_ptr<kvStore> create_bucket(jsCtx* js, const char* bucket, int replicas) {
  kvConfig cfg;
  kvConfig_Init(&cfg);
  cfg.Bucket = bucket;
  cfg.Replicas = replicas;
  cfg.StorageType = js_FileStorage;
  kvStore* kv = nullptr;
  REQUIRE_NATS_OK(js_CreateKeyValue(&kv, js, &cfg));
  return nats_ptr<kvStore>(kv);
}

nats_ptr<kvStore> bind_bucket(jsCtx* js, const char* bucket) {
  kvStore* kv = nullptr;
  REQUIRE_NATS_OK(js_KeyValue(&kv, js, bucket));
  return nats_ptr<kvStore>(kv);
}

void put(kvStore* kv, const char* key, const std::string& value) {
  uint64_t revision = 0;
  REQUIRE_NATS_OK(kvStore_PutString(&revision, kv, key, value.c_str()));
  REQUIRE(revision > 0);
}

std::string get(kvStore* kv, const char* key) {
  kvEntry* raw = nullptr;
  REQUIRE_NATS_OK(kvStore_Get(&raw, kv, key));
  nats_ptr<kvEntry> entry(raw);
  return kvEntry_ValueString(entry.get());
}

// kvStore_Get uses direct get, which any replica of an R3 stream answers, so a replica
// that has not applied the latest put yet can answer with an older value or "not found"
// (nats-server 2.9 reads are not read-after-write across replicas). Read until the
// expected value shows up.
std::string get_eventually(kvStore* kv, const char* key, const std::string& expected) {
  const auto deadline = std::chrono::steady_clock::now() + 5s;
  int stale_reads = 0;
  for (;;) {
    kvEntry* raw = nullptr;
    const natsStatus s = kvStore_Get(&raw, kv, key);
    nats_ptr<kvEntry> entry(raw);
    INFO("kvStore_Get(" << key << "): " << describe_status(s));
    REQUIRE((s == NATS_OK || s == NATS_NOT_FOUND));
    std::string value = s == NATS_OK ? kvEntry_ValueString(entry.get()) : "<not found>";
    if (value == expected || std::chrono::steady_clock::now() >= deadline) {
      if (stale_reads > 0)
        WARN("direct get of " << key << " was stale " << stale_reads << " time(s) before it returned " << value);
      return value;
    }
    ++stale_reads;
    std::this_thread::sleep_for(20ms);
  }
}

nats_ptr<jsStreamInfo> stream_info(jsCtx* js, const char* stream) {
  jsStreamInfo* si = nullptr;
  jsErrCode code{};
  REQUIRE_NATS_OK(js_GetStreamInfo(&si, js, stream, nullptr, &code));
  return nats_ptr<jsStreamInfo>(si);
}

// A core request through the connection; NATS_TIMEOUT when the server does not answer.
natsStatus js_info_request(natsConnection* nc, std::chrono::milliseconds timeout) {
  natsMsg* reply = nullptr;
  natsStatus s = natsConnection_RequestString(&reply, nc, "$JS.API.INFO", "", timeout.count());
  natsMsg_Destroy(reply);
  return s;
}

}  // namespace

TEST_CASE("nats_server serves a JetStream KV bucket", "[harness]") {
  nats_server server;  // declared first: the handles below are destroyed before it
  CHECK(server.running());
  CHECK(server.port() > 0);
  CHECK(server.url() == "nats://127.0.0.1:" + std::to_string(server.port()));
  CHECK(server.pid() > 0);
  CHECK(std::filesystem::is_directory(server.store_dir()));
  CHECK(server.log().find("Server is ready") != std::string::npos);

  auto nc = connect(server.url());
  auto js = jetstream(nc.get());
  auto kv = create_bucket(js.get(), "harness_single", 1);
  put(kv.get(), "greeting", "hello");
  CHECK(get(kv.get(), "greeting") == "hello");
}

TEST_CASE("nats_server's destructor ends its process and removes its directory", "[harness]") {
  pid_t pid = 0;
  std::filesystem::path store;
  {
    nats_server server;
    pid = server.pid();
    store = server.store_dir();
    REQUIRE(std::filesystem::exists(store));
  }
  CHECK(::kill(pid, 0) == -1);  // reaped, so the pid names no process (of ours) any more
  CHECK_FALSE(std::filesystem::exists(store.parent_path()));
}

TEST_CASE("nats_server keeps its JetStream data across kill() and start()", "[harness]") {
  nats_server server;
  const int port = server.port();
  {
    auto nc = connect(server.url());
    auto js = jetstream(nc.get());
    auto kv = create_bucket(js.get(), "harness_restart", 1);
    put(kv.get(), "survivor", "still here");
  }

  server.kill();
  CHECK_FALSE(server.running());
  CHECK(server.pid() == 0);
  server.start();
  CHECK(server.running());
  CHECK(server.port() == port);

  auto nc = connect(server.url());
  auto js = jetstream(nc.get());
  auto kv = bind_bucket(js.get(), "harness_restart");
  CHECK(get(kv.get(), "survivor") == "still here");

  server.stop();
  CHECK_FALSE(server.running());
}

TEST_CASE("a paused nats_server does not answer until resumed", "[harness]") {
  nats_server server;
  auto nc = connect(server.url());
  REQUIRE(js_info_request(nc.get(), 2s) == NATS_OK);

  server.pause();
  CHECK(server.paused());
  CHECK(server.running());
  CHECK(js_info_request(nc.get(), 300ms) == NATS_TIMEOUT);

  server.resume();
  CHECK_FALSE(server.paused());
  CHECK(js_info_request(nc.get(), 2s) == NATS_OK);
}

TEST_CASE("nats_cluster serves a replicated KV bucket through a node failure", "[harness][cluster]") {
  nats_cluster cluster;
  REQUIRE(cluster.size() == 3);
  REQUIRE(cluster.urls().size() == 3);
  CHECK(cluster.node(1).name() == "n2");

  // Connected to n1 only; the node we kill is never it.
  auto nc = connect(cluster.node(0).url());
  auto js = jetstream(nc.get());
  auto kv = create_bucket(js.get(), "harness_cluster", 3);
  put(kv.get(), "k", "one");
  CHECK(get_eventually(kv.get(), "k", "one") == "one");

  // Kill a replica that is not the stream leader, so the put below needs no election.
  std::size_t victim = 1;
  {
    auto si = stream_info(js.get(), "KV_harness_cluster");
    REQUIRE(si->Cluster != nullptr);
    CHECK(si->Cluster->ReplicasLen == 2);
    if (si->Cluster->Leader && cluster.node(1).name() == si->Cluster->Leader) victim = 2;
  }
  cluster.kill_node(victim);
  CHECK_FALSE(cluster.node(victim).running());
  put(kv.get(), "k", "two");
  CHECK(get_eventually(kv.get(), "k", "two") == "two");

  cluster.start_node(victim);
  CHECK(cluster.node(victim).running());

  // Whole again: the restarted node is a current replica of the bucket's stream.
  const auto deadline = std::chrono::steady_clock::now() + 20s;
  bool whole = false;
  while (!whole && std::chrono::steady_clock::now() < deadline) {
    auto si = stream_info(js.get(), "KV_harness_cluster");
    int current = 0;
    for (int i = 0; si->Cluster && i < si->Cluster->ReplicasLen; ++i) {
      const jsPeerInfo* peer = si->Cluster->Replicas[i];
      if (peer->Current && !peer->Offline) ++current;
    }
    whole = current == 2;
    if (!whole) std::this_thread::sleep_for(100ms);
  }
  CHECK(whole);
  put(kv.get(), "k", "three");
  CHECK(get_eventually(kv.get(), "k", "three") == "three");
}

TEST_CASE("run_async returns once the coroutine finishes", "[harness][async]") {
  bool resumed = false;
  const auto started = std::chrono::steady_clock::now();
  flowstore::test::run_async([&](boost::asio::io_context& io) -> boost::asio::awaitable<void> {
    boost::asio::steady_timer timer(io, 10ms);
    co_await timer.async_wait(boost::asio::use_awaitable);
    resumed = true;
  });
  CHECK(resumed);
  CHECK(std::chrono::steady_clock::now() - started < 5s);
}

TEST_CASE("run_async rethrows the coroutine's exception", "[harness][async]") {
  auto body = [](boost::asio::io_context&) -> boost::asio::awaitable<void> {
    throw std::runtime_error("from the coroutine");
    co_return;
  };
  CHECK_THROWS_WITH(flowstore::test::run_async(body), "from the coroutine");
}

// Passes only because run_async fails it: the timeout must end the test, not hang it.
TEST_CASE("run_async fails a coroutine that outlives its limit", "[harness][async][!shouldfail]") {
  flowstore::test::run_async(
      [](boost::asio::io_context& io) -> boost::asio::awaitable<void> {
        boost::asio::steady_timer timer(io, 60s);
        co_await timer.async_wait(boost::asio::use_awaitable);
      },
      200ms);
}
