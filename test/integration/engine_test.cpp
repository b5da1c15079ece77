// The flow engine against a real nats-server: the state machine, the semstreams_config keys it
// writes and removes, concurrent operations, name collisions, and operations killed between
// writes and retried.
#include <flowstore/engine.hpp>
#include <flowstore/json.hpp>

#include "support/async.hpp"
#include "support/child_process.hpp"
#include "support/flowstore_client.hpp"
#include "support/nats_server.hpp"

#include <boost/json/parse.hpp>

#include <catch2/catch.hpp>

#include <algorithm>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <vector>

namespace asio = boost::asio;
using namespace flowstore::test;
using flowstore::component_type;
using flowstore::condition;
using flowstore::errc;
using flowstore::flow;
using flowstore::runtime_state;

namespace {

constexpr const char* config_bucket = "semstreams_config";

// A deployable flow: `count` udp inputs named <prefix>-0, <prefix>-1, … (unconnected outputs
// are warnings, not errors).
flow udp_flow(const std::string& id, int count, const std::string& prefix) {
  flow f;
  f.id = id;
  f.name = "flow " + id;
  for (int i = 0; i < count; ++i) {
    flowstore::flow_node n;
    n.id = "n" + std::to_string(i);
    n.component = "udp";
    n.type = component_type::input;
    n.name = prefix + "-" + std::to_string(i);
    n.pos = {10.0 * i, 20};
    n.config["port"] = 14550 + i;
    f.nodes.push_back(std::move(n));
  }
  return f;
}

struct config_reader {
  raw_client raw;
  explicit config_reader(const nats_server& server) : raw(raw_connect(server.url(), config_bucket)) {}

  // The live keys under components., sorted.
  std::vector<std::string> component_keys() {
    kvKeysList list{};
    const natsStatus s = kvStore_Keys(&list, raw.kv.get(), nullptr);
    std::vector<std::string> keys;
    if (s == NATS_NOT_FOUND) return keys;
    REQUIRE_NATS_OK(s);
    for (int i = 0; i < list.Count; ++i) {
      std::string key = list.Keys[i];
      if (key.starts_with("components.")) keys.push_back(std::move(key));
    }
    kvKeysList_Destroy(&list);
    std::sort(keys.begin(), keys.end());
    return keys;
  }
  std::string value(const std::string& key) { return raw_get(raw.kv.get(), key).first; }
  std::uint64_t revision(const std::string& key) { return raw_get(raw.kv.get(), key).second; }
};

// The bytes every node of `f` must have in semstreams_config.
std::string expected_bytes(const flow& f, std::size_t node, bool enabled) {
  const auto* spec = flowstore::component_catalog::standard().find(f.nodes[node].component);
  REQUIRE(spec != nullptr);
  return flowstore::component_config_json(f.nodes[node], spec->category, enabled).value();
}

asio::awaitable<flowstore::engine> open_engine(flowstore::store s) {
  auto e = co_await flowstore::engine::open(std::move(s), flowstore::component_catalog::standard());
  REQUIRE_OK(e);
  co_return std::move(e).value();
}

}  // namespace

TEST_CASE("engine: deploy, start, stop and undeploy follow the state machine and write then remove each node's "
          "ComponentConfig",
          "[engine]") {
  nats_server server;
  run_async([&](asio::io_context&) -> asio::awaitable<void> {
    auto conn = co_await connect_to(server);
    auto s = co_await open_store(conn);
    auto engine = co_await open_engine(s);
    auto created = co_await s.create(udp_flow("lifecycle", 3, "udp"));
    REQUIRE_OK(created);
    config_reader config(server);
    // The runtime's own keys are never touched.
    const std::uint64_t platform = raw_put(config.raw.kv.get(), "platform", R"({"org":"c360","id":"p1"})");
    const std::uint64_t own = raw_put(config.raw.kv.get(), "components.runtime-own",
                                      R"({"type":"input","name":"udp","enabled":true,"config":{}})");

    // Only deploy (or undeploy, of a failed deployment) may come first.
    for (auto op : {&flowstore::engine::start, &flowstore::engine::stop, &flowstore::engine::undeploy}) {
      auto refused = co_await (engine.*op)("lifecycle");
      REQUIRE_ERROR(refused, errc::invalid_state);
      CHECK(refused.error().code == condition::invalid);
      CHECK_THAT(refused.error().message, Catch::Contains("the flow is not_deployed"));
    }

    auto deployed = co_await engine.deploy("lifecycle");
    REQUIRE_OK(deployed);
    CHECK(deployed->state == runtime_state::deployed_stopped);
    REQUIRE(deployed->deployed_at.has_value());
    CHECK_FALSE(deployed->started_at.has_value());
    CHECK(deployed->version == 2);
    CHECK(config.component_keys() ==
          std::vector<std::string>{"components.runtime-own", "components.udp-0", "components.udp-1", "components.udp-2"});
    for (std::size_t i = 0; i < 3; ++i) {
      CHECK(config.value("components.udp-" + std::to_string(i)) == expected_bytes(*created, i, false));
    }
    auto again = co_await engine.deploy("lifecycle");
    REQUIRE_ERROR(again, errc::invalid_state);
    CHECK_THAT(again.error().message, Catch::Contains("deploy flow 'lifecycle': the flow is deployed_stopped"));

    auto started = co_await engine.start("lifecycle");
    REQUIRE_OK(started);
    CHECK(started->state == runtime_state::running);
    CHECK(started->started_at.has_value());
    for (std::size_t i = 0; i < 3; ++i) {
      CHECK(config.value("components.udp-" + std::to_string(i)) == expected_bytes(*created, i, true));
    }
    auto running_undeploy = co_await engine.undeploy("lifecycle");
    REQUIRE_ERROR(running_undeploy, errc::invalid_state);
    CHECK_THAT(running_undeploy.error().message, Catch::Contains("the flow is running"));

    auto stopped = co_await engine.stop("lifecycle");
    REQUIRE_OK(stopped);
    CHECK(stopped->state == runtime_state::deployed_stopped);
    CHECK(stopped->stopped_at.has_value());
    CHECK(stopped->started_at == started->started_at);
    CHECK(config.value("components.udp-1") == expected_bytes(*created, 1, false));

    auto owned = co_await engine.components("lifecycle");
    REQUIRE_OK(owned);
    REQUIRE(owned->size() == 3);
    CHECK((*owned)[0].key == "components.udp-0");
    CHECK((*owned)[0].component == "udp");
    CHECK((*owned)[0].category == component_type::input);
    CHECK_FALSE((*owned)[0].enabled);

    auto undeployed = co_await engine.undeploy("lifecycle");
    REQUIRE_OK(undeployed);
    CHECK(undeployed->state == runtime_state::not_deployed);
    CHECK_FALSE(undeployed->deployed_at.has_value());
    CHECK_FALSE(undeployed->stopped_at.has_value());
    CHECK(undeployed->version == 5);
    CHECK(config.component_keys() == std::vector<std::string>{"components.runtime-own"});
    CHECK(config.revision("platform") == platform);
    CHECK(config.revision("components.runtime-own") == own);
    auto none = co_await engine.components("lifecycle");
    REQUIRE_OK(none);
    CHECK(none->empty());

    auto missing = co_await engine.deploy("no-such-flow");
    REQUIRE_ERROR(missing, errc::not_found);
    CHECK_THAT(missing.error().message, Catch::Contains("deploy flow 'no-such-flow': no such flow"));
  });
}

TEST_CASE("engine: a flow that fails the deployment check is not deployed and nothing is written", "[engine]") {
  nats_server server;
  run_async([&](asio::io_context&) -> asio::awaitable<void> {
    auto conn = co_await connect_to(server);
    auto s = co_await open_store(conn);
    auto engine = co_await open_engine(s);
    auto f = udp_flow("broken", 2, "b");
    f.nodes[1].component = "no-such-component";
    f.nodes[1].type = component_type::processor;
    auto created = co_await s.create(f);
    REQUIRE_OK(created);
    auto refused = co_await engine.deploy("broken");
    REQUIRE_ERROR(refused, errc::validation_failed);
    CHECK_THAT(refused.error().message, Catch::Contains("deploy flow 'broken': 1 error: n1: Unknown component type: no-such-component"));
    auto unchanged = co_await s.get("broken");
    REQUIRE_OK(unchanged);
    CHECK(unchanged->state == runtime_state::not_deployed);
    CHECK(unchanged->revision == created->revision);
    config_reader config(server);
    CHECK(config.component_keys().empty());
  });
}

TEST_CASE("engine: of two concurrent deploys of one flow exactly one succeeds, on one connection and on two",
          "[engine]") {
  nats_server server;
  run_async(
      [&](asio::io_context&) -> asio::awaitable<void> {
        auto conn = co_await connect_to(server);
        auto other_conn = co_await connect_to(server);
        auto s = co_await open_store(conn);
        auto other_store = co_await open_store(other_conn);
        auto engine = co_await open_engine(s);
        auto other = co_await open_engine(other_store);
        auto created = co_await s.create(udp_flow("contested", 8, "c"));
        REQUIRE_OK(created);
        config_reader config(server);
        int conflicts = 0;
        for (int round = 0; round < 10; ++round) {
          flowstore::engine& second = round % 2 == 0 ? engine : other;
          std::optional<flowstore::result<flow>> a, b;
          auto deploy_into = [](flowstore::engine e, std::optional<flowstore::result<flow>>& out) -> asio::awaitable<void> {
            out.emplace(co_await e.deploy("contested"));
          };
          std::vector<asio::awaitable<void>> both;
          both.push_back(deploy_into(engine, a));
          both.push_back(deploy_into(second, b));
          co_await run_all(std::move(both));
          INFO("round " << round << ": " << outcome_text(*a) << " / " << outcome_text(*b));
          REQUIRE(static_cast<bool>(*a) != static_cast<bool>(*b));
          const auto& lost = *a ? *b : *a;
          CHECK((lost.error().code == errc::conflict || lost.error().code == errc::invalid_state));
          if (lost.error().code == errc::conflict) ++conflicts;
          // Whoever lost, the keys are what the winner's state needs.
          const auto keys = config.component_keys();
          CHECK(keys.size() == 8);
          for (std::size_t i = 0; i < keys.size(); ++i) CHECK(config.value(keys[i]) == expected_bytes(*created, i, false));
          auto undeployed = co_await engine.undeploy("contested");
          REQUIRE_OK(undeployed);
          CHECK(config.component_keys().empty());
        }
        std::printf("concurrent deploys: 10 rounds, exactly one success each, %d lost on the compare-and-set\n",
                    conflicts);
      },
      60s);
}

TEST_CASE("engine: an edit that races a deploy is detected and the deploy leaves no components", "[engine]") {
  nats_server server;
  run_async([&](asio::io_context&) -> asio::awaitable<void> {
    auto conn = co_await connect_to(server);
    auto s = co_await open_store(conn);
    auto engine = co_await open_engine(s);
    auto created = co_await s.create(udp_flow("raced", 6, "r"));
    REQUIRE_OK(created);
    auto flows = raw_connect(server.url(), "semstreams_flows");
    // While the deploy writes its third component, another client saves an edit of the flow.
    int written = 0;
    engine.on_event([&](const flowstore::engine_event& e) {
      if (e.what != flowstore::engine_event::kind::component_written || ++written != 3) return;
      auto edited = *created;
      edited.name = "edited meanwhile";
      edited.version = 2;
      const std::string json = flowstore::to_json(edited).value();
      std::uint64_t revision = 0;
      REQUIRE_NATS_OK(kvStore_Update(&revision, flows.kv.get(), "raced", json.data(), static_cast<int>(json.size()),
                                     created->revision));
    });
    auto deployed = co_await engine.deploy("raced");
    REQUIRE_ERROR(deployed, errc::conflict);
    CHECK_THAT(deployed.error().message, Catch::Contains("the flow changed while it was deployed"));
    auto now = co_await s.get("raced");
    REQUIRE_OK(now);
    CHECK(now->name == "edited meanwhile");
    CHECK(now->state == runtime_state::not_deployed);
    config_reader config(server);
    CHECK(config.component_keys().empty());
  });
}

TEST_CASE("engine: a component name another flow deployed is refused, the runtime's own keys too, and a "
          "removed flow's left-over key is taken",
          "[engine]") {
  nats_server server;
  run_async([&](asio::io_context&) -> asio::awaitable<void> {
    auto conn = co_await connect_to(server);
    auto s = co_await open_store(conn);
    auto engine = co_await open_engine(s);
    auto step1 = co_await s.create(udp_flow("first", 2, "shared"));
    REQUIRE_OK(step1);
    auto step2 = co_await s.create(udp_flow("second", 3, "shared"));
    REQUIRE_OK(step2);
    auto first = co_await engine.deploy("first");
    REQUIRE_OK(first);
    config_reader config(server);
    const std::uint64_t held = config.revision("components.shared-0");

    auto refused = co_await engine.deploy("second");
    REQUIRE_ERROR(refused, errc::already_exists);
    CHECK_THAT(refused.error().message,
               Catch::Contains("component 'shared-0' is deployed by flow 'first' (deployed_stopped)"));
    CHECK(config.revision("components.shared-0") == held);
    CHECK(config.component_keys() == std::vector<std::string>{"components.shared-0", "components.shared-1"});
    auto second = co_await s.get("second");
    REQUIRE_OK(second);
    CHECK(second->state == runtime_state::not_deployed);

    raw_put(config.raw.kv.get(), "components.own-0", R"({"type":"input","name":"udp","enabled":true,"config":{}})");
    auto step3 = co_await s.create(udp_flow("third", 1, "own"));
    REQUIRE_OK(step3);
    auto runtime_key = co_await engine.deploy("third");
    REQUIRE_ERROR(runtime_key, errc::already_exists);
    CHECK_THAT(runtime_key.error().message, Catch::Contains("belongs to the runtime's own configuration"));

    // "first" removed behind the engine's back: its keys are left over, and may be taken.
    auto step4 = co_await s.remove("first");
    REQUIRE_OK(step4);
    auto taken = co_await engine.deploy("second");
    REQUIRE_OK(taken);
    auto owned = co_await engine.components("second");
    REQUIRE_OK(owned);
    CHECK(owned->size() == 3);
    auto by_first = co_await engine.components("first");
    REQUIRE_OK(by_first);
    CHECK(by_first->empty());
  });
}

TEST_CASE("engine: editing a running flow is refused; an edit keeps the lifecycle and audit fields as stored",
          "[engine]") {
  nats_server server;
  run_async([&](asio::io_context&) -> asio::awaitable<void> {
    auto conn = co_await connect_to(server);
    auto s = co_await open_store(conn);
    auto engine = co_await open_engine(s);
    auto step5 = co_await s.create(udp_flow("edited", 2, "e"));
    REQUIRE_OK(step5);
    auto step6 = co_await engine.deploy("edited");
    REQUIRE_OK(step6);
    auto started = co_await engine.start("edited");
    REQUIRE_OK(started);

    auto edit = *started;
    edit.name = "renamed while running";
    auto refused = co_await engine.edit(edit);
    REQUIRE_ERROR(refused, errc::invalid_state);
    CHECK_THAT(refused.error().message, Catch::Contains("edit flow 'edited': the flow is running; stop it first"));
    auto stopped = co_await engine.stop("edited");
    REQUIRE_OK(stopped);

    // A client that sends its own state, times and author: all kept as stored.
    auto client = *stopped;
    client.name = "renamed";
    client.state = runtime_state::not_deployed;
    client.deployed_at.reset();
    client.created_at = flowstore::timestamp::from_unix(0, 0);
    client.created_by = "mallory";
    client.revision = 0;
    auto saved = co_await engine.edit(client);
    REQUIRE_OK(saved);
    CHECK(saved->name == "renamed");
    CHECK(saved->state == runtime_state::deployed_stopped);
    CHECK(saved->deployed_at == stopped->deployed_at);
    CHECK(saved->created_at == stopped->created_at);
    CHECK(saved->created_by == stopped->created_by);
    CHECK(saved->version == stopped->version + 1);

    // A stale copy conflicts: the check and the write are one compare-and-set.
    auto stale = co_await engine.edit(*stopped);
    REQUIRE_ERROR(stale, errc::conflict);

    // remove() refuses a deployed flow.
    auto deployed_remove = co_await engine.remove("edited");
    REQUIRE_ERROR(deployed_remove, errc::invalid_state);
    CHECK_THAT(deployed_remove.error().message, Catch::Contains("undeploy it first"));
  });
}

TEST_CASE("engine: a deploy, start or undeploy killed between writes converges when retried and leaves no "
          "component no flow owns",
          "[engine]") {
  nats_server server;
  run_async(
      [&](asio::io_context&) -> asio::awaitable<void> {
        auto conn = co_await connect_to(server);
        auto s = co_await open_store(conn);
        auto engine = co_await open_engine(s);
        auto created = co_await s.create(udp_flow("killed", 40, "k"));
        REQUIRE_OK(created);
        auto step7 = co_await s.create(udp_flow("abandoned", 10, "a"));
        REQUIRE_OK(step7);
        config_reader config(server);
        auto probe = [&](const char* id, const char* op, int die_after) {
          child_process child(FLOWSTORE_ENGINE_PROBE, {server.url(), id, op, std::to_string(die_after)});
          const auto r = child.finish(60s);
          INFO(op << ": exit " << r.exit_code << "; " << r.out << r.err);
          CHECK(r.exit_code == -1);  // killed by its own SIGKILL
        };
        auto owned_count = [&](const char* id) -> asio::awaitable<std::size_t> {
          auto owned = co_await engine.components(id);
          REQUIRE_OK(owned);
          co_return owned->size();
        };

        probe("killed", "deploy", 15);
        auto after_kill = co_await s.get("killed");
        REQUIRE_OK(after_kill);
        CHECK(after_kill->state == runtime_state::not_deployed);
        CHECK(config.component_keys().size() == 15);
        const std::size_t owned_after_kill = co_await owned_count("killed");
        CHECK(owned_after_kill == 15);
        auto deployed = co_await engine.deploy("killed");
        REQUIRE_OK(deployed);
        CHECK(deployed->state == runtime_state::deployed_stopped);
        CHECK(config.component_keys().size() == 40);
        const std::size_t owned_after_retry = co_await owned_count("killed");
        CHECK(owned_after_retry == 40);

        probe("killed", "start", 10);
        auto half_started = co_await s.get("killed");
        REQUIRE_OK(half_started);
        CHECK(half_started->state == runtime_state::deployed_stopped);
        auto started = co_await engine.start("killed");
        REQUIRE_OK(started);
        for (std::size_t i = 0; i < 40; ++i) {
          CHECK(config.value("components.k-" + std::to_string(i)) == expected_bytes(*created, i, true));
        }
        auto step8 = co_await engine.stop("killed");
        REQUIRE_OK(step8);

        probe("killed", "undeploy", 25);
        auto half_undeployed = co_await s.get("killed");
        REQUIRE_OK(half_undeployed);
        CHECK(half_undeployed->state == runtime_state::deployed_stopped);
        CHECK(config.component_keys().size() == 15);
        auto undeployed = co_await engine.undeploy("killed");
        REQUIRE_OK(undeployed);
        CHECK(config.component_keys().empty());

        // A deploy killed and never retried: remove() takes its keys with it.
        probe("abandoned", "deploy", 4);
        CHECK(config.component_keys().size() == 4);
        auto step9 = co_await engine.remove("abandoned");
        REQUIRE_OK(step9);
        CHECK(config.component_keys().empty());
        auto gone = co_await s.get("abandoned");
        CHECK_ERROR(gone, errc::not_found);
      },
      120s);
}

TEST_CASE("engine: an edit from a copy read before deploy, start and stop applies; after a content change it "
          "conflicts",
          "[engine]") {
  nats_server server;
  run_async([&](asio::io_context&) -> asio::awaitable<void> {
    auto conn = co_await connect_to(server);
    auto s = co_await open_store(conn);
    auto engine = co_await open_engine(s);
    // Longer than a short string's inline buffer: an error message naming it must not outlive it.
    const std::string id = "a-flow-id-longer-than-sixteen-bytes";
    auto created = co_await s.create(udp_flow(id, 1, "r"));
    REQUIRE_OK(created);
    // The flow-builder UI keeps the version it read and takes only the state from a deploy.
    for (auto step : {&flowstore::engine::deploy, &flowstore::engine::start, &flowstore::engine::stop}) {
      auto done = co_await (engine.*step)(id);
      REQUIRE_OK(done);
    }
    auto client = *created;
    client.name = "renamed by a client holding version 1";
    auto saved = co_await engine.edit(client);
    REQUIRE_OK(saved);
    CHECK(saved->version == 5);
    CHECK(saved->name == client.name);
    CHECK(saved->state == runtime_state::deployed_stopped);

    // Version 1's content is no longer the flow's: the same copy now conflicts.
    client.name = "a second edit from version 1";
    auto stale = co_await engine.edit(client);
    REQUIRE_ERROR(stale, errc::conflict);
    auto now = co_await s.get(id);
    REQUIRE_OK(now);
    CHECK(now->name == "renamed by a client holding version 1");
    CHECK(now->version == 5);
  });
}

TEST_CASE("engine: an operation made by an engine object runs after it is gone", "[engine]") {
  nats_server server;
  run_async([&](asio::io_context&) -> asio::awaitable<void> {
    auto conn = co_await connect_to(server);
    auto s = co_await open_store(conn);
    auto created = co_await s.create(udp_flow("outlived", 1, "o"));
    REQUIRE_OK(created);
    // On the heap and freed before the operation runs: a use after free under AddressSanitizer
    // if the operation still used the engine object.
    auto engine = std::make_unique<flowstore::engine>(co_await open_engine(s));
    auto deploy = engine->deploy("outlived");
    engine.reset();
    auto deployed = co_await std::move(deploy);
    REQUIRE_OK(deployed);
    CHECK(deployed->state == runtime_state::deployed_stopped);
    engine = std::make_unique<flowstore::engine>(co_await open_engine(s));
    auto components = engine->components("outlived");
    engine.reset();
    auto listed = co_await std::move(components);
    REQUIRE_OK(listed);
    CHECK(listed->size() == 1);
  });
}
