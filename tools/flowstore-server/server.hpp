// flowstore-server's entry point below the argument parsing.
#pragma once

#include "app.hpp"
#include "cli.hpp"

#include <flowstore/catalog.hpp>

namespace flowstore::server {

/// Connects, binds the engine and the listener, serves until SIGINT or SIGTERM, and returns the
/// exit code (the CLI's: 0 after a clean stop, 1 when the address cannot be used, 3 when no
/// server could be reached, 4 for what cannot be classified).
int serve(server_config config, const cli::server_settings& settings, component_catalog catalog);

}  // namespace flowstore::server
