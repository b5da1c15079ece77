#include <flowstore/flow.hpp>
#include <flowstore/json.hpp>
#include <flowstore/watch.hpp>

#include <catch2/catch.hpp>

#include <cstddef>
#include <limits>
#include <string>
#include <vector>

using flowstore::component_type;
using flowstore::condition;
using flowstore::errc;
using flowstore::flow;
using flowstore::flow_connection;
using flowstore::flow_node;
using flowstore::runtime_state;
using flowstore::validation_problem;

namespace {

const std::string bad_key_rule = " is not a valid key (1-256 of [-/_=.A-Za-z0-9], no leading, trailing or double dot)";

flow_node make_node(std::string id, std::string component, component_type type, double x, double y) {
  flow_node n;
  n.id = id;
  n.component = std::move(component);
  n.type = type;
  n.name = std::move(id);
  n.pos = {x, y};
  return n;
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

// A valid flow: two nodes (n1 -> n2) and one connection c1.
flow valid_flow() {
  flow f;
  f.id = "flow-1";
  f.name = "Flow 1";
  f.state = runtime_state::not_deployed;
  f.nodes.push_back(make_node("n1", "udp", component_type::input, 50, 50));
  f.nodes.push_back(make_node("n2", "graph-processor", component_type::processor, 350, 50));
  f.connections.push_back(make_connection("c1", "n1", "n2"));
  return f;
}

// Checks that `f` breaks exactly one rule: validation_problems() lists exactly {where, what}, and
// validate() fails with validation_failed and the full message naming the flow and the problem.
void expect_one_problem(const flow& f, const std::string& quoted_id, const std::string& where,
                        const std::string& what) {
  INFO("flow id: " << f.id << ", expected " << where << ": " << what);
  const std::vector<validation_problem> problems = flowstore::validation_problems(f);
  REQUIRE(problems.size() == 1);
  CHECK(problems[0].where == where);
  CHECK(problems[0].what == what);
  CHECK(problems[0] == validation_problem{where, what});
  CHECK(problems[0].to_string() == where + ": " + what);

  const flowstore::result<void> r = flowstore::validate(f);
  REQUIRE(r.has_error());
  CHECK(r.error() == errc::validation_failed);
  CHECK(r.error() == condition::invalid);
  CHECK(r.error().server_text.empty());
  CHECK(r.error().message == "validate flow " + quoted_id + ": 1 problem: " + where + ": " + what);
}

void expect_one_problem(const flow& f, const std::string& where, const std::string& what) {
  expect_one_problem(f, "'" + f.id + "'", where, what);
}

}  // namespace

TEST_CASE("the helper flow is valid", "[validate]") {
  const flow f = valid_flow();
  CHECK(flowstore::validation_problems(f).empty());
  const flowstore::result<void> r = flowstore::validate(f);
  CHECK(r.has_value());
  CHECK_FALSE(r.has_error());
}

TEST_CASE("every known runtime state and component type is valid", "[validate]") {
  for (runtime_state s :
       {runtime_state::not_deployed, runtime_state::deployed_stopped, runtime_state::running, runtime_state::error}) {
    flow f = valid_flow();
    f.state = s;
    INFO("state " << std::string(flowstore::to_string(s)));
    CHECK(flowstore::validation_problems(f).empty());
    CHECK(flowstore::validate(f).has_value());
  }
  for (component_type t : {component_type::input, component_type::processor, component_type::output,
                           component_type::storage, component_type::gateway}) {
    flow f = valid_flow();
    f.nodes[1].type = t;
    INFO("type " << std::string(flowstore::to_string(t)));
    CHECK(flowstore::validate(f).has_value());
  }
}

TEST_CASE("a flow without nodes and connections is valid", "[validate]") {
  flow f = valid_flow();
  f.nodes.clear();
  f.connections.clear();
  CHECK(flowstore::validation_problems(f).empty());
  CHECK(flowstore::validate(f).has_value());
}

TEST_CASE("optional fields may be empty, and a node may connect to itself", "[validate]") {
  flow f = valid_flow();
  f.description.clear();
  f.created_by.clear();
  f.version = 0;
  f.nodes[0].config = {{"port", 14550}};
  f.nodes[1].pos = {-1e300, 1e300};
  f.connections.push_back(make_connection("c2", "n2", "n2"));
  CHECK(flowstore::validation_problems(f).empty());
  CHECK(flowstore::validate(f).has_value());
}

TEST_CASE("missing flow id", "[validate]") {
  flow f = valid_flow();
  f.id.clear();
  expect_one_problem(f, "''", "flow", "id is required");
}

TEST_CASE("invalid flow ids", "[validate]") {
  const std::vector<std::string> bad = {
      "my flow", "team.*", "*", ">", "team.>", ".flow", "flow.", "a..b", "caf\xc3\xa9", "a#b", "a:b", "a\\b",
  };
  for (const std::string& id : bad) {
    flow f = valid_flow();
    f.id = id;
    CHECK_FALSE(flowstore::valid_flow_id(id));
    expect_one_problem(f, "flow", "id '" + id + "'" + bad_key_rule);
  }
}

TEST_CASE("a flow id with a control character is rejected and shown as '?'", "[validate]") {
  flow f = valid_flow();
  f.id = "flow\t1";
  CHECK_FALSE(flowstore::valid_flow_id(f.id));
  expect_one_problem(f, "'flow?1'", "flow", "id 'flow?1'" + bad_key_rule);
  CHECK(flowstore::validate(f).error().message.find('\t') == std::string::npos);

  f.id = std::string("a\0b", 3);
  CHECK_FALSE(flowstore::valid_flow_id(f.id));
  expect_one_problem(f, "'a?b'", "flow", "id 'a?b'" + bad_key_rule);

  f.id = "a\x7f";
  CHECK_FALSE(flowstore::valid_flow_id(f.id));
  expect_one_problem(f, "'a?'", "flow", "id 'a?'" + bad_key_rule);
}

TEST_CASE("a flow id of 257 characters is rejected and cut to 64 in the message", "[validate]") {
  flow f = valid_flow();
  f.id = std::string(257, 'a');
  CHECK_FALSE(flowstore::valid_flow_id(f.id));
  const std::string shown = "'" + std::string(64, 'a') + "...'";
  expect_one_problem(f, shown, "flow", "id " + shown + bad_key_rule);
}

TEST_CASE("valid flow ids", "[validate]") {
  const std::vector<std::string> good = {
      "a", "team.flow-1", "a/b=c_d", std::string(256, 'x'), "A-Z_0-9", "a.b.c", "-", "/", "=", "_", "0",
  };
  for (const std::string& id : good) {
    INFO("id: " << id);
    CHECK(flowstore::valid_flow_id(id));
    flow f = valid_flow();
    f.id = id;
    CHECK(flowstore::validation_problems(f).empty());
    CHECK(flowstore::validate(f).has_value());
  }
}

TEST_CASE("valid_flow_id rejects wildcards, empty and bad dots", "[validate]") {
  CHECK_FALSE(flowstore::valid_flow_id("*"));
  CHECK_FALSE(flowstore::valid_flow_id(">"));
  CHECK_FALSE(flowstore::valid_flow_id("a.*"));
  CHECK_FALSE(flowstore::valid_flow_id("a.>"));
  CHECK_FALSE(flowstore::valid_flow_id(""));
  CHECK_FALSE(flowstore::valid_flow_id("."));
  CHECK_FALSE(flowstore::valid_flow_id(".a"));
  CHECK_FALSE(flowstore::valid_flow_id("a."));
  CHECK_FALSE(flowstore::valid_flow_id("a..b"));
  CHECK_FALSE(flowstore::valid_flow_id("a b"));
  CHECK_FALSE(flowstore::valid_flow_id(std::string(257, 'a')));
  CHECK(flowstore::valid_flow_id(std::string(256, 'a')));
  CHECK(flowstore::max_flow_id_length == 256);
}

TEST_CASE("valid_watch_pattern", "[validate]") {
  for (const char* p : {">", "*", "team.*", "a.*.c", "a.>", "*.*", "*.>", "a", "team.flow-1", "a/b=c_d"}) {
    INFO("pattern: " << p);
    CHECK(flowstore::valid_watch_pattern(p));
  }
  CHECK(flowstore::valid_watch_pattern(std::string(256, 'a')));
  for (const char* p :
       {"a.>.b", ">a", "a*", "", "a..b", ".a", "a b", "a.", ">.a", "a>", "*a", "**", "a.**", ".", "a.>.>", "a\tb"}) {
    INFO("pattern: " << p);
    CHECK_FALSE(flowstore::valid_watch_pattern(p));
  }
  CHECK_FALSE(flowstore::valid_watch_pattern(std::string(257, 'a')));
}

TEST_CASE("missing flow name", "[validate]") {
  flow f = valid_flow();
  f.name.clear();
  expect_one_problem(f, "flow", "name is required");
}

TEST_CASE("unset runtime state", "[validate]") {
  flow f = valid_flow();
  f.state = runtime_state::unset;
  expect_one_problem(f, "flow", "runtime_state is required");
}

TEST_CASE("unrecognized runtime state is quoted in the message", "[validate]") {
  flow f = valid_flow();
  f.state = runtime_state::unrecognized;
  f.unrecognized_state = "paused";
  expect_one_problem(f, "flow", "runtime_state 'paused' is not one of not_deployed, deployed_stopped, running, error");
}

TEST_CASE("node missing id", "[validate]") {
  flow f = valid_flow();
  f.nodes[1].id.clear();
  f.connections.clear();  // c1 would otherwise also point at the missing n2
  expect_one_problem(f, "node[1] ''", "id is required");
}

TEST_CASE("node missing component", "[validate]") {
  flow f = valid_flow();
  f.nodes[1].component.clear();
  expect_one_problem(f, "node[1] 'n2'", "component is required");
}

TEST_CASE("node missing name", "[validate]") {
  flow f = valid_flow();
  f.nodes[1].name.clear();
  expect_one_problem(f, "node[1] 'n2'", "name is required");
}

TEST_CASE("node missing type", "[validate]") {
  flow f = valid_flow();
  f.nodes[0].type = component_type::unset;
  expect_one_problem(f, "node[0] 'n1'", "type is required");
}

TEST_CASE("node with an unrecognized type", "[validate]") {
  flow f = valid_flow();
  f.nodes[1].type = component_type::unrecognized;
  f.nodes[1].unrecognized_type = "transformer";
  expect_one_problem(f, "node[1] 'n2'", "type 'transformer' is not one of input, processor, output, storage, gateway");
}

TEST_CASE("duplicate node id names both indices", "[validate]") {
  flow f = valid_flow();
  f.nodes.push_back(make_node("n1", "file", component_type::output, 650, 50));
  expect_one_problem(f, "node[2] 'n1'", "duplicate node id (also node[0])");
}

TEST_CASE("a config nesting deeper than a stored document can hold is a problem", "[validate]") {
  // Document, nodes array and node take three levels of max_json_depth; the config the rest.
  const std::size_t config_levels = flowstore::max_json_depth - 3;
  auto nest = [](std::size_t levels) {
    boost::json::object config;
    boost::json::object* level = &config;
    for (std::size_t i = 1; i < levels; ++i) level = &(*level)["k"].emplace_object();
    return config;
  };
  flow f = valid_flow();
  f.nodes[0].config = nest(config_levels);
  CHECK(validation_problems(f).empty());
  CHECK(to_json(f).has_value());

  f.nodes[0].config = nest(config_levels + 1);
  expect_one_problem(f, "node[0] 'n1'", "config nests deeper than " + std::to_string(config_levels) + " levels");
  f.nodes[0].config = nest(5000);
  expect_one_problem(f, "node[0] 'n1'", "config nests deeper than " + std::to_string(config_levels) + " levels");
}

TEST_CASE("non-finite node position", "[validate]") {
  constexpr double nan = std::numeric_limits<double>::quiet_NaN();
  constexpr double inf = std::numeric_limits<double>::infinity();
  {
    flow f = valid_flow();
    f.nodes[0].pos.x = nan;
    expect_one_problem(f, "node[0] 'n1'", "position must be finite");
  }
  {
    flow f = valid_flow();
    f.nodes[1].pos.y = nan;
    expect_one_problem(f, "node[1] 'n2'", "position must be finite");
  }
  {
    flow f = valid_flow();
    f.nodes[1].pos.x = inf;
    expect_one_problem(f, "node[1] 'n2'", "position must be finite");
  }
  {
    flow f = valid_flow();
    f.nodes[0].pos.y = -inf;
    expect_one_problem(f, "node[0] 'n1'", "position must be finite");
  }
  {
    flow f = valid_flow();
    f.nodes[0].pos = {inf, nan};  // one problem per node, not per coordinate
    expect_one_problem(f, "node[0] 'n1'", "position must be finite");
  }
}

TEST_CASE("connection missing id", "[validate]") {
  flow f = valid_flow();
  f.connections[0].id.clear();
  expect_one_problem(f, "connection[0] ''", "id is required");
}

TEST_CASE("connection missing source_port", "[validate]") {
  flow f = valid_flow();
  f.connections[0].source_port.clear();
  expect_one_problem(f, "connection[0] 'c1'", "source_port is required");
}

TEST_CASE("connection missing target_port", "[validate]") {
  flow f = valid_flow();
  f.connections[0].target_port.clear();
  expect_one_problem(f, "connection[0] 'c1'", "target_port is required");
}

TEST_CASE("connection missing source_node_id", "[validate]") {
  flow f = valid_flow();
  f.connections[0].source_node_id.clear();
  expect_one_problem(f, "connection[0] 'c1'", "source_node_id is required");
}

TEST_CASE("connection missing target_node_id", "[validate]") {
  flow f = valid_flow();
  f.connections[0].target_node_id.clear();
  expect_one_problem(f, "connection[0] 'c1'", "target_node_id is required");
}

TEST_CASE("connection referencing a missing source node", "[validate]") {
  flow f = valid_flow();
  f.connections[0].source_node_id = "ghost";
  expect_one_problem(f, "connection[0] 'c1'", "source node 'ghost' does not exist");
}

TEST_CASE("connection referencing a missing target node", "[validate]") {
  flow f = valid_flow();
  f.connections[0].target_node_id = "ghost";
  expect_one_problem(f, "connection[0] 'c1'", "target node 'ghost' does not exist");
}

TEST_CASE("connection referencing a node whose id differs only in case", "[validate]") {
  flow f = valid_flow();
  f.connections[0].target_node_id = "N2";
  expect_one_problem(f, "connection[0] 'c1'", "target node 'N2' does not exist");
}

TEST_CASE("duplicate connection id names both indices", "[validate]") {
  flow f = valid_flow();
  f.connections.push_back(make_connection("c1", "n2", "n1"));
  expect_one_problem(f, "connection[1] 'c1'", "duplicate connection id (also connection[0])");
}

TEST_CASE("a flow with several problems reports all of them in document order", "[validate]") {
  flow f = valid_flow();
  f.name.clear();
  f.state = runtime_state::unrecognized;
  f.unrecognized_state = "paused";
  f.nodes[0].component.clear();
  f.nodes[1].type = component_type::unset;
  f.nodes[1].pos.x = std::numeric_limits<double>::infinity();
  f.connections[0].target_port.clear();
  f.connections[0].target_node_id = "ghost";
  f.connections.push_back(make_connection("", "n1", "n2"));

  const std::vector<validation_problem> expected = {
      {"flow", "name is required"},
      {"flow", "runtime_state 'paused' is not one of not_deployed, deployed_stopped, running, error"},
      {"node[0] 'n1'", "component is required"},
      {"node[1] 'n2'", "type is required"},
      {"node[1] 'n2'", "position must be finite"},
      {"connection[0] 'c1'", "target_port is required"},
      {"connection[0] 'c1'", "target node 'ghost' does not exist"},
      {"connection[1] ''", "id is required"},
  };
  CHECK(flowstore::validation_problems(f) == expected);

  const flowstore::result<void> r = flowstore::validate(f);
  REQUIRE(r.has_error());
  CHECK(r.error() == errc::validation_failed);
  CHECK(r.error().message ==
        "validate flow 'flow-1': 8 problems: "
        "flow: name is required; "
        "flow: runtime_state 'paused' is not one of not_deployed, deployed_stopped, running, error; "
        "node[0] 'n1': component is required; "
        "node[1] 'n2': type is required; "
        "node[1] 'n2': position must be finite; "
        "connection[0] 'c1': target_port is required; "
        "connection[0] 'c1': target node 'ghost' does not exist; "
        "connection[1] '': id is required");
}

TEST_CASE("a completely empty flow reports id, name and state", "[validate]") {
  const flow f;
  const std::vector<validation_problem> expected = {
      {"flow", "id is required"},
      {"flow", "name is required"},
      {"flow", "runtime_state is required"},
  };
  CHECK(flowstore::validation_problems(f) == expected);
  const flowstore::result<void> r = flowstore::validate(f);
  REQUIRE(r.has_error());
  CHECK(r.error() == errc::validation_failed);
  CHECK(r.error().message ==
        "validate flow '': 3 problems: flow: id is required; flow: name is required; flow: runtime_state is required");
}

TEST_CASE("runtime state and component type wire names", "[validate]") {
  CHECK(flowstore::to_string(runtime_state::not_deployed) == "not_deployed");
  CHECK(flowstore::to_string(runtime_state::deployed_stopped) == "deployed_stopped");
  CHECK(flowstore::to_string(runtime_state::running) == "running");
  CHECK(flowstore::to_string(runtime_state::error) == "error");
  CHECK(flowstore::to_string(runtime_state::unset).empty());
  CHECK(flowstore::to_string(runtime_state::unrecognized).empty());
  CHECK(flowstore::runtime_state_from_string("running") == runtime_state::running);
  CHECK(flowstore::runtime_state_from_string("deployed_stopped") == runtime_state::deployed_stopped);
  CHECK(flowstore::runtime_state_from_string("") == runtime_state::unset);
  CHECK(flowstore::runtime_state_from_string("Running") == runtime_state::unrecognized);

  CHECK(flowstore::to_string(component_type::input) == "input");
  CHECK(flowstore::to_string(component_type::processor) == "processor");
  CHECK(flowstore::to_string(component_type::output) == "output");
  CHECK(flowstore::to_string(component_type::storage) == "storage");
  CHECK(flowstore::to_string(component_type::gateway) == "gateway");
  CHECK(flowstore::to_string(component_type::unset).empty());
  CHECK(flowstore::to_string(component_type::unrecognized).empty());
  CHECK(flowstore::component_type_from_string("gateway") == component_type::gateway);
  CHECK(flowstore::component_type_from_string("") == component_type::unset);
  CHECK(flowstore::component_type_from_string("transformer") == component_type::unrecognized);
}

TEST_CASE("watch event kinds have names", "[validate]") {
  using kind = flowstore::flow_event::kind;
  CHECK(flowstore::to_string(kind::put) == "put");
  CHECK(flowstore::to_string(kind::deleted) == "deleted");
  CHECK(flowstore::to_string(kind::purged) == "purged");
  CHECK(flowstore::to_string(kind::initial_values_done) == "initial_values_done");
}
