#include <flowstore/convert.hpp>
#include <flowstore/json.hpp>

#include "model/message.hpp"

#include <boost/uuid/random_generator.hpp>
#include <boost/uuid/uuid_io.hpp>

namespace flowstore {
namespace {

constexpr std::size_t nodes_per_row = 4;
constexpr double grid_origin = 50;
constexpr double column_width = 300;
constexpr double row_height = 180;

std::string random_uuid() {
  thread_local boost::uuids::random_generator generator;
  return boost::uuids::to_string(generator());
}

// A config object as is; null as empty; anything else wrapped as {"raw": "<JSON text>"}, as the
// Go converter does when the settings do not decode into a map.
result<boost::json::object> node_config(const std::string& key, const boost::json::value& config) {
  if (config.is_object()) return config.get_object();
  if (config.is_null()) return boost::json::object{};
  auto text = to_go_json(config);
  if (!text) {
    return error{errc::encode_failed, "convert component " + detail::quoted(key) + ": " + text.error().message};
  }
  return boost::json::object{{"raw", boost::json::string_view(*text)}};
}

}  // namespace

result<flow> from_component_configs_with_connections(std::string name,
                                                     const std::map<std::string, component_config>& configs,
                                                     std::vector<flow_connection> connections) {
  const timestamp now = timestamp::now();
  flow f;
  f.id = random_uuid();
  f.name = std::move(name);
  f.description = "Auto-generated from static configuration";
  f.version = 1;
  f.state = runtime_state::running;
  f.deployed_at = now;
  f.started_at = now;
  f.created_at = now;
  f.updated_at = now;
  f.last_modified = now;
  f.connections = std::move(connections);

  for (const auto& [key, component] : configs) {  // std::map: sorted by key
    if (!component.enabled) continue;
    auto config = node_config(key, component.config);
    if (!config) return std::move(config).error();
    const std::size_t index = f.nodes.size();
    flow_node& n = f.nodes.emplace_back();
    n.id = key;
    n.name = key;
    n.component = component.name;
    n.type = component.type;
    n.pos.x = grid_origin + static_cast<double>(index % nodes_per_row) * column_width;
    n.pos.y = grid_origin + static_cast<double>(index / nodes_per_row) * row_height;
    n.config = std::move(config).value();
  }

  if (auto valid = validate(f); !valid) return std::move(valid).error();
  return f;
}

result<flow> from_component_configs(std::string name, const std::map<std::string, component_config>& configs) {
  return from_component_configs_with_connections(std::move(name), configs, {});
}

}  // namespace flowstore
