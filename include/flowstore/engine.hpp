// The flow engine: deploys flows to the semstreams runtime configuration (the
// `semstreams_config` KV bucket) and runs their lifecycle, deploy → start → stop → undeploy.
#pragma once

#include <flowstore/catalog.hpp>
#include <flowstore/error.hpp>
#include <flowstore/export.hpp>
#include <flowstore/flow.hpp>
#include <flowstore/store.hpp>

#include <boost/asio/awaitable.hpp>

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace flowstore {

namespace detail {
class engine_impl;
}

// ---------------------------------------------------------------------------------------------
// Deployment checks: pure functions, no I/O

/// How serious a validation issue is: an error blocks deploy and start, a warning does not.
enum class issue_severity { error, warning };

/// One thing the deployment check found, in the shape of semstreams' `ValidationIssue`.
struct validation_issue {
  /// What kind: `empty_flow`, `invalid_flow`, `unknown_component`, `type_mismatch`,
  /// `invalid_component_name`, `duplicate_component_name`, `unknown_port`, `pattern_mismatch`,
  /// `interface_mismatch`, `missing_interface`, `disconnected_node`, `orphaned_port`.
  std::string type;
  issue_severity severity = issue_severity::error;  ///< Error or warning.
  std::string component_name;            ///< The node's id (`(none)` for an empty flow, `flow` for the flow itself).
  std::string port_name;                 ///< The port, when the issue is about one; else empty.
  std::string message;                   ///< For humans.
  std::vector<std::string> suggestions;  ///< What to do, for humans; may be empty.
  /// Member-wise equality.
  friend bool operator==(const validation_issue&, const validation_issue&) = default;
};

/// A node's port as the check resolved it: from the node's own `config.ports`, or else the
/// catalog's default ports of its component.
struct validated_port {
  std::string name;                                  ///< The port's name.
  port_direction direction = port_direction::input;  ///< Input or output.
  std::string interface_type;                        ///< The declared interface (JSON `type`); empty when undeclared.
  bool required = false;                             ///< Whether the component needs it connected.
  std::string connection_id;                         ///< What it connects by: subject, bucket, address or path.
  port_pattern pattern = port_pattern::stream;       ///< How it connects.
  std::string description;                           ///< For humans.
  /// Member-wise equality.
  friend bool operator==(const validated_port&, const validated_port&) = default;
};

/// A node with its resolved ports.
struct validated_node {
  std::string id;                            ///< The node's id.
  std::string component;                     ///< The node's component (semstreams' `type` of a node).
  std::string name;                          ///< The node's instance name.
  std::vector<validated_port> input_ports;   ///< Its inputs, in declaration order.
  std::vector<validated_port> output_ports;  ///< Its outputs, in declaration order.
  /// Member-wise equality.
  friend bool operator==(const validated_node&, const validated_node&) = default;
};

/// A connection the ports imply, drawn or not: an output whose subject matches an input's
/// (NATS wildcards, either way), a request port sharing a subject, a KV write feeding a watch of
/// the same bucket.
struct discovered_connection {
  std::string source_node_id;                   ///< The publishing node.
  std::string source_port;                      ///< Its output.
  std::string target_node_id;                   ///< The subscribing node.
  std::string target_port;                      ///< Its input.
  std::string connection_id;                    ///< The publisher's subject (or bucket).
  port_pattern pattern = port_pattern::stream;  ///< How they connect.
  /// Member-wise equality.
  friend bool operator==(const discovered_connection&, const discovered_connection&) = default;
};

/// The overall verdict: `valid`, `warnings` (deployable) or `errors` (not deployable).
enum class validation_status { valid, warnings, errors };

/// The wire name of a status (`"valid"`, `"warnings"`, `"errors"`).
FLOWSTORE_DECL std::string_view to_string(validation_status s) noexcept;
/// The wire name of a severity (`"error"`, `"warning"`).
FLOWSTORE_DECL std::string_view to_string(issue_severity s) noexcept;

/// What the deployment check says about a flow, in the shape of semstreams' `ValidationResult`.
struct validation_result {
  validation_status status = validation_status::valid;        ///< The verdict.
  std::vector<validation_issue> errors;                       ///< Issues that block deploying, in node order.
  std::vector<validation_issue> warnings;                     ///< Issues that do not.
  std::vector<validated_node> nodes;                          ///< Every node with its ports, in flow order.
  std::vector<discovered_connection> discovered_connections;  ///< In node order.
  /// True unless there are errors.
  bool deployable() const noexcept { return status != validation_status::errors; }
};

/// Checks a flow for deploying: everything validate() checks (each problem an `invalid_flow`
/// error), plus: at least one node; each node's component exists in `catalog` and its `type`
/// is the component's category; node names are usable as semstreams component keys (1–240 of
/// `[A-Za-z0-9_-]` and spaces, which become `_`) and distinct; each drawn connection joins an
/// output of its source to an input of its target, of the same pattern (network ports connect
/// to nothing), with interfaces that agree (the same text, or the source's undeclared: a
/// warning). It also discovers the connections the ports' subjects imply, as semstreams'
/// validator does, and reports required stream inputs that nothing feeds (errors), other
/// unconnected ports and nodes (warnings).
///
/// A node's ports come from its `config.ports` (`{"inputs":[…],"outputs":[…]}`, each port
/// `{"name","type","subject","interface","required"}` as semstreams writes them) when present,
/// else from the catalog. Pure, no I/O; thread-safe.
FLOWSTORE_DECL validation_result validate_deployment(const flow& f, const component_catalog& catalog);

/// The result as semstreams' flow service writes it: `{"validation_status","errors","warnings",
/// "nodes","discovered_connections"}`, each array always present.
FLOWSTORE_DECL std::string to_json(const validation_result& r);

/// The `semstreams_config` key of a node's component: `components.<name>`, spaces replaced by
/// `_` as semstreams' config manager does.
FLOWSTORE_DECL std::string component_key(std::string_view node_name);

/// The bytes semstreams' config manager writes for a component, Go's `json.Marshal` of
/// `ComponentConfig{Type, Name, Enabled, Config}`: `{"type":"<category>","name":"<component>",
/// "enabled":<enabled>,"config":<the node's config, keys sorted, as Go writes a map>}`.
///
/// - Errors: errc::validation_failed when the config holds what Go cannot write (a non-finite
///   number, nesting deeper than a document can hold).
FLOWSTORE_DECL result<std::string> component_config_json(const flow_node& node, component_type category, bool enabled);

// ---------------------------------------------------------------------------------------------
// The engine

/// Settings for engine::open().
struct engine_options {
  /// The KV bucket the semstreams runtime reads its configuration from.
  std::string config_bucket = "semstreams_config";
  /// Revisions kept per key when the engine creates the bucket (semstreams' own setting: 5).
  int config_history = 5;
  int config_replicas = 1;           ///< Copies of the bucket in a cluster, when the engine creates it.
  bool create_config_bucket = true;  ///< Create the bucket when missing.
};

/// What an engine operation did, one step at a time, for logs and progress reports.
struct engine_event {
  /// The kind of step: a component written or removed, or the flow's state changed.
  enum class kind { component_written, component_removed, state_changed };
  kind what = kind::state_changed;
  std::string flow_id;                        ///< The flow.
  std::string key;                            ///< The `semstreams_config` key, for component steps.
  runtime_state from = runtime_state::unset;  ///< The state before, for state changes.
  runtime_state to = runtime_state::unset;    ///< The state after, for state changes.
};

/// A component of the semstreams runtime configuration that a flow deployed.
struct deployed_component {
  std::string key;                                  ///< `components.<name>`.
  std::string name;                                 ///< The component's instance name (the key without its prefix).
  std::string component;                            ///< The factory (semstreams `name`).
  component_type category = component_type::unset;  ///< Its category (semstreams `type`).
  bool enabled = false;                             ///< Whether the runtime should run it.
  std::uint64_t revision = 0;                       ///< The key's KV revision.
};

/// Runs flows' lifecycles on a store and the semstreams runtime configuration. Cheap to copy;
/// copies share the binding.
///
/// The states and their operations (anything else is errc::invalid_state, naming the current
/// state): deploy: not_deployed or error → deployed_stopped; start: deployed_stopped → running;
/// stop: running → deployed_stopped; undeploy: deployed_stopped or error → not_deployed.
///
/// Each operation reads the flow, makes its components in `semstreams_config` what the new state
/// needs (deploy writes them with `enabled: false`, start flips them to true, stop back to false,
/// undeploy deletes them), and then writes the new state as a compare-and-set on the revision it
/// read. So of two concurrent operations on one flow exactly one succeeds; the other gets
/// errc::conflict after putting the components back to what the winner's state needs, and an
/// edit that raced the operation is detected the same way. An operation interrupted between
/// writes (a crash) has not written the state yet: run again, it finds the flow where it was and
/// finishes. Every component key records the flow that owns it, and the flow revision it was
/// written for, in message headers (`Flowstore-Flow`, `Flowstore-Flow-Revision`) that the
/// semstreams runtime ignores: a component name another flow has deployed is refused with
/// errc::already_exists, an operation never undoes what one on a newer revision wrote, and keys
/// left by an interrupted deploy are removed by deploying again or by remove(). Component writes
/// are compare-and-set on the key's revision; a write that would change nothing is skipped.
///
/// Executor, timeouts, cancellation, lifetimes and thread safety are as for store operations;
/// a cancelled operation may have written some of its components (retry it to converge).
class FLOWSTORE_DECL engine {
 public:
  /// Binds the engine to `flows` and the configuration bucket (created when missing), on the
  /// store's connection.
  ///
  /// - Errors: as store::open() for the configuration bucket.
  static boost::asio::awaitable<result<engine>> open(store flows, component_catalog catalog, engine_options options);
  /// open() with the default engine_options: the bucket "semstreams_config".
  static boost::asio::awaitable<result<engine>> open(store flows, component_catalog catalog);

  /// Validates the stored flow with validate_deployment() and, when it is deployable, writes
  /// each node's component disabled, removes keys the flow owned that no node names any more,
  /// and sets deployed_stopped and deployed_at = now. Returns the flow as stored.
  ///
  /// - Errors: errc::not_found, errc::invalid_state (deployed_stopped or running),
  ///   errc::validation_failed (the message lists the errors), errc::already_exists (a
  ///   component name another flow or the runtime's own configuration holds), errc::conflict
  ///   (the flow or a component key changed meanwhile), errc::corrupt_data, transport errors;
  ///   after a transport error some components may be written: deploy again to finish.
  boost::asio::awaitable<result<flow>> deploy(std::string id);

  /// Enables the flow's components and sets running and started_at = now. The components are
  /// written from the flow as stored, so edits made while it was stopped take effect; the flow
  /// is checked again and must still be deployable.
  ///
  /// - Errors: as deploy(); errc::invalid_state unless deployed_stopped.
  boost::asio::awaitable<result<flow>> start(std::string id);

  /// Disables the flow's components and sets deployed_stopped and stopped_at = now.
  ///
  /// - Errors: errc::not_found, errc::invalid_state unless running, errc::conflict,
  ///   errc::corrupt_data, transport errors.
  boost::asio::awaitable<result<flow>> stop(std::string id);

  /// Deletes every component key the flow owns and sets not_deployed, clearing deployed_at,
  /// started_at and stopped_at.
  ///
  /// - Errors: errc::not_found, errc::invalid_state (running or not_deployed), errc::conflict,
  ///   errc::corrupt_data, transport errors (some keys may be deleted: undeploy again).
  boost::asio::awaitable<result<flow>> undeploy(std::string id);

  /// Saves an edit of a flow's content (name, description, nodes, connections, created_by
  /// when empty): store::update() with the lifecycle fields — runtime state, deployed_at,
  /// started_at, stopped_at, created_at — kept as stored, so a client cannot change them. The
  /// edit's `version` must be the stored one, or an older one whose content (name,
  /// description, nodes, connections) is still the stored content: a client that read the flow
  /// before a deploy, start or stop holds an older version though nobody changed what it edits
  /// (the history must still keep that version). Refused while the flow runs, atomically: the
  /// write is a compare-and-set on the revision the check read.
  ///
  /// - Errors: errc::invalid_state (running), errc::not_found, errc::conflict, and the errors
  ///   of store::update().
  boost::asio::awaitable<result<flow>> edit(flow f);

  /// Removes a flow that is not deployed, with any component key it still owns (left by an
  /// interrupted deploy).
  ///
  /// - Errors: errc::not_found, errc::invalid_state (deployed_stopped or running: undeploy
  ///   first), errc::conflict, transport errors.
  boost::asio::awaitable<result<void>> remove(std::string id);

  /// The components of the runtime configuration that the flow owns, sorted by key.
  ///
  /// - Errors: errc::invalid_id, transport errors.
  boost::asio::awaitable<result<std::vector<deployed_component>>> components(std::string id);

  /// Calls `observer` for every step of every operation (on the executor of the operation's
  /// caller, before it goes on). Set it before operations start; it must not throw.
  void on_event(std::function<void(const engine_event&)> observer);

  /// The store the flows live in.
  const store& flows() const noexcept;
  /// The catalog deploy checks against.
  const component_catalog& catalog() const noexcept;
  /// The configuration bucket's name.
  const std::string& config_bucket() const noexcept;

 private:
  FLOWSTORE_HIDDEN explicit engine(std::shared_ptr<detail::engine_impl> impl) noexcept;
  std::shared_ptr<detail::engine_impl> impl_;
};

}  // namespace flowstore
