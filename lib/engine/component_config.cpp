// A node as semstreams' config manager stores it: Go's json.Marshal of ComponentConfig.
#include <flowstore/engine.hpp>
#include <flowstore/json.hpp>

#include "model/go_json_writer.hpp"
#include "model/message.hpp"

namespace flowstore {

std::string component_key(std::string_view node_name) {
  std::string key = "components.";
  for (char c : node_name) key += c == ' ' ? '_' : c;
  return key;
}

result<std::string> component_config_json(const flow_node& node, component_type category, bool enabled) {
  std::string out;
  out.reserve(64 + node.component.size() + node.config.size() * 32);
  detail::go_json_writer w(out);
  // ComponentConfig's fields in declaration order; its config a json.RawMessage of the node's
  // map[string]any, which Go writes with sorted keys.
  w.raw("{\"type\":");
  w.string(to_string(category));
  w.raw(",\"name\":");
  w.string(node.component);
  w.raw(enabled ? ",\"enabled\":true,\"config\":" : ",\"enabled\":false,\"config\":");
  if (!w.object(node.config, max_json_depth - 1)) {
    return error{errc::validation_failed, "component " + detail::quoted(node.name) +
                                              ": config holds a non-finite number or nests too deep"};
  }
  w.raw('}');
  return out;
}

}  // namespace flowstore
