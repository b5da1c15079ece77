// The flowstore command-line tool: settings, exit codes and the commands, shared by main.cpp
// (argument parsing) and the tests of the pure helpers.
#pragma once

#include <flowstore/connection.hpp>
#include <flowstore/convert.hpp>
#include <flowstore/error.hpp>
#include <flowstore/flow.hpp>
#include <flowstore/timestamp.hpp>
#include <flowstore/watch.hpp>

#include <chrono>
#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace flowstore::cli {

/// Exit codes, by error category (documented in --help and docs/cli.md).
enum exit_code : int {
  exit_ok = 0,
  exit_usage = 1,      ///< The command line is wrong, or a named file cannot be read.
  exit_invalid = 2,    ///< The input is rejected: not found, conflict, exists, validation, bad document.
  exit_transient = 3,  ///< The server is unavailable or timed out; a retry may succeed.
  exit_fatal = 4,      ///< Stored data is corrupt, or an error flowstore cannot classify.
};

/// The exit code for a library error, by its condition.
int exit_code_for(const error& e);

/// Connection and bucket flags, common to every command that talks to a server.
struct server_settings {
  std::vector<std::string> servers;  ///< Empty: nats://127.0.0.1:4222.
  std::string user;
  std::string password;
  std::string token;
  std::string credentials_file;
  std::string nkey_seed_file;
  std::string nkey_public_key;
  std::string tls_ca;
  std::string tls_cert;
  std::string tls_key;
  std::string bucket = "semstreams_flows";
  std::chrono::milliseconds timeout{5000};
};

inline constexpr const char* default_server = "nats://127.0.0.1:4222";

/// connect_options for the settings: the timeout bounds both each server attempt and each
/// operation; TLS is on when any TLS file is given.
connect_options make_connect_options(const server_settings& s);

/// Parses a duration: a number of milliseconds ("1500") or a number with a unit
/// ("250ms", "5s", "2m"). Nullopt when malformed, zero or negative.
std::optional<std::chrono::milliseconds> parse_duration(std::string_view text);

/// An error for humans: the library's message, and the server's text when it adds something
/// (nats.c's own source locations are dropped).
std::string describe(const error& e);

/// Writes an error to stderr as one line, "flowstore: <describe(e)>", with control characters
/// replaced and every secret of the settings masked. Returns exit_code_for(e).
int report(const error& e);
/// The same for a message of the tool's own, with an explicit exit code.
int report(std::string_view message, int code);

/// Secrets to mask in everything written to stderr (set once by main).
void set_secrets(std::vector<std::string> secrets);
/// `text` on one line, control characters as spaces, secrets as "***".
std::string sanitize(std::string_view text);
/// A user-supplied value (an id, a name) quoted for a message, on one line: 'value'.
std::string quote(std::string_view s);
/// A URL with any user:password@ part replaced by ***@.
std::string redact_url(std::string_view url);

// --- Input and output helpers (pure; unit-tested) ---------------------------------------------

/// Go's json.Indent with two spaces: re-indents JSON text without touching numbers or escapes.
/// Empty objects and arrays stay "{}" and "[]". The input must be valid JSON.
std::string pretty_json(std::string_view json);

/// RFC 3339 to the second ("2024-05-01T12:00:00Z"), for tables.
std::string short_time(const timestamp& t);

/// The file name a flow is exported to: `<id>.json`, with '/' (valid in an id) as "%2F" and
/// '%' as "%25" so that every id maps to one file in one directory. A name that would pass 255
/// bytes keeps a prefix and ends in `~<32 hex digits of the id's SHA-256>.json`.
std::string export_file_name(std::string_view id);

/// A flow version on the command line: a whole decimal number that fits in 64 bits, or nullopt.
std::optional<std::int64_t> parse_version(std::string_view text);

/// Reads a whole file, or stdin for "-". Nullopt (and a message in `problem`) when unreadable.
std::optional<std::string> read_input(const std::string& path, std::string& problem);

/// Decodes a flow document from a file's text; errors are errc::invalid_argument (category
/// invalid: the user's file is wrong, not the store), prefixed with `source` unless empty.
result<flow> parse_flow_file(std::string_view text, const std::string& source);

/// Parses a component configuration file: a JSON object whose "components" member maps a
/// component key to {"type", "name", "enabled" (default true), "config"}. Other top-level
/// members are ignored. Errors are errc::invalid_argument naming the component and field.
result<std::map<std::string, component_config>> parse_component_configs(std::string_view text,
                                                                        const std::string& source);

/// One watch event as a JSON object on one line (NDJSON), without the newline.
std::string event_json(const flow_event& event);

// --- Commands -----------------------------------------------------------------------------------

struct list_args {
  bool json = false;
};
struct get_args {
  std::string id;
  bool raw = false;
};
struct write_args {
  std::string file;    ///< Path or "-".
  bool draft = false;  ///< Store the flow even if it fails validation.
};
struct delete_args {
  std::string id;
  std::optional<std::int64_t> expect_version;
  std::string expect_version_text;  ///< As given; parsed into expect_version.
};
struct history_args {
  std::string id;
  bool json = false;
};
struct watch_args {
  std::string pattern = ">";
  bool updates_only = false;
};
struct export_args {
  std::string dir;
};
struct import_args {
  std::string dir;
  bool update = false;
  bool force = false;
  int concurrency = 64;
};
struct from_config_args {
  std::string file;
  std::string name;
};
struct validate_args {
  std::string file;
};

int run_list(const server_settings& s, const list_args& a);
int run_get(const server_settings& s, const get_args& a);
int run_create(const server_settings& s, const write_args& a);
int run_update(const server_settings& s, const write_args& a);
int run_delete(const server_settings& s, const delete_args& a);
int run_history(const server_settings& s, const history_args& a);
int run_watch(const server_settings& s, const watch_args& a);
int run_export(const server_settings& s, const export_args& a);
int run_import(const server_settings& s, const import_args& a);
int run_from_config(const server_settings& s, const from_config_args& a);
int run_validate(const validate_args& a);

}  // namespace flowstore::cli
