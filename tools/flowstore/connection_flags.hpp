// The connection flags (and their environment variables) shared by the flowstore tool and
// flowstore-server: one definition, one meaning.
#pragma once

#include "cli.hpp"

#include <CLI/CLI.hpp>

#include <string>
#include <vector>

namespace flowstore::cli {

/// The connection settings as given, the timeout still as text.
struct connection_flags {
  server_settings settings;
  std::string timeout = "5s";
};

/// Secrets the user gave, so that nothing written to stderr repeats them: passwords, tokens,
/// and the user-info part of server URLs.
std::vector<std::string> secrets_of(const server_settings& s);

/// Adds the connection flags to `cmd`, in the help's `group`: `server_names` names the server
/// URL flag (the tool's "-s,--server", the server's "--nats,-s,--server"). Only a main command reads the
/// environment (FLOWSTORE_SERVER, FLOWSTORE_USER, …).
void add_connection_options(CLI::App* cmd, connection_flags& flags, bool main_command,
                            const std::string& server_names = "-s,--server",
                            const std::string& group = "Connection (before or after the command)");

/// The flags given after a subcommand win over the same flags before it, which win over the
/// environment and the defaults.
connection_flags merge(const CLI::App* cmd, const connection_flags& after, connection_flags before);

/// What the flag parser cannot check: pairs of flags and values a server would refuse. Empty
/// when consistent.
std::string inconsistency(const server_settings& s);

/// Checks a DURATION flag (parse_duration()).
CLI::Validator duration_check();

/// Prints CLI11's answer to a parse error — the help, the version or the mistake — with the
/// `secrets` masked, and returns the exit code: exit_ok for --help and --version, else exit_usage.
int answer_parse_error(const CLI::App& app, const CLI::ParseError& e, std::vector<std::string> secrets);

}  // namespace flowstore::cli
