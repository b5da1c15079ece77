// Quickstart: build a flow, validate it, and see its JSON — the document the store keeps.
#include <flowstore/flow.hpp>
#include <flowstore/json.hpp>

#include <iostream>

int main() {
  flowstore::flow f;
  f.id = "quickstart";
  f.name = "Quickstart";
  f.state = flowstore::runtime_state::not_deployed;
  f.nodes.push_back({.id = "udp-in", .component = "udp", .type = flowstore::component_type::input,
                     .name = "udp-input-1", .pos = {100, 100}, .config = {{"port", 5000}}});
  f.nodes.push_back({.id = "to-graph", .component = "graph-processor", .type = flowstore::component_type::processor,
                     .name = "graph-1", .pos = {400, 100}});
  f.connections.push_back({.id = "c1", .source_node_id = "udp-in", .source_port = "out",
                           .target_node_id = "to-graph", .target_port = "in"});

  if (auto valid = flowstore::validate(f); !valid) {
    std::cerr << valid.error().message << '\n';
    return 1;
  }
  std::cout << "valid flow, stored as:\n" << flowstore::to_json(f).value() << "\n\n";

  f.connections.push_back({.id = "c2", .source_node_id = "udp-in", .source_port = "",
                           .target_node_id = "missing", .target_port = "in"});
  auto broken = flowstore::validate(f);
  std::cout << "after adding a broken connection:\n  " << broken.error().message << "\n  category invalid: "
            << std::boolalpha << (broken.error().code == flowstore::condition::invalid) << '\n';
}
