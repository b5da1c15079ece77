// flowstore-server: the flow-builder backend — the HTTP and WebSocket routes of semstreams' flow
// service over a flowstore store and engine. Argument parsing here; the server in server.cpp.
#include "cli.hpp"
#include "connection_flags.hpp"
#include "server.hpp"

#include <CLI/CLI.hpp>

#include <charconv>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <string>

namespace {

using namespace flowstore::cli;
using flowstore::server::server_config;

constexpr const char* description =
    "flowstore-server: the backend of the semstreams flow-builder UI. Serves the Go flow service's\n"
    "routes (/flowbuilder/...), /health and /components/types over HTTP/1.1 and a WebSocket, with\n"
    "flows kept in a NATS JetStream KV bucket and deployments written to semstreams_config.";

constexpr const char* footer_text =
    "Examples:\n"
    "  flowstore-server --nats nats://127.0.0.1:4222 --listen 127.0.0.1:8080\n"
    "  flowstore-server --nats nats://a:4222,nats://b:4222 --listen 0.0.0.0:8080 --catalog components.json\n"
    "\n"
    "SIGINT or SIGTERM stops it: requests in flight finish, streams close, exit 0.\n"
    "\n"
    "Exit codes:\n"
    "  0  stopped by SIGINT or SIGTERM\n"
    "  1  usage: wrong arguments, an address that cannot be used, a catalog that cannot be read\n"
    "  2  invalid: credentials refused, a bucket that cannot be used as given\n"
    "  3  transient: no NATS server reachable, JetStream unavailable\n"
    "  4  fatal: a configuration that cannot work, or an error that cannot be classified\n";

// HOST:PORT, [IPv6]:PORT or PORT alone (on 127.0.0.1). Empty when it is one of these.
std::string parse_listen(const std::string& text, server_config& config) {
  std::string host = config.listen_host;
  std::string_view port_text = text;
  if (const auto colon = text.rfind(':'); colon != std::string::npos) {
    host = text.substr(0, colon);
    port_text = std::string_view(text).substr(colon + 1);
    if (host.size() >= 2 && host.front() == '[' && host.back() == ']') host = host.substr(1, host.size() - 2);
    if (host.empty()) return "--listen: no host before the port in '" + text + "'";
  }
  unsigned port = 0;
  const auto [end, ec] = std::from_chars(port_text.data(), port_text.data() + port_text.size(), port);
  if (port_text.empty() || ec != std::errc() || end != port_text.data() + port_text.size() || port > 65535) {
    return "--listen: not a port number (0-65535) in '" + text + "'";
  }
  config.listen_host = host;
  config.listen_port = static_cast<std::uint16_t>(port);
  return {};
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{description, "flowstore-server"};
  app.set_version_flag("--version", "flowstore-server 0.1.0");
  app.footer(footer_text);

  connection_flags flags;
  add_connection_options(&app, flags, true, "--nats,-s,--server", "Connection to NATS");
  server_config config;
  std::string listen = "127.0.0.1:8080";
  app.add_option("--listen", listen, "address to serve on: HOST:PORT, [IPv6]:PORT or PORT (default 127.0.0.1:8080;\n"
                                     "port 0 picks a free one, printed on stdout)")
      ->type_name("HOST:PORT")
      ->group("Server");
  app.add_option("--catalog", config.catalog_file,
                 "JSON file of the component types (default: the standard semstreams components)")
      ->type_name("FILE")
      ->group("Server");
  app.add_option("--config-bucket", config.config_bucket,
                 "KV bucket the semstreams runtime reads components from (default semstreams_config)")
      ->type_name("NAME")
      ->group("Server");
  app.add_option("--max-connections", config.max_connections, "client connections at once; more are answered 503")
      ->type_name("N")
      ->check(CLI::PositiveNumber)
      ->group("Server");
  app.add_option("--stream-budget", config.stream_budget,
                 "bytes a stream client may leave unread before it is dropped (default 1048576)")
      ->type_name("BYTES")
      ->check(CLI::Range(std::size_t{1024}, std::size_t{1} << 30))
      ->group("Server");
  std::string header_timeout = "10s";
  app.add_option("--header-timeout", header_timeout, "time a client has to send a request's headers (default 10s)")
      ->type_name("DURATION")
      ->check(duration_check())
      ->group("Server");

  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    return answer_parse_error(app, e, secrets_of(flags.settings));
  }

  server_settings& settings = flags.settings;
  set_secrets(secrets_of(settings));
  settings.timeout = *parse_duration(flags.timeout);
  config.header_timeout = *parse_duration(header_timeout);
  if (auto problem = inconsistency(settings); !problem.empty()) return report(problem, exit_usage);
  if (auto problem = parse_listen(listen, config); !problem.empty()) return report(problem, exit_usage);
  if (!flowstore::valid_bucket_name(config.config_bucket)) {
    return report("--config-bucket: not a bucket name (1 to 252 of A-Z a-z 0-9 _ -)", exit_usage);
  }

  flowstore::component_catalog catalog = flowstore::component_catalog::standard();
  if (!config.catalog_file.empty()) {
    std::error_code ec;
    std::ifstream in(config.catalog_file, std::ios::binary);
    if (!std::filesystem::is_regular_file(config.catalog_file, ec) || !in) {
      return report("--catalog: cannot read " + quote(config.catalog_file) + " (not a readable file)", exit_usage);
    }
    std::string text{std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
    auto loaded = flowstore::component_catalog::from_json(text);
    if (!loaded) return report("--catalog " + quote(config.catalog_file) + ": " + loaded.error().message, exit_usage);
    catalog = std::move(*loaded);
  }
  return flowstore::server::serve(std::move(config), settings, std::move(catalog));
}
