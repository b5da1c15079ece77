// The flow model: a visual dataflow graph as the flow-builder UI makes it, and its rules.
#pragma once

#include <flowstore/error.hpp>
#include <flowstore/export.hpp>
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
  double x = 0;  ///< Horizontal, in canvas units; must be finite.
  double y = 0;  ///< Vertical, in canvas units; must be finite.
  /// Member-wise equality.
  friend bool operator==(const position&, const position&) = default;
};

/// Lifecycle of a flow. `unset` is what a new flow has before create() (which stores it as
/// not_deployed); `unrecognized` is a state a newer peer wrote, kept verbatim in
/// flow::unrecognized_state so that it survives a round trip. Neither is valid.
enum class runtime_state {
  unset,             ///< No state given (JSON: missing, null or "").
  not_deployed,      ///< Exists, never deployed.
  deployed_stopped,  ///< Deployed to the runtime configuration, not running.
  running,           ///< Processing messages.
  error,             ///< Deployment or execution failed.
  unrecognized,      ///< A state this version does not know; see flow::unrecognized_state.
};

/// Category of a component. `unrecognized` is a category this version does not know,
/// kept verbatim in flow_node::unrecognized_type.
enum class component_type {
  unset,         ///< No type given (JSON: missing, null or ""); not valid.
  input,         ///< An input component (wire name "input").
  processor,     ///< A processor component ("processor").
  output,        ///< An output component ("output").
  storage,       ///< A storage component ("storage").
  gateway,       ///< A gateway component ("gateway").
  unrecognized,  ///< A category this version does not know; see flow_node::unrecognized_type.
};

/// The wire name of a state (`"not_deployed"`, …); empty for unset and unrecognized.
FLOWSTORE_DECL std::string_view to_string(runtime_state s) noexcept;
/// The wire name of a category (`"processor"`, …); empty for unset and unrecognized.
FLOWSTORE_DECL std::string_view to_string(component_type t) noexcept;
/// Parses a state's wire name (exact, case-sensitive); unknown text gives `unrecognized`, empty
/// text gives `unset`.
FLOWSTORE_DECL runtime_state runtime_state_from_string(std::string_view s) noexcept;
/// Parses a category's wire name (exact, case-sensitive); unknown text gives `unrecognized`,
/// empty text gives `unset`.
FLOWSTORE_DECL component_type component_type_from_string(std::string_view s) noexcept;

/// A component instance on the canvas.
struct flow_node {
  std::string id{};                             ///< Unique within the flow.
  std::string component{};                      ///< Factory name, e.g. "udp", "graph-processor".
  component_type type = component_type::unset;  ///< Category (JSON `type`); required.
  std::string name{};                           ///< Instance name, e.g. "udp-input-1".
  position pos{};                               ///< Canvas coordinates (JSON `position`).
  boost::json::object config{};                 ///< Component-specific configuration, any JSON.

  std::string unrecognized_type{};       ///< The stored text when type is unrecognized.
  boost::json::object unknown_fields{};  ///< Fields written by newer peers, written back as-is.

  /// Member-wise equality, unknown fields included.
  friend bool operator==(const flow_node&, const flow_node&) = default;
};

/// An edge from one node's output port to another node's input port.
struct flow_connection {
  std::string id{};              ///< Unique among the flow's connections.
  std::string source_node_id{};  ///< The node the edge leaves; must exist in the flow.
  std::string source_port{};     ///< The port on the source node.
  std::string target_node_id{};  ///< The node the edge enters; must exist in the flow.
  std::string target_port{};     ///< The port on the target node.

  boost::json::object unknown_fields{};  ///< Fields written by newer peers, written back as-is.

  /// Member-wise equality, unknown fields included.
  friend bool operator==(const flow_connection&, const flow_connection&) = default;
};

/// A visual flow definition with its canvas layout, runtime state and audit times: the Go
/// package's `Flow`. Its JSON document is described in docs/go-interop.md.
struct flow {
  std::string id{};           ///< The flow's key in the bucket: see valid_flow_id(). Required.
  std::string name{};         ///< Display name. Required.
  std::string description{};  ///< Free text; omitted from the JSON when empty.
  std::int64_t version = 0;   ///< 1 after create(), +1 per update().

  std::vector<flow_node> nodes{};              ///< The components on the canvas.
  std::vector<flow_connection> connections{};  ///< The edges between their ports.

  runtime_state state = runtime_state::unset;  ///< Lifecycle (JSON `runtime_state`); required.
  std::optional<timestamp> deployed_at{};      ///< When last deployed; omitted from the JSON when unset.
  std::optional<timestamp> started_at{};       ///< When last started; omitted from the JSON when unset.
  std::optional<timestamp> stopped_at{};       ///< When last stopped; omitted from the JSON when unset.

  timestamp created_at{};     ///< Set by create(); update() keeps the stored one when this is zero.
  timestamp updated_at{};     ///< Set by create() and every update().
  std::string created_by{};   ///< Who created it; free text, omitted from the JSON when empty.
  timestamp last_modified{};  ///< Set by create() and every update() (as updated_at).

  std::string unrecognized_state{};      ///< The stored text when state is unrecognized.
  boost::json::object unknown_fields{};  ///< Fields written by newer peers, written back as-is.

  /// The KV revision this flow was read or written at; 0 when it did not come from a store.
  /// Not part of the JSON document. update() uses it for a one-round-trip compare-and-set.
  std::uint64_t revision = 0;

  /// Member-wise equality: revision and unknown fields included.
  friend bool operator==(const flow&, const flow&) = default;
};

/// Longest flow id accepted.
inline constexpr std::size_t max_flow_id_length = 256;

/// True when `id` can be a NATS KV key and so a flow id.
///
/// A key is 1 to max_flow_id_length characters of `[-/_=.A-Za-z0-9]`, not starting or ending
/// with a dot, and without two dots in a row. A bad key on the wire makes the server drop the
/// whole connection, so the library checks every id before sending it. Thread-safe.
FLOWSTORE_DECL bool valid_flow_id(std::string_view id) noexcept;

/// True when `pattern` is a valid KV watch pattern for store::watch().
///
/// A pattern is like a flow id, and additionally its tokens (between dots) may be `*`, and
/// the last token may be `>`. Thread-safe.
FLOWSTORE_DECL bool valid_watch_pattern(std::string_view pattern) noexcept;

/// One broken validation rule: where it is broken and what is wrong.
struct validation_problem {
  std::string where{};  ///< `flow`, or a node or connection by index and id, like node[1] 'n2'.
  std::string what{};   ///< The rule broken, e.g. `name is required`.
  /// `where: what`, as validate() lists it.
  std::string to_string() const { return where + ": " + what; }
  /// Member-wise equality.
  friend bool operator==(const validation_problem&, const validation_problem&) = default;
};

/// Every validation rule the flow breaks, in document order; empty for a valid flow. Pure:
/// no I/O, thread-safe.
FLOWSTORE_DECL std::vector<validation_problem> validation_problems(const flow& f);

/// Checks the flow as the engine does before deploying, and as create() and update() do with
/// store_options::validate_writes (the Go package's `Flow.Validate`, with more rules).
///
/// The rules: required id (a valid KV key), name and runtime state; a known state; each node
/// has id, component, name and a known type, a finite position and a config no deeper than a
/// stored document can hold, and node ids are unique; each connection has id, source and
/// target ports and nodes that exist, and connection ids are unique.
///
/// - Errors: errc::validation_failed, the message listing every problem (validation_problems()
///   returns them as values).
/// - Thread safety: pure, no I/O; thread-safe.
FLOWSTORE_DECL result<void> validate(const flow& f);

}  // namespace flowstore
