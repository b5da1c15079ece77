// Security tests against real servers that require authentication or TLS: each kind of
// credential connects when right and fails with a clear error in the right category when
// wrong, no secret ever appears in an error or event text, and a read-only user can read
// but gets permission_denied on writes.

#include <flowstore/connection.hpp>
#include <flowstore/error.hpp>
#include <flowstore/flow.hpp>
#include <flowstore/store.hpp>
#include <flowstore/watch.hpp>

#include "support/async.hpp"
#include "support/credentials.hpp"
#include "support/flowstore_client.hpp"
#include "support/nats_server.hpp"

#include <boost/asio/this_coro.hpp>

#include <catch2/catch.hpp>

#include <fstream>
#include <memory>
#include <string>
#include <utility>
#include <vector>

namespace {

namespace asio = boost::asio;
using namespace std::chrono_literals;
using namespace flowstore::test;
using flowstore::condition;
using flowstore::errc;

// Every text a connection attempt produced: the error (message and server text) and the
// events the connection reported.
struct attempt_texts {
  std::shared_ptr<std::vector<std::string>> events = std::make_shared<std::vector<std::string>>();

  void watch(flowstore::connect_options& options) const {
    options.on_event = [events = events](const flowstore::connection_event& e) { events->push_back(e.text); };
  }
  void require_free_of(const std::string& secret, const flowstore::error* failure) const {
    REQUIRE_FALSE(secret.empty());
    if (failure != nullptr) {
      CHECK_THAT(failure->what(), !Catch::Contains(secret));
      CHECK_THAT(failure->server_text, !Catch::Contains(secret));
    }
    for (const auto& text : *events) CHECK_THAT(text, !Catch::Contains(secret));
  }
};

flowstore::connect_options base_options(const nats_server& server) {
  auto options = options_for(server);
  options.reconnect.enabled = false;
  return options;
}

asio::awaitable<flowstore::result<flowstore::connection>> try_connect(flowstore::connect_options options) {
  const auto executor = co_await asio::this_coro::executor;
  co_return co_await flowstore::connect(executor, std::move(options));
}

// A connection that works: a store opens on it and a flow round-trips.
asio::awaitable<void> require_working(flowstore::result<flowstore::connection>& conn, std::string id) {
  REQUIRE_OK(conn);
  auto s = co_await open_store(*conn);
  flowstore::flow f;
  f.id = id;
  f.name = "secured " + id;
  auto created = co_await s.create(std::move(f));
  REQUIRE_OK(created);
  auto got = co_await s.get(id);
  REQUIRE_OK(got);
  CHECK(got->name == "secured " + id);
  co_await conn->close();
}

void require_authentication_failed(const flowstore::result<flowstore::connection>& conn) {
  REQUIRE_ERROR(conn, errc::authentication_failed);
  CHECK(conn.error().code == condition::invalid);
  CHECK_THAT(conn.error().message, Catch::Contains("connect to"));
}

void write_file(const std::filesystem::path& path, const std::string& content) {
  std::ofstream out(path);
  out << content << '\n';
  REQUIRE(out.good());
}

}  // namespace

TEST_CASE("security: user and password connect and a wrong password is authentication_failed", "[security]") {
  const std::string password = "pw-7c1e9f2b-right";
  const std::string wrong_password = "pw-0a93d4e1-wrong";
  server_options config;
  config.extra_config = "authorization { user: \"alice\", password: \"" + password + "\" }\n";
  config.auth.user = "alice";
  config.auth.password = password;
  nats_server server(config);

  run_async([&](asio::io_context&) -> asio::awaitable<void> {
    auto good_options = base_options(server);
    good_options.user = "alice";
    good_options.password = password;
    auto good = co_await try_connect(std::move(good_options));
    co_await require_working(good, "with-password");

    attempt_texts texts;
    auto bad_options = base_options(server);
    bad_options.user = "alice";
    bad_options.password = wrong_password;
    texts.watch(bad_options);
    auto bad = co_await try_connect(std::move(bad_options));
    require_authentication_failed(bad);
    texts.require_free_of(wrong_password, &bad.error());
    texts.require_free_of(password, &bad.error());

    // No credentials at all is the same error.
    auto anonymous = co_await try_connect(base_options(server));
    require_authentication_failed(anonymous);
  });
}

TEST_CASE("security: a token connects and a wrong token is authentication_failed", "[security]") {
  const std::string token = "tok-5b2f8c61d0e4-right";
  const std::string wrong_token = "tok-93a7e2c4b1f8-wrong";
  server_options config;
  config.extra_config = "authorization { token: \"" + token + "\" }\n";
  config.auth.token = token;
  nats_server server(config);

  run_async([&](asio::io_context&) -> asio::awaitable<void> {
    auto good_options = base_options(server);
    good_options.token = token;
    auto good = co_await try_connect(std::move(good_options));
    co_await require_working(good, "with-token");

    attempt_texts texts;
    auto bad_options = base_options(server);
    bad_options.token = wrong_token;
    texts.watch(bad_options);
    auto bad = co_await try_connect(std::move(bad_options));
    require_authentication_failed(bad);
    texts.require_free_of(wrong_token, &bad.error());
    texts.require_free_of(token, &bad.error());
  });
}

TEST_CASE("security: an nkey connects and an unknown nkey is authentication_failed", "[security]") {
  const nkey_user allowed = make_nkey_user();
  const nkey_user stranger = make_nkey_user();
  REQUIRE(allowed.public_key.size() == 56);
  REQUIRE(allowed.seed.size() == 58);
  REQUIRE(allowed.seed.rfind("SU", 0) == 0);
  temp_dir dir;
  write_file(dir.path() / "allowed.nk", allowed.seed);
  write_file(dir.path() / "stranger.nk", stranger.seed);

  server_options config;
  // The readiness probe of the fixture authenticates as "probe".
  config.extra_config = "authorization { users = [ { nkey: \"" + allowed.public_key +
                        "\" }, { user: \"probe\", password: \"probe-pass\" } ] }\n";
  config.auth.user = "probe";
  config.auth.password = "probe-pass";
  nats_server server(config);

  run_async([&](asio::io_context&) -> asio::awaitable<void> {
    // The seed file alone: the public key is derived from it.
    auto good_options = base_options(server);
    good_options.nkey_seed_file = (dir.path() / "allowed.nk").string();
    auto good = co_await try_connect(good_options);
    co_await require_working(good, "with-nkey");
    // With the public key given too, it must be the seed's.
    good_options.nkey_public_key = allowed.public_key;
    auto named = co_await try_connect(good_options);
    co_await require_working(named, "with-nkey-and-public-key");
    good_options.nkey_public_key = stranger.public_key;
    auto mismatched = co_await try_connect(good_options);
    REQUIRE_ERROR(mismatched, errc::configuration_error);
    CHECK_THAT(mismatched.error().message, Catch::Contains("is not the seed's"));
    good_options.nkey_seed_file = (dir.path() / "missing.nk").string();
    auto unreadable = co_await try_connect(good_options);
    REQUIRE_ERROR(unreadable, errc::configuration_error);
    CHECK_THAT(unreadable.error().message, Catch::Contains("cannot be read"));

    attempt_texts texts;
    auto bad_options = base_options(server);
    bad_options.nkey_seed_file = (dir.path() / "stranger.nk").string();
    texts.watch(bad_options);
    auto bad = co_await try_connect(std::move(bad_options));
    require_authentication_failed(bad);
    texts.require_free_of(stranger.seed, &bad.error());
    texts.require_free_of(allowed.seed, &bad.error());
  });
}

TEST_CASE("security: TLS with the server's CA connects and an untrusted CA is a fatal configuration_error",
          "[security]") {
  temp_dir dir;
  const tls_files files = make_tls_files(dir.path());
  server_options config;
  config.extra_config =
      "tls { cert_file: \"" + files.server_cert.string() + "\", key_file: \"" + files.server_key.string() + "\" }\n";
  config.auth.tls_ca_file = files.ca_cert.string();
  nats_server server(config);

  run_async([&](asio::io_context&) -> asio::awaitable<void> {
    auto good_options = base_options(server);
    good_options.tls.enabled = true;
    good_options.tls.ca_file = files.ca_cert.string();
    auto good = co_await try_connect(std::move(good_options));
    co_await require_working(good, "over-tls");

    auto untrusted_options = base_options(server);
    untrusted_options.tls.enabled = true;
    untrusted_options.tls.ca_file = files.other_ca_cert.string();
    auto untrusted = co_await try_connect(std::move(untrusted_options));
    REQUIRE_ERROR(untrusted, errc::configuration_error);
    CHECK(untrusted.error().code == condition::fatal);
    CHECK_THAT(untrusted.error().message, Catch::Contains("connect to"));

    // Without TLS, a server that requires it cannot be used either.
    auto plain = co_await try_connect(base_options(server));
    REQUIRE_ERROR(plain, errc::configuration_error);
  });
}

TEST_CASE("security: a read-only user gets lists and watches and permission_denied on every write", "[security]") {
  // The reader may use the JetStream API of the default bucket's stream only for reading:
  // stream info, direct and leader gets, and pull consumers (create, fetch, delete). Publishing
  // to $KV.<bucket>.> (put, create, update, delete) is not allowed.
  const std::string stream = "KV_semstreams_flows";
  std::string reader_publish;
  const std::vector<std::string> reader_subjects = {"$JS.API.STREAM.INFO." + stream,
                                                    "$JS.API.STREAM.MSG.GET." + stream,
                                                    "$JS.API.DIRECT.GET." + stream,
                                                    "$JS.API.DIRECT.GET." + stream + ".>",
                                                    "$JS.API.CONSUMER.CREATE." + stream,
                                                    "$JS.API.CONSUMER.MSG.NEXT." + stream + ".*",
                                                    "$JS.API.CONSUMER.DELETE." + stream + ".*"};
  for (const std::string& subject : reader_subjects) {
    reader_publish += (reader_publish.empty() ? "\"" : ", \"") + subject + "\"";
  }
  server_options config;
  config.extra_config =
      "authorization { users = [\n"
      "  { user: \"writer\", password: \"writer-pass\" },\n"
      "  { user: \"reader\", password: \"reader-pass\", permissions: {\n"
      "      publish: { allow: [" +
      reader_publish +
      "] },\n"
      "      subscribe: { allow: [\"_INBOX.>\"] } } }\n"
      "] }\n";
  config.auth.user = "writer";
  config.auth.password = "writer-pass";
  nats_server server(config);

  run_async(
      [&](asio::io_context&) -> asio::awaitable<void> {
        auto writer_options = base_options(server);
        writer_options.user = "writer";
        writer_options.password = "writer-pass";
        auto writer_conn = co_await connect_with(std::move(writer_options));
        auto writer = co_await open_store(writer_conn);
        flowstore::flow f;
        f.id = "shared";
        f.name = "shared flow";
        auto created = co_await writer.create(std::move(f));
        REQUIRE_OK(created);

        // A generous operation timeout: a refused write must fail at once, not by timing out.
        auto reader_options = base_options(server);
        reader_options.user = "reader";
        reader_options.password = "reader-pass";
        reader_options.operation_timeout = 60s;
        auto reader_conn = co_await connect_with(std::move(reader_options));
        auto reader = co_await open_store(reader_conn);

        auto got = co_await reader.get("shared");
        REQUIRE_OK(got);
        CHECK(got->name == "shared flow");
        auto listed = co_await reader.list();
        REQUIRE_OK(listed);
        REQUIRE(listed->flows.size() == 1);
        CHECK(listed->failures.empty());

        flowstore::watch_options watch_opts;
        auto w = reader.watch(">", watch_opts);
        auto initial = co_await w.next();
        REQUIRE_OK(initial);
        CHECK(initial->type == flowstore::flow_event::kind::put);
        CHECK(initial->id == "shared");
        auto marker = co_await w.next();
        REQUIRE_OK(marker);
        CHECK(marker->type == flowstore::flow_event::kind::initial_values_done);

        flowstore::flow mine;
        mine.id = "readers-own";
        mine.name = "not allowed";
        auto refused_create = co_await reader.create(std::move(mine));
        REQUIRE_ERROR(refused_create, errc::permission_denied);
        CHECK(refused_create.error().code == condition::invalid);
        CHECK_THAT(refused_create.error().message, Catch::Contains("readers-own"));

        auto edited = *got;
        edited.name = "edited by the reader";
        auto refused_update = co_await reader.update(std::move(edited));
        REQUIRE_ERROR(refused_update, errc::permission_denied);
        CHECK_THAT(refused_update.error().message, Catch::Contains("shared"));

        auto refused_remove = co_await reader.remove("shared");
        REQUIRE_ERROR(refused_remove, errc::permission_denied);
        CHECK_THAT(refused_remove.error().message, Catch::Contains("shared"));

        // The refusals changed nothing, and the reader still reads and sees the writer's edits.
        auto renamed = *created;
        renamed.name = "renamed by the writer";
        auto updated = co_await writer.update(std::move(renamed));
        REQUIRE_OK(updated);
        auto live = co_await w.next();
        REQUIRE_OK(live);
        CHECK(live->id == "shared");
        REQUIRE(live->value.has_value());
        CHECK(live->value->name == "renamed by the writer");
        CHECK(live->value->version == 2);
        auto again = co_await reader.get("shared");
        REQUIRE_OK(again);
        CHECK(again->version == 2);
        auto mine_absent = co_await writer.get("readers-own");
        CHECK_ERROR(mine_absent, errc::not_found);
        w.stop();
      },
      40s);
}
