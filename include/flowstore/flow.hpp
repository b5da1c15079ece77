// The flow model: a visual dataflow graph as the flow-builder UI makes it, and its rules.
#pragma once

#include <flowstore/error.hpp>
#include <flowstore/timestamp.hpp>

#include <boost/json/object.hpp>

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace flowstore {

/// Canvas coordinates of a node.
struct position {
  double x = 0;
  double y = 0;
  friend bool operator==(const position&, const position&) = default;
};

/// Lifecycle of a flow. `unset` is what a new flow has before create() (which stores it as
/// not_deployed); `unrecognized` is a state a newer peer wrote, kept verbatim in
/// flow::unrecognized_state so that it survives a round trip. Neither is valid.
enum class runtime_state {
  unset,
  not_deployed,      ///< Exists, never deployed.
  deployed_stopped,  ///< Deployed to the runtime configuration, not running.
  running,           ///< Processing messages.
  error,             ///< Deployment or execution failed.
  unrecognized,
};

/// Category of a component. `unrecognized` is a category this version does not know,
/// kept verbatim in flow_node::unrecognized_type.
enum class component_type {
  unset,
  input,
  processor,
  output,
  storage,
  gateway,
  unrecognized,
};

/// Wire names (`"not_deployed"`, `"processor"`, …); empty for unset and unrecognized.
std::string_view to_string(runtime_state s) noexcept;
std::string_view to_string(component_type t) noexcept;
/// Parses a wire name; unknown text gives `unrecognized`, empty text gives `unset`.
runtime_state runtime_state_from_string(std::string_view s) noexcept;
component_type component_type_from_string(std::string_view s) noexcept;

/// A component instance on the canvas.
struct flow_node {
  std::string id{};         ///< Unique within the flow.
  std::string component{};  ///< Factory name, e.g. "udp", "graph-processor".
  component_type type = component_type::unset;
  std::string name{};  ///< Instance name, e.g. "udp-input-1".
  position pos{};
  boost::json::object config{};  ///< Component-specific configuration, any JSON.

  std::string unrecognized_type{};       ///< The stored text when type is unrecognized.
  boost::json::object unknown_fields{};  ///< Fields written by newer peers, written back as-is.

  friend bool operator==(const flow_node&, const flow_node&) = default;
};

/// An edge from one node's output port to another node's input port.
struct flow_connection {
  std::string id{};
  std::string source_node_id{};
  std::string source_port{};
  std::string target_node_id{};
  std::string target_port{};

  boost::json::object unknown_fields{};  ///< Fields written by newer peers, written back as-is.

  friend bool operator==(const flow_connection&, const flow_connection&) = default;
};

/// A visual flow definition with its canvas layout, runtime state and audit times.
struct flow {
  std::string id{};  ///< A NATS KV key: see valid_flow_id().
  std::string name{};
  std::string description{};
  std::int64_t version = 0;  ///< 1 after create(), +1 per update().

  std::vector<flow_node> nodes{};
  std::vector<flow_connection> connections{};

  runtime_state state = runtime_state::unset;
  std::optional<timestamp> deployed_at{};
  std::optional<timestamp> started_at{};
  std::optional<timestamp> stopped_at{};

  timestamp created_at{};
  timestamp updated_at{};
  std::string created_by{};
  timestamp last_modified{};

  std::string unrecognized_state{};      ///< The stored text when state is unrecognized.
  boost::json::object unknown_fields{};  ///< Fields written by newer peers, written back as-is.

  /// The KV revision this flow was read or written at; 0 when it did not come from a store.
  /// Not part of the JSON document. update() uses it for a one-round-trip compare-and-set.
  std::uint64_t revision = 0;

  friend bool operator==(const flow&, const flow&) = default;
};

/// Longest flow id accepted.
inline constexpr std::size_t max_flow_id_length = 256;

/// True when `id` can be a NATS KV key: 1..max_flow_id_length characters of
/// `[-/_=.A-Za-z0-9]`, not starting or ending with `.`, no `..`. A bad key on the wire makes the
/// server drop the whole connection, so the library checks every id before sending it.
bool valid_flow_id(std::string_view id) noexcept;

/// True when `pattern` is a valid KV watch pattern: like a flow id, and additionally tokens
/// (between dots) may be `*`, and the last token may be `>`.
bool valid_watch_pattern(std::string_view pattern) noexcept;

/// One broken rule: where (`flow`, `node[1] 'n2'`, `connection[0] 'c1'`) and what.
struct validation_problem {
  std::string where{};
  std::string what{};
  std::string to_string() const { return where + ": " + what; }
  friend bool operator==(const validation_problem&, const validation_problem&) = default;
};

/// Every validation rule the flow breaks, in document order; empty for a valid flow.
std::vector<validation_problem> validation_problems(const flow& f);

/// Checks the flow: required id (a valid KV key), name and runtime state; a known state;
/// each node has id, component, name and a known type, finite position, no duplicate node ids;
/// each connection has id, source and target ports and nodes that exist, no duplicate
/// connection ids. Fails with errc::validation_failed, the message listing every problem.
result<void> validate(const flow& f);

}  // namespace flowstore
