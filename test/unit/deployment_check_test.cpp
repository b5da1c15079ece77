// The component catalog, validate_deployment() and the semstreams_config bytes: pure functions.
#include <flowstore/catalog.hpp>
#include <flowstore/engine.hpp>
#include <flowstore/json.hpp>

#include <boost/json/parse.hpp>

#include <catch2/catch.hpp>

#include <algorithm>
#include <fstream>
#include <sstream>
#include <string>

using flowstore::component_catalog;
using flowstore::component_type;
using flowstore::errc;
using flowstore::flow;
using flowstore::flow_connection;
using flowstore::flow_node;
using flowstore::port_pattern;
using flowstore::runtime_state;
using flowstore::validation_issue;
using flowstore::validation_result;
using flowstore::validation_status;

namespace {

flow_node node(std::string id, std::string component, component_type type, std::string name = {}) {
  flow_node n;
  n.id = id;
  n.component = std::move(component);
  n.type = type;
  n.name = name.empty() ? id : std::move(name);
  return n;
}

flow_connection wire(std::string id, std::string from, std::string out, std::string to, std::string in) {
  flow_connection c;
  c.id = std::move(id);
  c.source_node_id = std::move(from);
  c.source_port = std::move(out);
  c.target_node_id = std::move(to);
  c.target_port = std::move(in);
  return c;
}

flow flow_of(std::vector<flow_node> nodes, std::vector<flow_connection> connections = {}) {
  flow f;
  f.id = "f";
  f.name = "F";
  f.state = runtime_state::not_deployed;
  f.nodes = std::move(nodes);
  f.connections = std::move(connections);
  return f;
}

const validation_issue* find_issue(const std::vector<validation_issue>& issues, std::string_view type) {
  auto it = std::find_if(issues.begin(), issues.end(), [&](const auto& i) { return i.type == type; });
  return it == issues.end() ? nullptr : &*it;
}

std::string golden(const std::string& name) {
  std::ifstream in(std::string(FLOWSTORE_GOLDEN_DIR) + "/" + name, std::ios::binary);
  REQUIRE(in);
  std::ostringstream text;
  text << in.rdbuf();
  return text.str();
}

const component_catalog& standard() { return component_catalog::standard(); }

}  // namespace

TEST_CASE("catalog: the standard catalog holds the 14 semstreams components with their categories", "[engine]") {
  const auto& all = standard().components();
  REQUIRE(all.size() == 14);
  CHECK(std::is_sorted(all.begin(), all.end(), [](const auto& a, const auto& b) { return a.id < b.id; }));
  const auto* udp = standard().find("udp");
  REQUIRE(udp != nullptr);
  CHECK(udp->name == "UDP Input");
  CHECK(udp->category == component_type::input);
  REQUIRE(udp->ports.size() == 2);
  CHECK(udp->ports[0].name == "udp_socket");
  CHECK(flowstore::pattern_of_port_kind(udp->ports[0].kind) == port_pattern::network);
  CHECK(udp->ports[1].subject == "input.udp.mavlink");
  CHECK(standard().find("http")->category == component_type::gateway);
  CHECK(standard().find("graph-processor")->category == component_type::processor);
  CHECK(standard().find("objectstore")->category == component_type::storage);
  CHECK(standard().find("no-such") == nullptr);

  // Served in the Go service's shape: every key the UI reads, schema.properties an object.
  const auto served = boost::json::parse(flowstore::to_json(standard()));
  REQUIRE(served.is_array());
  REQUIRE(served.as_array().size() == 14);
  for (const auto& entry : served.as_array()) {
    const auto& o = entry.as_object();
    for (const char* key : {"id", "name", "type", "category", "protocol", "domain", "description", "version", "schema", "ports"}) {
      INFO(key);
      CHECK(o.contains(key));
    }
    CHECK(o.at("schema").as_object().at("properties").is_object());
    CHECK(o.at("category") == o.at("type"));
  }
}

TEST_CASE("catalog: a malformed catalog is refused naming the entry and what is wrong", "[engine]") {
  struct bad {
    const char* text;
    const char* says;
  };
  for (const bad& b : {bad{"not json", "not JSON"}, bad{R"({"id":"x"})", "not a JSON array"},
                       bad{R"([{"name":"x","type":"input"}])", "entry 0: id is required"},
                       bad{R"([{"id":"x","type":"sink"}])", "entry 0 'x': type 'sink' is not one of"},
                       bad{R"([{"id":"x","type":"input"},{"id":"x","type":"output"}])", "two entries with id 'x'"},
                       bad{R"([{"id":"x","type":"input","ports":[{"name":"p","direction":"sideways"}]}])",
                           "direction 'sideways' is not input or output"},
                       bad{R"([{"id":"x","type":"input","ports":[{"name":"p","direction":"input"},{"name":"p","direction":"input"}]}])",
                           "two input ports named 'p'"},
                       bad{R"([{"id":"x","type":"input","schema":[]}])", "schema is not an object"}}) {
    INFO(b.text);
    auto r = component_catalog::from_json(b.text);
    REQUIRE_FALSE(r);
    CHECK(r.error().code == errc::invalid_argument);
    CHECK_THAT(r.error().message, Catch::Contains("read component catalog") && Catch::Contains(b.says));
  }
  auto ok = component_catalog::from_json(R"([{"id":"b","type":"output"},{"id":"a","type":"input","name":"A"}])");
  REQUIRE(ok);
  REQUIRE(ok->components().size() == 2);
  CHECK(ok->components()[0].id == "a");
  CHECK(ok->components()[1].name == "b");
}

TEST_CASE("deployment check: an empty flow is an error, as semstreams says it", "[engine]") {
  const validation_result r = flowstore::validate_deployment(flow_of({}), standard());
  CHECK(r.status == validation_status::errors);
  REQUIRE(r.errors.size() == 1);
  CHECK(r.errors[0].type == "empty_flow");
  CHECK(r.errors[0].component_name == "(none)");
  CHECK(r.errors[0].message == "Flow must contain at least one component");
  CHECK_FALSE(r.deployable());
}

TEST_CASE("deployment check: a udp input feeding a file output through matching subjects is deployable", "[engine]") {
  auto udp = node("n1", "udp", component_type::input, "udp-1");
  auto file = node("n2", "file", component_type::output, "file-1");
  // The file output listens on output.>: point the udp output there.
  udp.config = boost::json::parse(R"({"ports":{"inputs":[{"name":"udp_socket","type":"network","subject":"udp://0.0.0.0:14550","required":true}],
                                              "outputs":[{"name":"nats_output","type":"nats","subject":"output.udp","required":true}]}})")
                   .as_object();
  const auto r = flowstore::validate_deployment(flow_of({udp, file}, {wire("c1", "n1", "nats_output", "n2", "nats_input")}), standard());
  INFO(flowstore::to_json(r));
  CHECK(r.errors.empty());
  CHECK(r.deployable());
  REQUIRE(r.nodes.size() == 2);
  CHECK(r.nodes[0].input_ports[0].pattern == port_pattern::network);
  CHECK(r.nodes[0].output_ports[0].connection_id == "output.udp");
  CHECK(r.nodes[1].input_ports[0].name == "nats_input");
  // The drawn connection is discovered too (the UI redraws its edges from this list alone),
  // and its interfaces are checked once.
  REQUIRE(r.discovered_connections.size() == 1);
  CHECK(r.discovered_connections[0].source_node_id == "n1");
  CHECK(r.discovered_connections[0].target_port == "nats_input");
  // The file's own output is a file path: never an orphan.
  CHECK(find_issue(r.warnings, "disconnected_node") == nullptr);
}

TEST_CASE("deployment check: connections the subjects imply are discovered and their interfaces checked", "[engine]") {
  auto generic = node("g", "json_generic", component_type::processor);
  auto entity = node("e", "json_to_entity", component_type::processor);
  const auto r = flowstore::validate_deployment(flow_of({generic, entity}), standard());
  INFO(flowstore::to_json(r));
  REQUIRE(r.discovered_connections.size() == 1);
  const auto& c = r.discovered_connections[0];
  CHECK(c.source_node_id == "g");
  CHECK(c.source_port == "nats_output");
  CHECK(c.target_node_id == "e");
  CHECK(c.target_port == "nats_input");
  CHECK(c.connection_id == "generic.messages");
  CHECK(find_issue(r.errors, "interface_mismatch") == nullptr);
  // json_generic's input raw.> has no publisher here: a required stream input, an error.
  const auto* orphan = find_issue(r.errors, "orphaned_port");
  REQUIRE(orphan != nullptr);
  CHECK(orphan->component_name == "g");
  CHECK(orphan->message == "input port 'nats_input' (stream): no_publishers");
  // json_to_entity's output has no subscriber: a warning, with Go's suggestions for a required
  // stream output.
  const flowstore::validation_issue* unread = nullptr;
  for (const auto& w : r.warnings) {
    if (w.type == "orphaned_port" && w.component_name == "e") unread = &w;
  }
  REQUIRE(unread != nullptr);
  CHECK(unread->message == "output port 'nats_output' (stream): no_subscribers");
  REQUIRE(unread->suggestions.size() == 2);
  CHECK(unread->suggestions[0] == "Consider connecting to a processor or output component");
  CHECK_THAT(unread->suggestions[1], Catch::StartsWith("Data will be published to ") && Catch::EndsWith(" but not consumed"));

  // Interfaces that differ on a discovered connection are an error.
  auto map = node("m", "json_map", component_type::processor);
  map.config = boost::json::parse(R"({"ports":{"inputs":[{"name":"in","subject":"raw.x","interface":"other.v1","required":true}],"outputs":[]}})").as_object();
  auto source = node("s", "json_filter", component_type::processor);
  source.config = boost::json::parse(R"({"ports":{"inputs":[],"outputs":[{"name":"out","subject":"raw.x","interface":"core.json.v1"}]}})").as_object();
  const auto mismatch = flowstore::validate_deployment(flow_of({source, map}), standard());
  const auto* m = find_issue(mismatch.errors, "interface_mismatch");
  REQUIRE(m != nullptr);
  CHECK_THAT(m->message, Catch::Contains("provides 'core.json.v1' but target port 'in' requires 'other.v1'"));
}

TEST_CASE("deployment check: unknown components, wrong types, bad names, unknown ports and mismatched patterns",
          "[engine]") {
  auto ghost = node("n1", "no-such-component", component_type::processor);
  auto udp = node("n2", "udp", component_type::output);  // udp is an input
  auto dotted = node("n3", "file", component_type::output, "file.one");
  auto twin_a = node("n4", "httppost", component_type::output, "post one");
  auto twin_b = node("n5", "httppost", component_type::output, "post_one");  // the same key
  auto objectstore = node("n6", "objectstore", component_type::storage);
  const auto f = flow_of({ghost, udp, dotted, twin_a, twin_b, objectstore},
                         {wire("c1", "n2", "no_such_port", "n3", "nats_input"),
                          wire("c2", "n6", "events", "n4", "nats_input"),
                          wire("c3", "n2", "nats_output", "n6", "api")});
  const auto r = flowstore::validate_deployment(f, standard());
  INFO(flowstore::to_json(r));
  CHECK(r.status == validation_status::errors);
  const auto* unknown = find_issue(r.errors, "unknown_component");
  REQUIRE(unknown != nullptr);
  CHECK(unknown->component_name == "n1");
  CHECK(unknown->message == "Unknown component type: no-such-component");
  const auto* type = find_issue(r.errors, "type_mismatch");
  REQUIRE(type != nullptr);
  CHECK(type->message == "Component 'udp' is input, not output");
  const auto* name = find_issue(r.errors, "invalid_component_name");
  REQUIRE(name != nullptr);
  CHECK(name->component_name == "n3");
  const auto* twin = find_issue(r.errors, "duplicate_component_name");
  REQUIRE(twin != nullptr);
  CHECK(twin->component_name == "n5");
  const auto* port = find_issue(r.errors, "unknown_port");
  REQUIRE(port != nullptr);
  CHECK(port->port_name == "no_such_port");
  const auto* pattern = find_issue(r.errors, "pattern_mismatch");
  REQUIRE(pattern != nullptr);
  CHECK_THAT(pattern->message, Catch::Contains("'c3' joins a stream port to a request port"));
  // c2 joins two stream ports without interfaces: no issue of its own.
  CHECK(std::none_of(r.errors.begin(), r.errors.end(), [](const auto& i) { return i.message.find("'c2'") != std::string::npos; }));
}

TEST_CASE("deployment check: what validate() finds is reported as invalid_flow errors", "[engine]") {
  auto unnamed = node("n1", "udp", component_type::input);
  unnamed.name.clear();
  const auto r = flowstore::validate_deployment(flow_of({unnamed}, {wire("c1", "n1", "nats_output", "gone", "in")}), standard());
  std::vector<std::string> invalid;
  for (const auto& i : r.errors) {
    if (i.type == "invalid_flow") invalid.push_back(i.component_name + ": " + i.message);
  }
  CHECK(invalid == std::vector<std::string>{"node[0] 'n1': name is required",
                                            "connection[0] 'c1': target node 'gone' does not exist"});
}

TEST_CASE("deployment check: the result is written in the shape the UI reads, arrays always present", "[engine]") {
  const auto text = flowstore::to_json(flowstore::validate_deployment(flow_of({node("n1", "udp", component_type::input)}), standard()));
  const auto v = boost::json::parse(text).as_object();
  CHECK(v.at("validation_status") == "warnings");
  CHECK(v.at("errors").as_array().empty());
  REQUIRE(v.at("warnings").is_array());
  REQUIRE(v.at("nodes").as_array().size() == 1);
  const auto& n = v.at("nodes").as_array()[0].as_object();
  CHECK(n.at("id") == "n1");
  CHECK(n.at("type") == "udp");
  const auto& out = n.at("output_ports").as_array()[0].as_object();
  for (const char* key : {"name", "direction", "type", "required", "connection_id", "pattern", "description"}) {
    INFO(key);
    CHECK(out.contains(key));
  }
  CHECK(out.at("pattern") == "stream");
  CHECK(v.at("discovered_connections").as_array().empty());
  const auto& w = v.at("warnings").as_array()[0].as_object();
  CHECK(w.at("severity") == "warning");
  CHECK(w.contains("component_name"));
  CHECK(w.contains("message"));
}

TEST_CASE("component config: the semstreams_config bytes are Go's json.Marshal of ComponentConfig", "[engine]") {
  struct golden_case {
    const char* file;
    flow_node n;
    component_type category;
    bool enabled;
  };
  auto with_config = [](std::string component, std::string_view config) {
    flow_node n = node("n", std::move(component), component_type::unset);
    n.config = flowstore::flow_from_json(std::string(R"({"id":"x","name":"x","nodes":[{"id":"n","config":)") +
                                         std::string(config) + "}]}")
                   .value()
                   .nodes[0]
                   .config;
    return n;
  };
  const golden_case cases[] = {
      {"component-udp-enabled.json", with_config("udp", R"({"port":14550,"bind":"0.0.0.0"})"), component_type::input, true},
      {"component-empty-config-disabled.json", with_config("file", "{}"), component_type::output, false},
      {"component-escaping.json", with_config("json_map", "{\"\xc3\xa9\":\"\xc3\xbc\xe2\x80\xa8\",\"note\":\"a<b & c>d\"}"),
       component_type::processor, true},
      {"component-numbers.json", with_config("json_filter", R"({"rate":0.5,"small":0.0000001,"int":3.0,"big":1e21})"),
       component_type::processor, true},
      {"component-nested-sorted.json",
       with_config("objectstore", R"({"ports":{"outputs":[{"subject":"storage.objectstore.events","name":"events"}],"inputs":[]}})"),
       component_type::storage, false},
  };
  for (const golden_case& c : cases) {
    INFO(c.file);
    auto bytes = flowstore::component_config_json(c.n, c.category, c.enabled);
    REQUIRE(bytes);
    CHECK(*bytes == golden(c.file));
  }
  CHECK(flowstore::component_key("udp 1") == "components.udp_1");
  CHECK(flowstore::component_key("udp-1") == "components.udp-1");
}
