#include <flowstore/flow.hpp>
#include <flowstore/json.hpp>

#include "model/message.hpp"

#include <boost/container/small_vector.hpp>

#include <algorithm>
#include <cmath>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace flowstore {

std::string_view to_string(runtime_state s) noexcept {
  switch (s) {
    case runtime_state::not_deployed:
      return "not_deployed";
    case runtime_state::deployed_stopped:
      return "deployed_stopped";
    case runtime_state::running:
      return "running";
    case runtime_state::error:
      return "error";
    case runtime_state::unset:
    case runtime_state::unrecognized:
      break;
  }
  return {};
}

std::string_view to_string(component_type t) noexcept {
  switch (t) {
    case component_type::input:
      return "input";
    case component_type::processor:
      return "processor";
    case component_type::output:
      return "output";
    case component_type::storage:
      return "storage";
    case component_type::gateway:
      return "gateway";
    case component_type::unset:
    case component_type::unrecognized:
      break;
  }
  return {};
}

runtime_state runtime_state_from_string(std::string_view s) noexcept {
  if (s.empty()) return runtime_state::unset;
  for (auto state :
       {runtime_state::not_deployed, runtime_state::deployed_stopped, runtime_state::running, runtime_state::error}) {
    if (s == to_string(state)) return state;
  }
  return runtime_state::unrecognized;
}

component_type component_type_from_string(std::string_view s) noexcept {
  if (s.empty()) return component_type::unset;
  for (auto type : {component_type::input, component_type::processor, component_type::output, component_type::storage,
                    component_type::gateway}) {
    if (s == to_string(type)) return type;
  }
  return component_type::unrecognized;
}

using detail::quoted;

namespace {

bool is_key_char(char c) noexcept {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-' || c == '/' ||
         c == '_' || c == '=' || c == '.';
}

// Shared by ids and patterns: length, dots, and each token checked by `token_ok`.
template <class TokenCheck>
bool valid_dotted(std::string_view text, TokenCheck token_ok) noexcept {
  if (text.empty() || text.size() > max_flow_id_length) return false;
  std::size_t start = 0;
  while (true) {
    const std::size_t dot = text.find('.', start);
    const std::string_view token =
        text.substr(start, dot == std::string_view::npos ? text.size() - start : dot - start);
    const bool last = dot == std::string_view::npos;
    if (token.empty() || !token_ok(token, last)) return false;  // empty token: leading/trailing dot or ".."
    if (last) return true;
    start = dot + 1;
  }
}

bool plain_token(std::string_view token) noexcept {
  for (char c : token) {
    if (!is_key_char(c)) return false;
  }
  return true;
}

// A stored document holds a node's config three levels down (document, nodes array, node), so
// deeper configs could be neither encoded nor decoded within max_json_depth.
constexpr std::size_t max_config_depth = max_json_depth - 3;

// Whether `config` nests deeper than max_config_depth (the config object itself is level 1).
// Iterative, so a hostile depth costs no stack.
bool config_too_deep(const boost::json::object& config) {
  boost::container::small_vector<std::pair<const boost::json::value*, std::size_t>, 16> pending;
  for (const auto& member : config) pending.emplace_back(&member.value(), 2);
  while (!pending.empty()) {
    const auto [v, depth] = pending.back();
    pending.pop_back();
    if (!v->is_structured()) continue;
    if (depth > max_config_depth) return true;
    if (const auto* object = v->if_object()) {
      for (const auto& member : *object) pending.emplace_back(&member.value(), depth + 1);
    } else {
      for (const auto& element : v->get_array()) pending.emplace_back(&element, depth + 1);
    }
  }
  return false;
}

// The ids of nodes or connections with their positions, sorted by id and then position: one
// allocation at most (none for small flows), where a hash map allocates per id.
class id_index {
 public:
  template <class Items>
  explicit id_index(const Items& items) {
    entries_.reserve(items.size());
    for (std::size_t i = 0; i < items.size(); ++i) {
      if (!items[i].id.empty()) entries_.emplace_back(items[i].id, i);
    }
    std::sort(entries_.begin(), entries_.end());
  }

  // The position of the first item with `id`.
  std::optional<std::size_t> first(std::string_view id) const {
    const auto it = std::lower_bound(entries_.begin(), entries_.end(), entry(id, 0));
    if (it == entries_.end() || it->first != id) return std::nullopt;
    return it->second;
  }

 private:
  using entry = std::pair<std::string_view, std::size_t>;
  boost::container::small_vector<entry, 16> entries_;
};

std::string node_where(std::size_t index, const flow_node& n) {
  return "node[" + std::to_string(index) + "] " + quoted(n.id);
}

std::string connection_where(std::size_t index, const flow_connection& c) {
  return "connection[" + std::to_string(index) + "] " + quoted(c.id);
}

}  // namespace

bool valid_flow_id(std::string_view id) noexcept {
  return valid_dotted(id, [](std::string_view token, bool) { return plain_token(token); });
}

bool valid_watch_pattern(std::string_view pattern) noexcept {
  return valid_dotted(pattern, [](std::string_view token, bool last) {
    return token == "*" || (last && token == ">") || plain_token(token);
  });
}

std::vector<validation_problem> validation_problems(const flow& f) {
  std::vector<validation_problem> problems;
  auto problem = [&](std::string where, std::string what) { problems.push_back({std::move(where), std::move(what)}); };

  if (f.id.empty()) {
    problem("flow", "id is required");
  } else if (!valid_flow_id(f.id)) {
    problem("flow", "id " + quoted(f.id) +
                        " is not a valid key (1-256 of [-/_=.A-Za-z0-9], no leading, trailing or double dot)");
  }
  if (f.name.empty()) problem("flow", "name is required");
  if (f.state == runtime_state::unset) {
    problem("flow", "runtime_state is required");
  } else if (f.state == runtime_state::unrecognized) {
    problem("flow", "runtime_state " + quoted(f.unrecognized_state) +
                        " is not one of not_deployed, deployed_stopped, running, error");
  }

  // Where a problem is, spelled out only when there is one.
  const id_index nodes(f.nodes);
  for (std::size_t i = 0; i < f.nodes.size(); ++i) {
    const flow_node& n = f.nodes[i];
    auto where = [&] { return node_where(i, n); };
    if (n.id.empty()) {
      problem(where(), "id is required");
    } else if (const std::size_t first = *nodes.first(n.id); first != i) {
      problem(where(), "duplicate node id (also node[" + std::to_string(first) + "])");
    }
    if (n.component.empty()) problem(where(), "component is required");
    if (n.name.empty()) problem(where(), "name is required");
    if (n.type == component_type::unset) {
      problem(where(), "type is required");
    } else if (n.type == component_type::unrecognized) {
      problem(where(),
              "type " + quoted(n.unrecognized_type) + " is not one of input, processor, output, storage, gateway");
    }
    if (!std::isfinite(n.pos.x) || !std::isfinite(n.pos.y)) problem(where(), "position must be finite");
    if (config_too_deep(n.config)) {
      problem(where(), "config nests deeper than " + std::to_string(max_config_depth) + " levels");
    }
  }

  const id_index connections(f.connections);
  for (std::size_t i = 0; i < f.connections.size(); ++i) {
    const flow_connection& c = f.connections[i];
    auto where = [&] { return connection_where(i, c); };
    if (c.id.empty()) {
      problem(where(), "id is required");
    } else if (const std::size_t first = *connections.first(c.id); first != i) {
      problem(where(), "duplicate connection id (also connection[" + std::to_string(first) + "])");
    }
    if (c.source_port.empty()) problem(where(), "source_port is required");
    if (c.target_port.empty()) problem(where(), "target_port is required");
    if (c.source_node_id.empty()) {
      problem(where(), "source_node_id is required");
    } else if (!nodes.first(c.source_node_id)) {
      problem(where(), "source node " + quoted(c.source_node_id) + " does not exist");
    }
    if (c.target_node_id.empty()) {
      problem(where(), "target_node_id is required");
    } else if (!nodes.first(c.target_node_id)) {
      problem(where(), "target node " + quoted(c.target_node_id) + " does not exist");
    }
  }
  return problems;
}

result<void> validate(const flow& f) {
  const std::vector<validation_problem> problems = validation_problems(f);
  if (problems.empty()) return success();
  std::string message = "validate flow " + quoted(f.id) + ": " + std::to_string(problems.size()) +
                        (problems.size() == 1 ? " problem: " : " problems: ");
  for (std::size_t i = 0; i < problems.size(); ++i) {
    if (i != 0) message += "; ";
    message += problems[i].to_string();
  }
  return error{errc::validation_failed, std::move(message)};
}

}  // namespace flowstore
