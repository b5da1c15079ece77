#include "connection_flags.hpp"

#include <flowstore/store.hpp>

#include <fstream>
#include <iostream>
#include <sstream>
#include <utility>

namespace flowstore::cli {

// Secrets the user gave, so that nothing written to stderr repeats them: passwords, tokens,
// and the user-info part of server URLs. Very short ones would mask ordinary text.
std::vector<std::string> secrets_of(const server_settings& s) {
  std::vector<std::string> secrets{s.password, s.token};
  for (const std::string& url : s.servers) {
    const auto scheme = url.find("://");
    const std::size_t start = scheme == std::string::npos ? 0 : scheme + 3;
    const auto at = url.find('@', start);
    if (at == std::string::npos) continue;
    const std::string info = url.substr(start, at - start);
    const auto colon = info.find(':');
    secrets.push_back(colon == std::string::npos ? info : info.substr(colon + 1));
  }
  std::erase_if(secrets, [](const std::string& secret) { return secret.size() < 4; });
  return secrets;
}

// The connection flags, on the main command (`flowstore --server URL list`, with the
// environment variables) and on each server command (`flowstore list --server URL`). Only the
// main command reads the environment: CLI11 would otherwise let a subcommand's environment
// variable override a flag given before the subcommand.
void add_connection_options(CLI::App* cmd, connection_flags& flags, bool main_command, const std::string& server_names,
                            const std::string& group) {
  server_settings& s = flags.settings;
  auto env = [main_command](CLI::Option* opt, const char* name) {
    if (main_command) opt->envname(name);
    return opt;
  };
  env(cmd->add_option(server_names, s.servers,
                      "NATS server URL (default nats://127.0.0.1:4222); repeat the flag or separate URLs with\n"
                      "commas to give fallbacks. Env FLOWSTORE_SERVER"),
      "FLOWSTORE_SERVER")
      ->delimiter(',')
      ->type_name("URL")
      ->group(group);
  env(cmd->add_option("--user", s.user, "user name for user/password authentication. Env FLOWSTORE_USER"),
      "FLOWSTORE_USER")
      ->type_name("NAME")
      ->group(group);
  env(cmd->add_option("--password", s.password,
                      "password. Env FLOWSTORE_PASSWORD (prefer it: arguments are visible in ps)"),
      "FLOWSTORE_PASSWORD")
      ->type_name("SECRET")
      ->group(group);
  env(cmd->add_option("--token", s.token, "token authentication. Env FLOWSTORE_TOKEN (prefer it)"), "FLOWSTORE_TOKEN")
      ->type_name("SECRET")
      ->group(group);
  env(cmd->add_option("--creds", s.credentials_file,
                      "credentials file (JWT and nkey seed) for decentralized auth. Env FLOWSTORE_CREDS"),
      "FLOWSTORE_CREDS")
      ->type_name("FILE")
      ->group(group);
  env(cmd->add_option("--nkey", s.nkey_seed_file,
                      "nkey authentication: the file holding the user's seed (SU...); the public key is\n"
                      "derived from it. Env FLOWSTORE_NKEY"),
      "FLOWSTORE_NKEY")
      ->type_name("FILE")
      ->group(group);
  env(cmd->add_option("--nkey-public", s.nkey_public_key,
                      "with --nkey: the user's public key (U...), checked against the seed. Env\n"
                      "FLOWSTORE_NKEY_PUBLIC"),
      "FLOWSTORE_NKEY_PUBLIC")
      ->type_name("KEY")
      ->group(group);
  cmd->add_option("--tls-ca", s.tls_ca, "PEM file of the CAs that sign the server certificate (turns TLS on)")
      ->type_name("FILE")
      ->group(group);
  cmd->add_option("--tls-cert", s.tls_cert, "PEM client certificate (turns TLS on); needs --tls-key")
      ->type_name("FILE")
      ->group(group);
  cmd->add_option("--tls-key", s.tls_key, "PEM private key of the client certificate")->type_name("FILE")->group(group);
  env(cmd->add_option("--bucket", s.bucket,
                      "KV bucket holding the flows, created when missing (default semstreams_flows).\n"
                      "Env FLOWSTORE_BUCKET"),
      "FLOWSTORE_BUCKET")
      ->type_name("NAME")
      ->group(group);
  env(cmd->add_option("--timeout", flags.timeout,
                      "connect timeout per server and timeout per operation (default 5s): milliseconds,\n"
                      "or a number with the unit ms, s or m (250ms, 5s, 1m). Env FLOWSTORE_TIMEOUT"),
      "FLOWSTORE_TIMEOUT")
      ->type_name("DURATION")
      ->check(duration_check())
      ->group(group);
}

CLI::Validator duration_check() {
  return CLI::Validator(
      [](std::string& text) -> std::string {
        return parse_duration(text) ? std::string() : "not a duration (1500, 250ms, 5s, 1m)";
      },
      "");
}

int answer_parse_error(const CLI::App& app, const CLI::ParseError& e, std::vector<std::string> secrets) {
  set_secrets(std::move(secrets));
  std::ostringstream out, err;
  const int code = app.exit(e, out, err);
  std::cout << out.str();
  // CLI11 may repeat a mistyped argument; mask anything secret in it.
  std::istringstream lines(err.str());
  for (std::string line; std::getline(lines, line);) std::cerr << sanitize(line) << '\n';
  return code == 0 ? exit_ok : exit_usage;
}

connection_flags merge(const CLI::App* cmd, const connection_flags& after, connection_flags before) {
  auto given = [cmd](const char* name) { return cmd->get_option(name)->count() > 0; };
  server_settings& s = before.settings;
  const server_settings& a = after.settings;
  if (given("--server")) s.servers = a.servers;
  if (given("--user")) s.user = a.user;
  if (given("--password")) s.password = a.password;
  if (given("--token")) s.token = a.token;
  if (given("--creds")) s.credentials_file = a.credentials_file;
  if (given("--nkey")) s.nkey_seed_file = a.nkey_seed_file;
  if (given("--nkey-public")) s.nkey_public_key = a.nkey_public_key;
  if (given("--tls-ca")) s.tls_ca = a.tls_ca;
  if (given("--tls-cert")) s.tls_cert = a.tls_cert;
  if (given("--tls-key")) s.tls_key = a.tls_key;
  if (given("--bucket")) s.bucket = a.bucket;
  if (given("--timeout")) before.timeout = after.timeout;
  return before;
}

// What CLI11 cannot check: pairs across the main command and a subcommand, and values a server
// would refuse (or, for a bad bucket name, answer with its own text).
std::string inconsistency(const server_settings& s) {
  if (s.nkey_seed_file.empty() && !s.nkey_public_key.empty()) return "--nkey-public needs --nkey (the seed file)";
  for (const auto& [flag, file] : {std::pair{"--nkey", &s.nkey_seed_file}, std::pair{"--creds", &s.credentials_file}}) {
    if (!file->empty() && !std::ifstream(*file)) return std::string(flag) + ": cannot read '" + *file + "'";
  }
  if (s.tls_cert.empty() != s.tls_key.empty()) return "--tls-cert and --tls-key go together";
  for (const std::string& url : s.servers) {
    if (url.empty()) return "--server: a server URL is empty";
  }
  if (!flowstore::valid_bucket_name(s.bucket)) {
    return "--bucket: not a bucket name (1 to 252 of A-Z a-z 0-9 _ -)";
  }
  return {};
}


}  // namespace flowstore::cli
