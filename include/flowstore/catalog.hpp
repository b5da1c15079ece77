// The component catalog: the component types a flow's nodes may use, with their ports, as the
// flow-builder UI lists them and the engine checks them before deploying.
#pragma once

#include <flowstore/error.hpp>
#include <flowstore/export.hpp>
#include <flowstore/flow.hpp>

#include <boost/json/object.hpp>

#include <memory>
#include <string>
#include <string_view>
#include <vector>

namespace flowstore {

/// Which way data crosses a port.
enum class port_direction { input, output };

/// How a port connects, by its kind: `stream` (NATS and JetStream subjects, matched with
/// wildcards), `request` (NATS request/reply, same subject), `watch` (KV writes to KV watches,
/// same bucket) or `network` (sockets and files: never connected to another port).
enum class port_pattern { stream, request, watch, network };

/// The wire name of a direction (`"input"`, `"output"`).
FLOWSTORE_DECL std::string_view to_string(port_direction d) noexcept;
/// The wire name of a pattern (`"stream"`, `"request"`, `"watch"`, `"network"`).
FLOWSTORE_DECL std::string_view to_string(port_pattern p) noexcept;
/// The pattern of a semstreams port kind: `nats` and `jetstream` stream; `nats-request`
/// request; `kvwatch`, `kv-watch`, `kvwrite` and `kv-write` watch; `network`, `file` network.
/// An empty kind is `nats`; an unknown one is `network` (it connects to nothing).
FLOWSTORE_DECL port_pattern pattern_of_port_kind(std::string_view kind) noexcept;

/// A port of a component: where its data comes from or goes to.
struct port_spec {
  std::string name;                                  ///< Unique among the component's ports of one direction.
  port_direction direction = port_direction::input;  ///< Input or output.
  std::string kind = "nats";  ///< semstreams port type: nats, jetstream, nats-request, kvwatch, kvwrite, network, file.
  std::string subject;        ///< The subject (may hold wildcards), bucket, address or path.
  std::string interface_type;  ///< The message interface, e.g. `core.json.v1`; empty when undeclared.
  bool required = false;       ///< Whether the component needs the port connected.
  std::string description;     ///< For humans.
  /// Member-wise equality.
  friend bool operator==(const port_spec&, const port_spec&) = default;
};

/// A component type: what a node's `component` names.
struct component_spec {
  std::string id;                                   ///< The factory name a node's `component` holds, e.g. `udp`.
  std::string name;                                 ///< Display name, e.g. `UDP Input`.
  component_type category = component_type::unset;  ///< What a node of this component must have as `type`.
  std::string protocol;                             ///< e.g. `udp`.
  std::string domain;                               ///< e.g. `network`.
  std::string description;                          ///< For humans.
  std::string version;                              ///< The component's version, e.g. `1.0.0`.
  /// The config schema in semstreams' format: `{"properties":{name:{"type",...}},"required":[...]}`.
  boost::json::object schema;
  /// The ports a node has when its config does not list its own (`config.ports`).
  std::vector<port_spec> ports;
  /// Member-wise equality.
  friend bool operator==(const component_spec&, const component_spec&) = default;
};

/// The component types known to the engine and served to the UI. Immutable once made; cheap
/// to copy (the entries are shared); thread-safe.
class FLOWSTORE_DECL component_catalog {
 public:
  /// An empty catalog: every node's component is unknown.
  component_catalog();

  /// Reads a catalog: a JSON array of component types, each an object with `id`, `name`,
  /// `type` (input, processor, output, storage or gateway) and optionally `protocol`,
  /// `domain`, `description`, `version`, `schema` (an object) and `ports` (an array of
  /// `{"name","direction","type","subject","interface","required","description"}`). Other
  /// fields are ignored (`category` is the same as `type`).
  ///
  /// - Errors: errc::invalid_argument naming the entry and what is wrong (not JSON, not an
  ///   array, a missing id, a duplicate id, an unknown type or direction, two ports of one
  ///   direction with the same name).
  static result<component_catalog> from_json(std::string_view text);

  /// The standard semstreams components (udp, websocket_input, json_generic, json_filter,
  /// json_map, json_to_entity, objectstore, file, httppost, websocket, http, graphql,
  /// graph-processor, context-processor), built into the library from
  /// data/semstreams-components.json.
  static const component_catalog& standard();

  /// The component with this id, or null.
  const component_spec* find(std::string_view id) const noexcept;
  /// Every component type, sorted by id.
  const std::vector<component_spec>& components() const noexcept;

 private:
  struct data;
  explicit component_catalog(std::shared_ptr<const data> d) noexcept;
  std::shared_ptr<const data> data_;
};

/// A component type as semstreams serves it on `GET /components/types`: an object with the
/// keys in Go's order (`category`, `description`, `domain`, `id`, `name`, `ports`, `protocol`,
/// `schema`, `type`, `version`), written as Go's encoding/json writes (HTML-safe escaping).
/// `ports` is flowstore's addition; the rest is the Go service's shape.
FLOWSTORE_DECL std::string to_json(const component_spec& c);
/// Every component type of the catalog as a JSON array, sorted by id.
FLOWSTORE_DECL std::string to_json(const component_catalog& catalog);

}  // namespace flowstore
