// flowstore-server's HTTP contract, route by route, against a real nats-server: status codes,
// content types and the JSON fields the flow-builder UI reads (semstreams-ui's
// src/lib/services and src/routes), the deploy lifecycle with the semstreams_config keys it
// writes and removes, the status WebSocket and the log stream, and a clean stop.
#include "server_fixture.hpp"
#include "ws_client.hpp"

#include <flowstore/catalog.hpp>
#include <flowstore/engine.hpp>
#include <flowstore/json.hpp>

#include "support/async.hpp"
#include "support/flowstore_client.hpp"

#include <boost/json/serialize.hpp>

#include <algorithm>
#include <set>
#include <string>
#include <vector>

namespace json = boost::json;
namespace asio = boost::asio;
using namespace flowstore::test;

namespace {

// A deployable flow as the UI saves it: one udp input (its unconnected output is a warning).
std::string udp_flow_json(const std::string& id, const std::string& node_name) {
  return R"({"id":")" + id + R"(","name":"Flow )" + id +
         R"(","runtime_state":"not_deployed","nodes":[{"id":"n1","component":"udp","type":"input","name":")" +
         node_name + R"(","position":{"x":100,"y":100},"config":{"port":14550}}],"connections":[]})";
}

void require_json(const http_reply& r) { CHECK(r.header("content-type") == "application/json"); }

void require_error(const http_reply& r, unsigned status, std::string_view contains = {}) {
  INFO("body: " << r.body);
  REQUIRE(r.status == status);
  require_json(r);
  const json::value v = r.json();
  REQUIRE(v.is_object());
  REQUIRE(v.as_object().contains("error"));
  CHECK_THAT(std::string(v.at("error").as_string()), Catch::Contains(std::string(contains)));
}

// The keys the fields of a Flow document the UI reads.
void require_flow_fields(const json::object& f) {
  for (const char* field : {"id", "name", "version", "nodes", "connections", "runtime_state", "created_at",
                            "updated_at", "last_modified"}) {
    INFO(field);
    CHECK(f.contains(field));
  }
}

std::vector<std::string> config_keys(const nats_server& nats) {
  raw_client raw = raw_connect(nats.url(), "semstreams_config");
  kvKeysList list{};
  const natsStatus s = kvStore_Keys(&list, raw.kv.get(), nullptr);
  std::vector<std::string> keys;
  if (s == NATS_NOT_FOUND) return keys;
  REQUIRE_NATS_OK(s);
  for (int i = 0; i < list.Count; ++i) keys.emplace_back(list.Keys[i]);
  kvKeysList_Destroy(&list);
  std::sort(keys.begin(), keys.end());
  return keys;
}

std::string config_value(const nats_server& nats, const std::string& key) {
  raw_client raw = raw_connect(nats.url(), "semstreams_config");
  return raw_get(raw.kv.get(), key).first;
}

}  // namespace

TEST_CASE("server: /health and /components/types answer in semstreams' shapes", "[server]") {
  nats_server nats;
  server_process server(nats);

  const auto health = server.call("GET", "/health");
  REQUIRE(health.status == 200);
  require_json(health);
  const json::object h = health.json().as_object();
  CHECK(h.at("component").as_string() == "system");
  CHECK(h.at("status").as_string() == "healthy");
  CHECK(h.at("healthy").as_bool());
  CHECK(h.contains("message"));
  CHECK(h.contains("timestamp"));
  std::set<std::string> subs;
  for (const auto& sub : h.at("sub_statuses").as_array()) subs.emplace(sub.at("component").as_string());
  CHECK(subs == std::set<std::string>{"flow-builder", "nats"});

  const auto types = server.call("GET", "/components/types");
  REQUIRE(types.status == 200);
  require_json(types);
  const json::array list = types.json().as_array();
  CHECK(list.size() == flowstore::component_catalog::standard().components().size());
  std::set<std::string> ids;
  for (const auto& entry : list) {
    const auto& t = entry.as_object();
    for (const char* field : {"id", "name", "type", "category", "protocol", "description", "version", "schema"}) {
      INFO(field);
      CHECK(t.contains(field));
    }
    CHECK(t.at("type") == t.at("category"));
    // The UI's schema form calls schema.required.includes(): it must be an array.
    CHECK(t.at("schema").at("required").is_array());
    CHECK(t.at("schema").at("properties").is_object());
    ids.emplace(t.at("id").as_string());
  }
  CHECK(ids.count("udp") == 1);
  CHECK(ids.count("json_filter") == 1);

  const auto udp = server.call("GET", "/components/types/udp");
  REQUIRE(udp.status == 200);
  require_json(udp);
  CHECK(udp.json().at("id").as_string() == "udp");
  CHECK(udp.json().at("category").as_string() == "input");
  require_error(server.call("GET", "/components/types/no-such-thing"), 404, "Component type no-such-thing not found");

  require_error(server.call("POST", "/health"), 405);
  CHECK(server.call("POST", "/health").header("allow") == "GET, HEAD");
  require_error(server.call("GET", "/nothing/here"), 404);
  const auto head = server.call("HEAD", "/health");
  CHECK(head.status == 200);
  CHECK(head.body.empty());
}

TEST_CASE("server: flows are created, listed, read, edited and deleted with Go's shapes and the right codes",
          "[server]") {
  nats_server nats;
  server_process server(nats);

  // What the UI's "Create New Flow" sends: a name and a description only.
  const auto created = server.call("POST", "/flowbuilder/flows",
                                   R"({"name":"Flow 2026-12-07","description":"New flow created from UI"})");
  REQUIRE(created.status == 201);
  require_json(created);
  const json::object flow = created.json().as_object();
  require_flow_fields(flow);
  const std::string id(flow.at("id").as_string());
  CHECK(id.size() == 36);  // a generated UUID
  CHECK(flow.at("version").as_int64() == 1);
  CHECK(flow.at("runtime_state").as_string() == "not_deployed");
  CHECK(flow.at("nodes").as_array().empty());

  const auto listed = server.call("GET", "/flowbuilder/flows");
  REQUIRE(listed.status == 200);
  require_json(listed);
  const json::array flows = listed.json().at("flows").as_array();
  REQUIRE(flows.size() == 1);
  CHECK(flows[0].at("id").as_string() == id);
  CHECK(flows[0].at("description").as_string() == "New flow created from UI");

  const auto got = server.call("GET", "/flowbuilder/flows/" + id);
  REQUIRE(got.status == 200);
  require_json(got);
  CHECK(got.json().at("name").as_string() == "Flow 2026-12-07");

  // A draft save: a node that is not configured yet is stored as it is.
  json::object edit = got.json().as_object();
  edit["name"] = "Edited";
  edit["nodes"] = json::parse(
      R"([{"id":"n1","component":"json_filter","type":"processor","name":"filter","position":{"x":1,"y":2},"config":{}}])");
  // The client cannot rewrite the store's audit fields nor the lifecycle.
  edit["created_at"] = "2001-01-01T00:00:00Z";
  edit["created_by"] = "mallory";
  edit["runtime_state"] = "running";
  const auto saved = server.call("PUT", "/flowbuilder/flows/" + id, json::serialize(edit));
  REQUIRE(saved.status == 200);
  require_json(saved);
  const json::object s = saved.json().as_object();
  CHECK(s.at("version").as_int64() == 2);
  CHECK(s.at("name").as_string() == "Edited");
  CHECK(s.at("nodes").as_array().size() == 1);
  CHECK(s.at("created_at") == flow.at("created_at"));
  CHECK_FALSE(s.contains("created_by"));
  CHECK(s.at("runtime_state").as_string() == "not_deployed");

  // The same stale copy again: its version's content is gone.
  require_error(server.call("PUT", "/flowbuilder/flows/" + id, json::serialize(edit)), 409, "conflict");
  edit["id"] = "another-id";
  require_error(server.call("PUT", "/flowbuilder/flows/" + id, json::serialize(edit)), 400, "ID mismatch");
  require_error(server.call("PUT", "/flowbuilder/flows/missing", R"({"id":"missing","name":"x","version":1})"), 404);
  require_error(server.call("PUT", "/flowbuilder/flows/" + id, "{not json"), 400, "Invalid request body");

  // Creating an id that exists is a conflict, not Go's 500; bodies that are not flows are 400.
  const std::string again = R"({"id":")" + id + R"(","name":"again"})";
  require_error(server.call("POST", "/flowbuilder/flows", again), 409, "a flow with this id exists");
  require_error(server.call("POST", "/flowbuilder/flows", ""), 400, "Invalid request body");
  require_error(server.call("POST", "/flowbuilder/flows", "[1,2]"), 400, "Invalid request body");
  require_error(server.call("POST", "/flowbuilder/flows", R"({"id":"has space","name":"x"})"), 400);
  require_error(server.call("POST", "/flowbuilder/flows", R"({"id":"x/validate","name":"x"})"), 400, "'/'");
  // A new flow is not deployed, whatever the body says.
  const auto stated = server.call("POST", "/flowbuilder/flows", R"({"id":"stated","name":"s","runtime_state":"running"})");
  REQUIRE(stated.status == 201);
  CHECK(stated.json().at("runtime_state").as_string() == "not_deployed");

  const auto removed = server.call("DELETE", "/flowbuilder/flows/" + id);
  CHECK(removed.status == 204);
  CHECK(removed.body.empty());
  require_error(server.call("GET", "/flowbuilder/flows/" + id), 404, "no such flow");
  require_error(server.call("DELETE", "/flowbuilder/flows/" + id), 404);
  require_error(server.call("PATCH", "/flowbuilder/flows/stated"), 405);
  CHECK(server.call("PATCH", "/flowbuilder/flows/stated").header("allow") == "GET, HEAD, PUT, DELETE");
}

TEST_CASE("server: stored documents are sent as stored, and one that is not JSON is left out of the list",
          "[server]") {
  nats_server nats;
  server_process server(nats);
  // Written by another client in its own spelling: spacing, a number as 1.0e2, an unknown field.
  const std::string foreign =
      R"({ "id":"foreign", "name":"By hand", "version":1, "nodes":[], "connections":null,)"
      R"( "runtime_state":"not_deployed", "extra":{"weight":1.0e2} })";
  {
    raw_client raw = raw_connect(nats.url(), "semstreams_flows");
    raw_put(raw.kv.get(), "foreign", foreign);
    raw_put(raw.kv.get(), "broken", "this is not JSON");
  }
  const auto got = server.call("GET", "/flowbuilder/flows/foreign");
  REQUIRE(got.status == 200);
  require_json(got);
  CHECK(got.body == foreign + "\n");  // the newline Go's encoder ends every response with

  const auto listed = server.call("GET", "/flowbuilder/flows");
  REQUIRE(listed.status == 200);
  CHECK(listed.body == "{\"flows\":[" + foreign + "]}\n");

  require_error(server.call("GET", "/flowbuilder/flows/broken"), 502, "get flow 'broken' (revision ");
}

TEST_CASE("server: ids that look like routes are flows like any other", "[server]") {
  nats_server nats;
  server_process server(nats);
  // "events" was a route of the old example; "validate" and "runtime" are route words.
  for (const std::string id : {"events", "validate", "runtime", "status"}) {
    INFO(id);
    REQUIRE(server.call("POST", "/flowbuilder/flows", R"({"id":")" + id + R"(","name":"n"})").status == 201);
    const auto got = server.call("GET", "/flowbuilder/flows/" + id);
    REQUIRE(got.status == 200);
    CHECK(got.json().at("id").as_string() == id);
    CHECK(server.call("POST", "/flowbuilder/flows/" + id + "/validate").status == 200);
    CHECK(server.call("DELETE", "/flowbuilder/flows/" + id).status == 204);
  }
  // A flow stored with a '/' in its id (by the library or the Go package) is one escaped segment.
  run_async([&](asio::io_context&) -> asio::awaitable<void> {
    auto conn = co_await connect_to(nats);
    auto store = co_await open_store(conn);
    flowstore::flow f;
    f.id = "x/validate";
    f.name = "slashed";
    auto created = co_await store.create(f);
    REQUIRE_OK(created);
    co_await conn.close();
  });
  const auto got = server.call("GET", "/flowbuilder/flows/x%2Fvalidate");
  REQUIRE(got.status == 200);
  CHECK(got.json().at("name").as_string() == "slashed");
  CHECK(server.call("POST", "/flowbuilder/flows/x%2Fvalidate/validate").status == 200);
  CHECK(server.call("GET", "/flowbuilder/flows/x/validate").status == 405);  // the route, for flow "x"
  CHECK(server.call("DELETE", "/flowbuilder/flows/x%2Fvalidate").status == 204);
  require_error(server.call("GET", "/flowbuilder/flows/bad%zzescape"), 400, "percent");
}

TEST_CASE("server: validate answers semstreams' ValidationResult for a draft or the stored flow", "[server]") {
  nats_server nats;
  server_process server(nats);
  REQUIRE(server.call("POST", "/flowbuilder/flows", udp_flow_json("v", "udp-in")).status == 201);

  // The stored flow (empty body).
  const auto stored = server.call("POST", "/flowbuilder/flows/v/validate");
  REQUIRE(stored.status == 200);
  require_json(stored);
  const json::object r = stored.json().as_object();
  CHECK(r.at("validation_status").as_string() == "warnings");
  CHECK(r.at("errors").as_array().empty());
  CHECK_FALSE(r.at("warnings").as_array().empty());
  const auto& node = r.at("nodes").as_array().at(0).as_object();
  CHECK(node.at("id").as_string() == "n1");
  CHECK(node.at("input_ports").as_array().size() == 1);
  CHECK(node.at("output_ports").as_array().size() == 1);
  CHECK(node.at("output_ports").as_array()[0].at("name").as_string() == "nats_output");
  CHECK(r.at("discovered_connections").is_array());

  // A draft from the editor, as the UI sends it: udp → json_filter, joined by their subjects.
  const std::string draft =
      R"({"id":"v","name":"draft","runtime_state":"not_deployed","nodes":[)"
      R"({"id":"a","component":"udp","type":"input","name":"in","position":{"x":0,"y":0},"config":{"port":1234,"ports":{"outputs":[{"name":"out","type":"nats","subject":"raw.udp"}]}}},)"
      R"({"id":"b","component":"json_filter","type":"processor","name":"filter","position":{"x":0,"y":0},"config":{}}],"connections":[]})";
  const auto checked = server.call("POST", "/flowbuilder/flows/v/validate", draft);
  REQUIRE(checked.status == 200);
  const json::object d = checked.json().as_object();
  const auto& discovered = d.at("discovered_connections").as_array();
  REQUIRE(discovered.size() == 1);
  CHECK(discovered[0].at("source_node_id").as_string() == "a");
  CHECK(discovered[0].at("target_node_id").as_string() == "b");
  CHECK(discovered[0].at("target_port").as_string() == "nats_input");
  // The UI saves that edge as a connection and redraws its edges from discovered_connections
  // alone: a drawn connection is still discovered.
  json::value drawn = json::parse(draft);
  drawn.as_object()["connections"] = json::parse(
      R"([{"id":"auto_a_out_b_nats_input","source_node_id":"a","source_port":"out","target_node_id":"b","target_port":"nats_input"}])");
  const auto redrawn = server.call("POST", "/flowbuilder/flows/v/validate", json::serialize(drawn));
  REQUIRE(redrawn.status == 200);
  CHECK(redrawn.json().at("discovered_connections").as_array().size() == 1);

  // An empty flow is an error, and a node of an unknown component.
  const auto empty = server.call("POST", "/flowbuilder/flows/v/validate", R"({"name":"e","runtime_state":"not_deployed"})");
  REQUIRE(empty.status == 200);
  CHECK(empty.json().at("validation_status").as_string() == "errors");
  CHECK(empty.json().at("errors").as_array()[0].at("type").as_string() == "empty_flow");

  require_error(server.call("POST", "/flowbuilder/flows/v/validate", R"({"id":"other","name":"x"})"), 400,
                "Flow ID mismatch");
  require_error(server.call("POST", "/flowbuilder/flows/v/validate", "{"), 400, "Invalid JSON");
  require_error(server.call("POST", "/flowbuilder/flows/missing/validate"), 404, "Flow not found");
  require_error(server.call("GET", "/flowbuilder/flows/v/validate"), 405);
}

TEST_CASE("server: deploy, start, stop and undeploy write semstreams_config, refuse what the state forbids and "
          "report the runtime from it",
          "[server]") {
  nats_server nats;
  server_process server(nats);
  REQUIRE(server.call("POST", "/flowbuilder/flows", udp_flow_json("life", "udp in")).status == 201);
  // A flow that cannot be deployed: validation_result beside the error, nothing written.
  REQUIRE(server.call("POST", "/flowbuilder/flows", R"({"id":"empty","name":"empty"})").status == 201);
  const auto refused = server.call("POST", "/flowbuilder/deployment/empty/deploy");
  REQUIRE(refused.status == 400);
  CHECK(refused.json().at("error").as_string() == "Flow validation failed");
  CHECK(refused.json().at("validation_result").at("validation_status").as_string() == "errors");

  require_error(server.call("POST", "/flowbuilder/deployment/life/start"), 409, "not_deployed");
  require_error(server.call("POST", "/flowbuilder/deployment/life/launch"), 400, "Unknown operation");
  require_error(server.call("POST", "/flowbuilder/deployment/missing/deploy"), 404);
  require_error(server.call("GET", "/flowbuilder/deployment/life/deploy"), 405);

  const auto deployed = server.call("POST", "/flowbuilder/deployment/life/deploy");
  REQUIRE(deployed.status == 200);
  require_json(deployed);
  CHECK(deployed.json().at("runtime_state").as_string() == "deployed_stopped");
  CHECK(deployed.json().as_object().contains("deployed_at"));
  // The node's name made key-safe as semstreams does: spaces become underscores.
  CHECK(config_keys(nats) == std::vector<std::string>{"components.udp_in"});
  CHECK(config_value(nats, "components.udp_in") ==
        R"({"type":"input","name":"udp","enabled":false,"config":{"port":14550}})");

  const auto started = server.call("POST", "/flowbuilder/deployment/life/start");
  REQUIRE(started.status == 200);
  CHECK(started.json().at("runtime_state").as_string() == "running");
  CHECK(config_value(nats, "components.udp_in") ==
        R"({"type":"input","name":"udp","enabled":true,"config":{"port":14550}})");
  require_error(server.call("PUT", "/flowbuilder/flows/life", udp_flow_json("life", "renamed")), 409,
                "Cannot modify running flow");
  require_error(server.call("DELETE", "/flowbuilder/flows/life"), 409, "undeploy it first");

  const auto health = server.call("GET", "/flowbuilder/flows/life/runtime/health");
  REQUIRE(health.status == 200);
  const json::object h = health.json().as_object();
  CHECK(h.at("overall").at("status").as_string() == "healthy");
  CHECK(h.at("overall").at("running_count").as_int64() == 1);
  const auto& component = h.at("components").as_array().at(0).as_object();
  CHECK(component.at("name").as_string() == "udp in");
  CHECK(component.at("type").as_string() == "udp");
  CHECK(component.at("status").as_string() == "running");
  CHECK(component.at("healthy").as_bool());
  const auto metrics = server.call("GET", "/flowbuilder/flows/life/runtime/metrics");
  REQUIRE(metrics.status == 200);
  CHECK(metrics.json().at("prometheus_available").as_bool() == false);
  CHECK(metrics.json().at("components").as_array().at(0).at("throughput").is_null());
  const auto messages = server.call("GET", "/flowbuilder/flows/life/runtime/messages?limit=5000");
  REQUIRE(messages.status == 200);
  CHECK(messages.json().at("limit").as_int64() == 1000);
  CHECK(messages.json().at("messages").as_array().empty());
  CHECK(messages.json().at("total").as_int64() == 0);
  require_error(server.call("GET", "/flowbuilder/flows/missing/runtime/health"), 404, "Flow not found");

  const auto stopped = server.call("POST", "/flowbuilder/deployment/life/stop");
  REQUIRE(stopped.status == 200);
  CHECK(stopped.json().at("runtime_state").as_string() == "deployed_stopped");
  CHECK(config_value(nats, "components.udp_in") ==
        R"({"type":"input","name":"udp","enabled":false,"config":{"port":14550}})");
  // The UI kept version 1 across deploy, start and stop: its save still applies.
  const auto edited = server.call("PUT", "/flowbuilder/flows/life", udp_flow_json("life", "udp in").insert(1, R"("version":1,)"));
  REQUIRE(edited.status == 200);
  CHECK(edited.json().at("version").as_int64() == 5);
  CHECK(edited.json().at("runtime_state").as_string() == "deployed_stopped");

  const auto undeployed = server.call("POST", "/flowbuilder/deployment/life/undeploy");
  REQUIRE(undeployed.status == 200);
  CHECK(undeployed.json().at("runtime_state").as_string() == "not_deployed");
  CHECK(config_keys(nats).empty());
  CHECK(server.call("DELETE", "/flowbuilder/flows/life").status == 204);

  const std::string log = server.stop().err;
  CHECK_THAT(log, Catch::Contains("flow 'life': not_deployed -> deployed_stopped"));
  CHECK_THAT(log, Catch::Contains("flow 'life': deployed_stopped -> running"));
  CHECK_THAT(log, Catch::Contains("POST /flowbuilder/deployment/life/deploy 200 "));
  CHECK_THAT(log, Catch::Contains("GET /flowbuilder/flows/life/runtime/health 200 "));
}

TEST_CASE("server: the status WebSocket answers the UI's subscribe and pushes the flow's state changes", "[server]") {
  nats_server nats;
  server_process server(nats);
  REQUIRE(server.call("POST", "/flowbuilder/flows", udp_flow_json("watched", "w")).status == 201);

  require_error(server.call("GET", "/flowbuilder/status/stream?flowId=watched"), 426, "WebSocket");
  const std::string upgrade =
      "Upgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
      "Sec-WebSocket-Version: 13\r\n";
  const auto missing = raw_exchange(server.port(), "GET /flowbuilder/status/stream HTTP/1.1\r\nHost: x\r\n" + upgrade + "\r\n");
  CHECK(missing.status == 400);
  const auto unknown =
      raw_exchange(server.port(), "GET /flowbuilder/status/stream?flowId=nope HTTP/1.1\r\nHost: x\r\n" + upgrade + "\r\n");
  CHECK(unknown.status == 404);

  run_async([&](asio::io_context&) -> asio::awaitable<void> {
    auto ws = co_await ws_connect(server.port(), "/flowbuilder/status/stream?flowId=watched");
    // What runtimeWebSocket.ts sends once it is open.
    co_await ws.async_write(
        asio::buffer(std::string(
            R"({"command":"subscribe","message_types":["flow_status","component_health","component_metrics","log_entry"]})")),
        asio::use_awaitable);
    // The current state first, then the ack (in either order).
    std::optional<json::object> ack;
    std::optional<json::object> current;
    while (!ack || !current) {
      auto message = co_await ws_next(ws);
      REQUIRE(message);
      if (message->at("type").as_string() == "subscribe_ack") ack = message;
      if (message->at("type").as_string() == "flow_status") current = message;
    }
    CHECK(ack->at("subscribed").as_array().size() == 4);
    // The UI drops a message without an id and a timestamp; the answer has both.
    CHECK(ack->at("id").as_string().size() == 16);
    CHECK(ack->at("timestamp").is_int64());
    // The envelope the UI requires: type, id and timestamp (ms), flow_id and a payload.
    CHECK(current->at("id").as_string().size() == 16);
    CHECK(current->at("timestamp").as_int64() > 1'700'000'000'000);
    CHECK(current->at("flow_id").as_string() == "watched");
    CHECK(current->at("payload").at("state").as_string() == "not_deployed");

    REQUIRE(server.call("POST", "/flowbuilder/deployment/watched/deploy").status == 200);
    auto deployed = co_await ws_next_of(ws, "flow_status");
    REQUIRE(deployed);
    CHECK(deployed->at("payload").at("state").as_string() == "deployed_stopped");
    CHECK(deployed->at("payload").at("prev_state").as_string() == "not_deployed");
    CHECK(deployed->at("payload").at("timestamp").is_int64());
    auto logged = co_await ws_next_of(ws, "log_entry");
    REQUIRE(logged);
    CHECK(logged->at("payload").at("message").as_string() == "Flow deployed");
    CHECK(logged->at("payload").at("level").as_string() == "INFO");
    CHECK(logged->at("payload").at("source").as_string() == "flowstore-server");

    REQUIRE(server.call("POST", "/flowbuilder/deployment/watched/start").status == 200);
    auto started = co_await ws_next_of(ws, "flow_status");
    REQUIRE(started);
    CHECK(started->at("payload").at("state").as_string() == "running");
    CHECK(started->at("payload").at("prev_state").as_string() == "deployed_stopped");

    // Only what was asked for, from now on; and answers to what is not a command.
    co_await ws.async_write(asio::buffer(std::string(R"({"command":"subscribe","message_types":["log_entry"]})")),
                            asio::use_awaitable);
    auto narrowed = co_await ws_next_of(ws, "subscribe_ack");
    REQUIRE(narrowed);
    co_await ws.async_write(asio::buffer(std::string("not json")), asio::use_awaitable);
    auto bad = co_await ws_next_of(ws, "error");
    REQUIRE(bad);
    CHECK(bad->at("code").as_string() == "invalid_json");
    REQUIRE(server.call("POST", "/flowbuilder/deployment/watched/stop").status == 200);
    auto next = co_await ws_next(ws);
    REQUIRE(next);
    CHECK(next->at("type").as_string() == "log_entry");
    CHECK(next->at("payload").at("message").as_string() == "Flow stopped");
    co_await ws.async_close(websocket::close_code::normal, asio::use_awaitable);
  });
}

TEST_CASE("server: the runtime log is a stream of Server-Sent Events of the flow's lifecycle", "[server]") {
  nats_server nats;
  server_process server(nats);
  REQUIRE(server.call("POST", "/flowbuilder/flows", udp_flow_json("logged", "l")).status == 201);
  require_error(server.call("GET", "/flowbuilder/flows/logged/runtime/logs?level=LOUD"), 400, "invalid level filter");
  require_error(server.call("GET", "/flowbuilder/flows/nope/runtime/logs"), 404);

  client_socket s(server.port());
  REQUIRE(s.send_all("GET /flowbuilder/flows/logged/runtime/logs?level=info HTTP/1.1\r\nHost: x\r\n\r\n"));
  std::string received;
  s.receive_until(received, std::chrono::steady_clock::now() + std::chrono::seconds(10),
                  [](const std::string& r) { return r.find("retry: 5000\n\n") != std::string::npos; });
  CHECK_THAT(received, Catch::StartsWith("HTTP/1.1 200 OK\r\n"));
  CHECK_THAT(received, Catch::Contains("Content-Type: text/event-stream\r\n"));
  CHECK_THAT(received, Catch::Contains("event: connected\nid: 1\ndata: {\"component_filter\":\"\",\"flow_id\":\"logged\","
                                       "\"level_filter\":\"INFO\"}\n\n"));
  REQUIRE(server.call("POST", "/flowbuilder/deployment/logged/deploy").status == 200);
  s.receive_until(received, std::chrono::steady_clock::now() + std::chrono::seconds(10),
                  [](const std::string& r) { return r.find("Flow deployed") != std::string::npos; });
  CHECK_THAT(received, Catch::Contains("event: log\nid: 2\ndata: {\"timestamp\":\""));
  CHECK_THAT(received, Catch::Contains("\"level\":\"INFO\",\"component\":\"flowstore-server\",\"flow_id\":\"logged\","
                                       "\"message\":\"Flow deployed\"}\n\n"));
}

TEST_CASE("server: SIGTERM lets requests finish, closes the streams and exits 0", "[server]") {
  nats_server nats;
  server_process server(nats);
  REQUIRE(server.call("POST", "/flowbuilder/flows", udp_flow_json("stopping", "s")).status == 201);
  client_socket sse(server.port());
  REQUIRE(sse.send_all("GET /flowbuilder/flows/stopping/runtime/logs HTTP/1.1\r\nHost: x\r\n\r\n"));
  std::string events;
  sse.receive_until(events, std::chrono::steady_clock::now() + std::chrono::seconds(10),
                    [](const std::string& r) { return r.find("retry:") != std::string::npos; });
  // A kept-alive connection between requests, and one in the middle of sending a request.
  client_socket idle(server.port());
  REQUIRE(idle.send_all("GET /health HTTP/1.1\r\nHost: x\r\n\r\n"));
  std::string first;
  idle.receive_until(first, std::chrono::steady_clock::now() + std::chrono::seconds(10),
                     [](const std::string& r) { return r.find("\r\n\r\n{") != std::string::npos && r.back() == '\n'; });
  REQUIRE_THAT(first, Catch::StartsWith("HTTP/1.1 200"));
  // A request whose headers the server has read (it said 100 Continue) and whose body is still coming.
  const std::string body = R"({"id":"late","name":"finished after the signal"})";
  client_socket partial(server.port());
  REQUIRE(partial.send_all("POST /flowbuilder/flows HTTP/1.1\r\nHost: x\r\nExpect: 100-continue\r\nContent-Length: " +
                           std::to_string(body.size()) + "\r\n\r\n"));
  std::string go_on;
  partial.receive_until(go_on, std::chrono::steady_clock::now() + std::chrono::seconds(10),
                        [](const std::string& r) { return r.find("\r\n\r\n") != std::string::npos; });
  REQUIRE(go_on == "HTTP/1.1 100 Continue\r\n\r\n");
  REQUIRE(partial.send_all(body.substr(0, 13)));

  server.signal(SIGTERM);
  // The request in the middle finishes and is answered, then its connection closes.
  REQUIRE(partial.send_all(body.substr(13)));
  std::string answer;
  CHECK_FALSE(partial.receive_until(answer, std::chrono::steady_clock::now() + std::chrono::seconds(20),
                                    [](const std::string&) { return false; }));
  CHECK_THAT(answer, Catch::StartsWith("HTTP/1.1 201"));
  CHECK_THAT(answer, Catch::Contains("Connection: close"));
  // The stream and the idle connection are closed.
  CHECK_FALSE(sse.receive_until(events, std::chrono::steady_clock::now() + std::chrono::seconds(20),
                                [](const std::string&) { return false; }));
  std::string rest;
  CHECK_FALSE(idle.receive_until(rest, std::chrono::steady_clock::now() + std::chrono::seconds(20),
                                 [](const std::string&) { return false; }));
  const run_result stopped = server.stop(SIGTERM);
  INFO(stopped.err);
  CHECK(stopped.exit_code == 0);
  CHECK_THAT(stopped.err, Catch::Contains("stopping on SIGTERM"));
  CHECK_THAT(stopped.err, Catch::Contains("POST /flowbuilder/flows 201"));
  CHECK_THAT(stopped.err, Catch::EndsWith("stopped\n"));
}

TEST_CASE("server: the command line: --help, usage errors exit 1, an unreachable NATS exits 3", "[server]") {
  auto run = [](std::vector<std::string> args) {
    child_process p(FLOWSTORE_SERVER, args);
    return p.finish(std::chrono::seconds(60));
  };
  const auto help = run({"--help"});
  CHECK(help.exit_code == 0);
  CHECK_THAT(help.out, Catch::Contains("--listen") && Catch::Contains("--catalog") && Catch::Contains("--nats") &&
                           Catch::Contains("Exit codes:"));
  for (const std::vector<std::string>& args :
       {std::vector<std::string>{"--listen", "127.0.0.1:http"}, {"--listen", "127.0.0.1:70000"}, {"--listen", ":8080"},
        {"--catalog", "/nonexistent.json"}, {"--catalog", "/tmp"}, {"--frobnicate"}, {"--nkey-public", "UABC"},
        {"--config-bucket", "no spaces"}}) {
    const auto r = run(args);
    INFO(args[0] << " " << (args.size() > 1 ? args[1] : "") << ": " << r.err);
    CHECK(r.exit_code == 1);
    CHECK_FALSE(r.err.empty());
  }
  // Nothing listens on port 1.
  const auto unreachable = run({"--nats", "nats://127.0.0.1:1", "--timeout", "500ms", "--listen", "127.0.0.1:0"});
  CHECK(unreachable.exit_code == 3);
  CHECK_THAT(unreachable.err, Catch::Contains("127.0.0.1:1"));

  // A catalog file replaces the standard components.
  temp_dir dir;
  const auto catalog = dir.path() / "catalog.json";
  std::ofstream(catalog) << R"([{"id":"only","name":"Only One","type":"processor","ports":[]}])";
  nats_server nats;
  server_process server(nats, {"--catalog", catalog.string()});
  const auto types = server.call("GET", "/components/types");
  REQUIRE(types.status == 200);
  REQUIRE(types.json().as_array().size() == 1);
  CHECK(types.json().as_array()[0].at("id").as_string() == "only");
}
