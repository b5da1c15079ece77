// What the parts of flowstore-server share: its settings, the connection, the store, the engine,
// the change hub, and the log.
#pragma once

#include <flowstore/catalog.hpp>
#include <flowstore/connection.hpp>
#include <flowstore/engine.hpp>
#include <flowstore/store.hpp>

#include <boost/asio/any_io_executor.hpp>

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

namespace flowstore::server {

namespace asio = boost::asio;
using namespace std::chrono_literals;

/// The server's own settings (the connection's are the CLI's server_settings).
struct server_config {
  std::string listen_host = "127.0.0.1";
  std::uint16_t listen_port = 8080;
  std::string catalog_file;                        ///< Empty: the standard catalog.
  std::string config_bucket = "semstreams_config";  ///< Where deploy writes the components.
  std::size_t max_connections = 1000;              ///< Beyond this, new connections get 503.
  std::size_t header_limit = 16 * 1024;            ///< Bytes of request line and headers.
  std::size_t max_header_count = 100;              ///< Header fields in one request.
  std::size_t body_limit = 0;                      ///< Request body bytes; 0: the server's max_payload.
  std::size_t stream_budget = 1024 * 1024;         ///< Bytes a stream client may leave unread before it is dropped.
  std::chrono::milliseconds header_timeout = 10s;  ///< To send a request's headers.
  std::chrono::milliseconds body_timeout = 30s;    ///< To send its body.
  std::chrono::milliseconds idle_timeout = 60s;    ///< Between requests on a kept-alive connection.
  std::chrono::milliseconds write_timeout = 30s;   ///< For a client to take a response.
  std::chrono::milliseconds heartbeat = 15s;       ///< A quiet stream still sends this often.
  std::chrono::milliseconds shutdown_grace = 10s;  ///< For requests in flight at SIGINT/SIGTERM.
};

/// One line to stderr, with the time; thread-safe. Control characters in `text` are replaced.
void log_line(std::string_view text);

class change_hub;

/// Everything a request handler may use. Lives as long as the server runs.
struct app {
  server_config config;
  asio::any_io_executor executor;
  std::optional<flowstore::connection> conn;
  std::optional<flowstore::store> flows;
  std::optional<flowstore::engine> engine;
  std::shared_ptr<change_hub> hub;
  bool shutting_down = false;
  std::size_t sessions = 0;  ///< Open client connections.
  std::size_t streams = 0;   ///< Of which streaming (SSE or WebSocket).
};

}  // namespace flowstore::server
