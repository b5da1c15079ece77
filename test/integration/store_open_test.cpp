// Integration tests of store::open against a real nats-server: binding to buckets made by
// others, refusing streams that are not buckets, a missing bucket, impossible replicas.
#include "store_test_support.hpp"

using namespace flowstore::test;
using namespace flowstore::test::store_tests;

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
