// A flow from a static runtime configuration: a headless deployment's components become nodes
// that the flow-builder UI can show. Builds the flow, validates it, stores it, reads it back.
//
//   from_configs [nats://127.0.0.1:4222]
#include <flowstore/connection.hpp>
#include <flowstore/convert.hpp>
#include <flowstore/flow.hpp>
#include <flowstore/store.hpp>

#include "example_main.hpp"

#include <boost/asio/this_coro.hpp>
#include <boost/json/parse.hpp>
#include <boost/json/value.hpp>

#include <iostream>
#include <map>
#include <string>
#include <vector>

namespace asio = boost::asio;

// The "components" section of a runtime configuration file: key → type, factory name,
// enabled (true when missing) and the component's own settings.
constexpr const char* configuration = R"({
  "udp-in":    {"type": "input",     "name": "udp",             "enabled": true,  "config": {"port": 5000}},
  "graph":     {"type": "processor", "name": "graph-processor", "enabled": true,  "config": {"batch_size": 100}},
  "archive":   {"type": "storage",   "name": "objectstore",     "enabled": true,  "config": null},
  "debug-out": {"type": "output",    "name": "websocket",       "enabled": false, "config": {"port": 8081}},
  "api":       {"type": "gateway",   "name": "http",                              "config": ["not", "an", "object"]}
})";

std::map<std::string, flowstore::component_config> parse_components(const boost::json::object& section) {
  std::map<std::string, flowstore::component_config> configs;
  for (const auto& [key, entry] : section) {
    const auto& fields = entry.as_object();
    flowstore::component_config component;
    component.type = flowstore::component_type_from_string(fields.at("type").as_string());
    component.name = fields.at("name").as_string();
    if (const auto* enabled = fields.if_contains("enabled")) component.enabled = enabled->as_bool();
    if (const auto* settings = fields.if_contains("config")) component.config = *settings;
    configs.emplace(key, std::move(component));
  }
  return configs;
}

// The data path: input → processor → storage, by component key and port.
std::vector<flowstore::flow_connection> data_path() {
  std::vector<flowstore::flow_connection> edges(2);
  edges[0].id = "udp-to-graph";
  edges[0].source_node_id = "udp-in";
  edges[0].source_port = "out";
  edges[0].target_node_id = "graph";
  edges[0].target_port = "in";
  edges[1].id = "graph-to-archive";
  edges[1].source_node_id = "graph";
  edges[1].source_port = "out";
  edges[1].target_node_id = "archive";
  edges[1].target_port = "in";
  return edges;
}

asio::awaitable<int> run(std::string url) {
  const auto configs = parse_components(boost::json::parse(configuration).as_object());
  auto built = flowstore::from_component_configs_with_connections("edge-01 pipeline", configs, data_path());
  if (!built) {
    std::cerr << built.error().what() << '\n';
    co_return 1;
  }
  std::cout << "built    " << built->nodes.size() << " nodes from " << configs.size() << " components, "
            << built->connections.size() << " connections\n";
  for (const auto& node : built->nodes) {
    std::cout << "  node " << node.id << " (" << flowstore::to_string(node.type) << ' ' << node.component << ") at "
              << node.pos.x << ',' << node.pos.y << '\n';
  }
  const auto problems = flowstore::validation_problems(*built);
  std::cout << "valid    " << (problems.empty() ? "yes" : "no") << '\n';
  for (const auto& problem : problems) std::cout << "  " << problem.to_string() << '\n';
  if (!problems.empty()) co_return 1;

  auto opened = co_await example::connect_and_open(url);
  if (!opened) co_return 1;
  auto& [conn, store] = *opened;
  auto created = co_await store.create(*built);
  if (!created) {
    std::cerr << created.error().what() << '\n';
    co_return 1;
  }
  std::cout << "created  '" << created->name << "' version " << created->version << ", state "
            << flowstore::to_string(created->state) << '\n';
  auto read_back = co_await store.get(created->id);
  if (!read_back) {
    std::cerr << read_back.error().what() << '\n';
    co_return 1;
  }
  std::cout << "read     " << read_back->nodes.size() << " nodes, " << read_back->connections.size()
            << " connections\n";
  co_await conn.close();
  co_return *read_back == *created ? 0 : 1;
}

int main(int argc, char** argv) { return example::run_to_completion(run(example::server_url(argc, argv))); }
