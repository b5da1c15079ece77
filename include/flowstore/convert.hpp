// Building a flow from a static component configuration, so headless configs show up in the UI.
#pragma once

#include <flowstore/error.hpp>
#include <flowstore/export.hpp>
#include <flowstore/flow.hpp>

#include <boost/json/value.hpp>

#include <map>
#include <string>
#include <vector>

namespace flowstore {

/// One component of a runtime configuration, as the configuration file describes it.
struct component_config {
  component_type type = component_type::unset;  ///< Category: input, processor, …
  std::string name{};                           ///< Factory name, e.g. "udp".
  bool enabled = true;                          ///< Disabled components get no node.
  boost::json::value config{};                  ///< The component's settings, any JSON.
};

/// Builds a flow from a static runtime configuration, so that a headless configuration shows
/// up in the UI (the Go package's `FromComponentConfigs`). Nothing is stored: pass the result
/// to store::create().
///
/// One node per enabled component, in key order: node id and name are the key, component the
/// factory name, type the category, config the settings (an object as is, null as empty,
/// anything else wrapped as {"raw": "<its JSON text>"}). Nodes are laid out in a grid of 4 per
/// row (x = 50 + 300·column, y = 50 + 180·row). The flow gets a random UUID v4 id, the given
/// name, the description "Auto-generated from static configuration", state running, version 1,
/// and deployed_at, started_at, created_at, updated_at and last_modified set to now; no
/// connections.
///
/// - Errors: errc::validation_failed when the result is not a valid flow (e.g. empty name, a
///   component without name or type), errc::encode_failed when a non-object config cannot be
///   written as text (a non-finite number).
/// - Thread safety: no I/O; thread-safe.
FLOWSTORE_DECL result<flow> from_component_configs(std::string name,
                                                   const std::map<std::string, component_config>& configs);

/// As from_component_configs(), with connections computed elsewhere (the Go package's
/// `FromComponentConfigsWithConnections`); they must reference the enabled components' keys,
/// or the result fails validation.
FLOWSTORE_DECL result<flow> from_component_configs_with_connections(
    std::string name, const std::map<std::string, component_config>& configs, std::vector<flow_connection> connections);

}  // namespace flowstore
