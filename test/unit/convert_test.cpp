#include <flowstore/convert.hpp>
#include <flowstore/flow.hpp>
#include <flowstore/json.hpp>

#include <boost/json.hpp>

#include <catch2/catch.hpp>

#include <limits>
#include <map>
#include <regex>
#include <string>
#include <vector>

using flowstore::component_config;
using flowstore::component_type;
using flowstore::errc;
using flowstore::flow;
using flowstore::flow_connection;
using flowstore::runtime_state;
using flowstore::timestamp;

namespace {

const std::regex uuid_v4("^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$");

component_config make_config(component_type type, std::string factory, boost::json::value config, bool enabled = true) {
  component_config c;
  c.type = type;
  c.name = std::move(factory);
  c.enabled = enabled;
  c.config = std::move(config);
  return c;
}

// Six components, inserted out of key order; "c-disabled" is disabled, so five become nodes.
std::map<std::string, component_config> six_components() {
  std::map<std::string, component_config> configs;
  configs.emplace("f-number", make_config(component_type::gateway, "http", 42));
  configs.emplace("a-udp",
                  make_config(component_type::input, "udp", boost::json::object{{"port", 14550}, {"bind", "0.0.0.0"}}));
  configs.emplace("e-string", make_config(component_type::storage, "objectstore", "x"));
  configs.emplace("c-disabled",
                  make_config(component_type::output, "nats", boost::json::object{{"subject", "s"}}, false));
  configs.emplace("b-graph", make_config(component_type::processor, "graph-processor", nullptr));
  configs.emplace("d-array", make_config(component_type::output, "file", boost::json::array{1, 2}));
  return configs;
}

flow_connection make_connection(std::string id, std::string from, std::string to) {
  flow_connection c;
  c.id = std::move(id);
  c.source_node_id = std::move(from);
  c.source_port = "out";
  c.target_node_id = std::move(to);
  c.target_port = "in";
  return c;
}

flow convert_ok(const std::map<std::string, component_config>& configs, std::string name = "static-config") {
  auto r = flowstore::from_component_configs(std::move(name), configs);
  if (!r) FAIL("from_component_configs failed: " << r.error().what());
  return std::move(r).value();
}

}  // namespace

TEST_CASE("disabled components are skipped and nodes follow key order", "[convert]") {
  const flow f = convert_ok(six_components());
  REQUIRE(f.nodes.size() == 5);
  const std::vector<std::string> keys = {"a-udp", "b-graph", "d-array", "e-string", "f-number"};
  for (std::size_t i = 0; i < keys.size(); ++i) {
    INFO("node " << i);
    CHECK(f.nodes[i].id == keys[i]);
    CHECK(f.nodes[i].name == keys[i]);
    CHECK(f.nodes[i].unrecognized_type.empty());
    CHECK(f.nodes[i].unknown_fields.empty());
  }
  for (const auto& n : f.nodes) CHECK(n.id != "c-disabled");
}

TEST_CASE("component is the factory name and type the category", "[convert]") {
  const flow f = convert_ok(six_components());
  REQUIRE(f.nodes.size() == 5);
  CHECK(f.nodes[0].component == "udp");
  CHECK(f.nodes[0].type == component_type::input);
  CHECK(f.nodes[1].component == "graph-processor");
  CHECK(f.nodes[1].type == component_type::processor);
  CHECK(f.nodes[2].component == "file");
  CHECK(f.nodes[2].type == component_type::output);
  CHECK(f.nodes[3].component == "objectstore");
  CHECK(f.nodes[3].type == component_type::storage);
  CHECK(f.nodes[4].component == "http");
  CHECK(f.nodes[4].type == component_type::gateway);
}

TEST_CASE("config: objects kept, null empty, anything else wrapped as raw JSON text", "[convert]") {
  const flow f = convert_ok(six_components());
  REQUIRE(f.nodes.size() == 5);

  const boost::json::object udp{{"port", 14550}, {"bind", "0.0.0.0"}};
  CHECK(f.nodes[0].config == udp);
  CHECK(f.nodes[1].config.empty());

  REQUIRE(f.nodes[2].config.size() == 1);
  REQUIRE(f.nodes[2].config.contains("raw"));
  REQUIRE(f.nodes[2].config.at("raw").is_string());
  CHECK(f.nodes[2].config.at("raw").get_string() == "[1,2]");

  REQUIRE(f.nodes[3].config.size() == 1);
  REQUIRE(f.nodes[3].config.at("raw").is_string());
  CHECK(f.nodes[3].config.at("raw").get_string() == "\"x\"");

  REQUIRE(f.nodes[4].config.size() == 1);
  REQUIRE(f.nodes[4].config.at("raw").is_string());
  CHECK(f.nodes[4].config.at("raw").get_string() == "42");
}

TEST_CASE("raw JSON text of other scalars and nested values", "[convert]") {
  std::map<std::string, component_config> configs;
  configs.emplace("a", make_config(component_type::input, "f", true));
  configs.emplace("b", make_config(component_type::input, "f", 1.5));
  configs.emplace("c", make_config(component_type::input, "f", boost::json::array{}));
  configs.emplace(
      "d", make_config(component_type::input, "f", boost::json::value_from(std::vector<std::string>{"<a>", "&"})));
  configs.emplace("e", make_config(component_type::input, "f", boost::json::object{}));
  const flow f = convert_ok(configs);
  REQUIRE(f.nodes.size() == 5);
  CHECK(f.nodes[0].config == boost::json::object{{"raw", "true"}});
  CHECK(f.nodes[1].config == boost::json::object{{"raw", "1.5"}});
  CHECK(f.nodes[2].config == boost::json::object{{"raw", "[]"}});
  // Go's encoding/json escapes <, > and & in the text it writes.
  CHECK(f.nodes[3].config == boost::json::object{{"raw", "[\"\\u003ca\\u003e\",\"\\u0026\"]"}});
  CHECK(f.nodes[4].config.empty());
}

TEST_CASE("a non-finite config cannot be wrapped and fails with encode_failed", "[convert]") {
  std::map<std::string, component_config> configs;
  configs.emplace("bad", make_config(component_type::input, "udp", std::numeric_limits<double>::infinity()));
  const auto r = flowstore::from_component_configs("static-config", configs);
  REQUIRE(r.has_error());
  CHECK(r.error() == errc::encode_failed);
  CHECK(r.error().message.rfind("convert component 'bad': ", 0) == 0);
}

TEST_CASE("nodes are laid out in a grid of four per row", "[convert]") {
  const flow f = convert_ok(six_components());
  REQUIRE(f.nodes.size() == 5);
  CHECK(f.nodes[0].pos == flowstore::position{50, 50});
  CHECK(f.nodes[1].pos == flowstore::position{350, 50});
  CHECK(f.nodes[2].pos == flowstore::position{650, 50});
  CHECK(f.nodes[3].pos == flowstore::position{950, 50});
  CHECK(f.nodes[4].pos.x == 50);
  CHECK(f.nodes[4].pos.y == 230);

  std::map<std::string, component_config> many;
  for (int i = 0; i < 10; ++i) {
    many.emplace("n" + std::to_string(i), make_config(component_type::processor, "p", nullptr));
  }
  const flow g = convert_ok(many);
  REQUIRE(g.nodes.size() == 10);
  for (std::size_t i = 0; i < g.nodes.size(); ++i) {
    INFO("node " << i);
    CHECK(g.nodes[i].id == "n" + std::to_string(i));
    CHECK(g.nodes[i].pos.x == 50.0 + static_cast<double>(i % 4) * 300.0);
    CHECK(g.nodes[i].pos.y == 50.0 + static_cast<double>(i / 4) * 180.0);
  }
  CHECK(g.nodes[9].pos == flowstore::position{350, 410});
}

TEST_CASE("the flow id is a fresh UUID v4", "[convert]") {
  const flow a = convert_ok(six_components());
  const flow b = convert_ok(six_components());
  INFO("ids: " << a.id << " " << b.id);
  CHECK(std::regex_match(a.id, uuid_v4));
  CHECK(std::regex_match(b.id, uuid_v4));
  CHECK(a.id != b.id);
  CHECK(flowstore::valid_flow_id(a.id));
}

TEST_CASE("flow metadata: name, description, state, version", "[convert]") {
  const flow f = convert_ok(six_components(), "edge-gateway");
  CHECK(f.name == "edge-gateway");
  CHECK(f.description == "Auto-generated from static configuration");
  CHECK(f.state == runtime_state::running);
  CHECK(f.unrecognized_state.empty());
  CHECK(f.version == 1);
  CHECK(f.connections.empty());
  CHECK(f.created_by.empty());
  CHECK(f.unknown_fields.empty());
  CHECK(f.revision == 0);
}

TEST_CASE("every time is set to the same now", "[convert]") {
  const timestamp before = timestamp::now();
  const flow f = convert_ok(six_components());
  const timestamp after = timestamp::now();

  REQUIRE(f.deployed_at.has_value());
  REQUIRE(f.started_at.has_value());
  CHECK_FALSE(f.stopped_at.has_value());
  CHECK(*f.deployed_at == f.created_at);
  CHECK(*f.started_at == f.created_at);
  CHECK(f.updated_at == f.created_at);
  CHECK(f.last_modified == f.created_at);

  CHECK_FALSE(f.created_at.is_zero());
  CHECK(before <= f.created_at);
  CHECK(f.created_at <= after);
  CHECK(after.unix_seconds() - f.created_at.unix_seconds() <= 5);
}

TEST_CASE("the converted flow validates and encodes", "[convert]") {
  const flow f = convert_ok(six_components());
  CHECK(flowstore::validation_problems(f).empty());
  CHECK(flowstore::validate(f).has_value());
  CHECK(flowstore::to_json(f).has_value());
}

TEST_CASE("an empty name fails validation", "[convert]") {
  const auto r = flowstore::from_component_configs("", six_components());
  REQUIRE(r.has_error());
  CHECK(r.error() == errc::validation_failed);
  CHECK(r.error() == flowstore::condition::invalid);
  const std::regex message(
      "^validate flow '[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}': "
      "1 problem: flow: name is required$");
  INFO(r.error().message);
  CHECK(std::regex_match(r.error().message, message));
}

TEST_CASE("empty configs give a flow with no nodes", "[convert]") {
  const flow f = convert_ok({});
  CHECK(f.nodes.empty());
  CHECK(f.connections.empty());
  CHECK(f.state == runtime_state::running);
  CHECK(std::regex_match(f.id, uuid_v4));
  CHECK(flowstore::validate(f).has_value());

  std::map<std::string, component_config> only_disabled;
  only_disabled.emplace("x", make_config(component_type::input, "udp", nullptr, false));
  CHECK(convert_ok(only_disabled).nodes.empty());
}

TEST_CASE("from_component_configs_with_connections keeps the connections", "[convert]") {
  const std::vector<flow_connection> connections = {
      make_connection("c1", "a-udp", "b-graph"),
      make_connection("c2", "b-graph", "d-array"),
  };
  const auto r = flowstore::from_component_configs_with_connections("wired", six_components(), connections);
  REQUIRE(r.has_value());
  CHECK(r->connections == connections);
  CHECK(r->nodes.size() == 5);
  CHECK(r->name == "wired");
  CHECK(flowstore::validate(*r).has_value());
}

TEST_CASE("a connection to a disabled component fails validation", "[convert]") {
  const std::vector<flow_connection> connections = {
      make_connection("c1", "a-udp", "b-graph"),
      make_connection("c2", "b-graph", "c-disabled"),
  };
  const auto r = flowstore::from_component_configs_with_connections("wired", six_components(), connections);
  REQUIRE(r.has_error());
  CHECK(r.error() == errc::validation_failed);
  const std::string& msg = r.error().message;
  INFO(msg);
  CHECK(msg.find(": 1 problem: connection[1] 'c2': target node 'c-disabled' does not exist") != std::string::npos);
  CHECK(msg.rfind("validate flow '", 0) == 0);
}
