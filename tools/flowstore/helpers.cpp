// Pure helpers of the tool: exit codes, error lines, durations, JSON layout, input files.
#include <flowstore/json.hpp>

#include "cli.hpp"

#include <boost/json/parse.hpp>
#include <boost/json/serialize.hpp>
#include <boost/json/string.hpp>
#include <boost/json/value.hpp>

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <charconv>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <iterator>
#include <openssl/sha.h>
#include <sstream>
#include <utility>

namespace flowstore::cli {

namespace {

std::vector<std::string>& secret_list() {
  static std::vector<std::string> secrets;
  return secrets;
}

}  // namespace

std::string quote(std::string_view s) { return "'" + sanitize(s) + "'"; }

int exit_code_for(const error& e) {
  if (e.code == condition::invalid) return exit_invalid;
  if (e.code == condition::transient) return exit_transient;
  return exit_fatal;
}

void set_secrets(std::vector<std::string> secrets) {
  // Longest first, so that a secret containing another is masked whole.
  std::erase_if(secrets, [](const std::string& s) { return s.empty(); });
  std::sort(secrets.begin(), secrets.end(), [](const auto& a, const auto& b) { return a.size() > b.size(); });
  secret_list() = std::move(secrets);
}

std::string sanitize(std::string_view text) {
  std::string out;
  out.reserve(text.size());
  for (char c : text) {
    const auto u = static_cast<unsigned char>(c);
    out += (u < 0x20 || u == 0x7f) ? ' ' : c;
  }
  for (const std::string& secret : secret_list()) {
    for (std::size_t at = out.find(secret); at != std::string::npos; at = out.find(secret, at + 3)) {
      out.replace(at, secret.size(), "***");
    }
  }
  return out;
}

std::string redact_url(std::string_view url) {
  const auto scheme = url.find("://");
  const std::size_t start = scheme == std::string_view::npos ? 0 : scheme + 3;
  const auto at = url.find('@', start);
  if (at == std::string_view::npos) return std::string(url);
  return std::string(url.substr(0, start)) + "***@" + std::string(url.substr(at + 1));
}

std::string describe(const error& e) {
  const std::string& server = e.server_text;
  if (server.empty() || e.message.ends_with(server)) return e.message;
  return e.message + " (server: " + server + ")";
}

int report(const error& e) { return report(describe(e), exit_code_for(e)); }

int report(std::string_view message, int code) {
  std::cout.flush();  // keep stdout and stderr in order on a terminal
  std::cerr << "flowstore: " << sanitize(message) << '\n';
  return code;
}

connect_options make_connect_options(const server_settings& s) {
  connect_options o;
  o.servers = s.servers.empty() ? std::vector<std::string>{default_server} : s.servers;
  o.name = "flowstore-cli";
  o.user = s.user;
  o.password = s.password;
  o.token = s.token;
  o.credentials_file = s.credentials_file;
  o.nkey_seed_file = s.nkey_seed_file;
  o.nkey_public_key = s.nkey_public_key;
  o.tls.ca_file = s.tls_ca;
  o.tls.cert_file = s.tls_cert;
  o.tls.key_file = s.tls_key;
  o.tls.enabled = !s.tls_ca.empty() || !s.tls_cert.empty();
  o.connect_timeout = s.timeout;
  o.operation_timeout = s.timeout;
  return o;
}

std::optional<std::chrono::milliseconds> parse_duration(std::string_view text) {
  std::int64_t number = 0;
  const char* first = text.data();
  const char* last = text.data() + text.size();
  auto [end, ec] = std::from_chars(first, last, number);
  if (ec != std::errc() || end == first || number <= 0) return std::nullopt;
  const std::string_view unit(end, static_cast<std::size_t>(last - end));
  std::int64_t factor = 0;
  if (unit.empty() || unit == "ms") {
    factor = 1;
  } else if (unit == "s") {
    factor = 1000;
  } else if (unit == "m") {
    factor = 60'000;
  } else {
    return std::nullopt;
  }
  if (number > std::int64_t{24} * 3600 * 1000 / factor) return std::nullopt;  // a day at most
  return std::chrono::milliseconds(number * factor);
}

std::string pretty_json(std::string_view in) {
  std::string out;
  out.reserve(in.size() + in.size() / 2);
  std::size_t depth = 0;
  auto newline = [&] {
    out += '\n';
    out.append(2 * depth, ' ');
  };
  for (std::size_t i = 0; i < in.size(); ++i) {
    const char c = in[i];
    switch (c) {
      case '"': {  // strings verbatim, escapes included
        std::size_t j = i + 1;
        while (j < in.size() && in[j] != '"') j += in[j] == '\\' ? 2 : 1;
        out.append(in.substr(i, j - i + 1));
        i = j;
        break;
      }
      case '{':
      case '[': {
        std::size_t j = i + 1;
        while (j < in.size() && std::isspace(static_cast<unsigned char>(in[j]))) ++j;
        if (j < in.size() && (in[j] == '}' || in[j] == ']')) {
          out += c;
          out += in[j];
          i = j;
          break;
        }
        out += c;
        ++depth;
        newline();
        break;
      }
      case '}':
      case ']':
        if (depth > 0) --depth;
        newline();
        out += c;
        break;
      case ',':
        out += ',';
        newline();
        break;
      case ':':
        out += ": ";
        break;
      case ' ':
      case '\t':
      case '\n':
      case '\r':
        break;
      default:
        out += c;
    }
  }
  return out;
}

std::string short_time(const timestamp& t) {
  std::string full = t.to_string();
  // "YYYY-MM-DDTHH:MM:SS[.fraction]Z": drop the fraction.
  if (full.size() > 20 && full[19] == '.') return full.substr(0, 19) + "Z";
  return full;
}

std::string export_file_name(std::string_view id) {
  std::string name;
  name.reserve(id.size() + 5);
  for (char c : id) {
    if (c == '/') {
      name += "%2F";
    } else if (c == '%') {
      name += "%25";
    } else {
      name += c;
    }
  }
  constexpr std::size_t max_name = 255;  // NAME_MAX of the file systems a backup goes to
  constexpr std::string_view extension = ".json";
  if (name.size() + extension.size() <= max_name) return name + std::string(extension);
  // Too long for one file name: a prefix of it, then '~' (never in an id, so no plain name
  // looks like this) and the id's SHA-256 in 32 hex digits, which keeps names of different ids
  // apart. The prefix ends before a %-escape it would cut.
  unsigned char digest[SHA256_DIGEST_LENGTH];
  SHA256(reinterpret_cast<const unsigned char*>(id.data()), id.size(), digest);
  std::string tail = "~";
  constexpr char hex[] = "0123456789abcdef";
  for (int i = 0; i < 16; ++i) {
    tail += hex[digest[i] >> 4];
    tail += hex[digest[i] & 0xF];
  }
  std::size_t keep = max_name - extension.size() - tail.size();
  if (keep >= 1 && name[keep - 1] == '%')
    keep -= 1;
  else if (keep >= 2 && name[keep - 2] == '%')
    keep -= 2;
  return name.substr(0, keep) + tail + std::string(extension);
}

std::optional<std::string> read_input(const std::string& path, std::string& problem) {
  if (path == "-") {
    std::ostringstream text;
    text << std::cin.rdbuf();
    if (std::cin.bad()) {
      problem = "cannot read standard input";
      return std::nullopt;
    }
    return std::move(text).str();
  }
  std::error_code ec;
  if (std::filesystem::is_directory(path, ec)) {
    problem = "cannot read " + quote(path) + ": it is a directory";
    return std::nullopt;
  }
  errno = 0;
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    const int why = errno;
    problem = "cannot read " + quote(path) + ": " + (why != 0 ? std::strerror(why) : "not readable");
    return std::nullopt;
  }
  try {
    std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    if (in.bad()) {
      problem = "cannot read " + quote(path) + ": a read error";
      return std::nullopt;
    }
    return text;
  } catch (const std::exception& e) {
    problem = "cannot read " + quote(path) + ": " + e.what();
    return std::nullopt;
  }
}

std::optional<std::int64_t> parse_version(std::string_view text) {
  std::int64_t value = 0;
  const auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
  if (text.empty() || ec != std::errc{} || end != text.data() + text.size()) return std::nullopt;
  return value;
}

result<flow> parse_flow_file(std::string_view text, const std::string& source) {
  auto decoded = flow_from_json(text);
  if (!decoded) {
    // The library calls an undecodable *stored* document corrupt (fatal); here it is the
    // user's file, so it is invalid input.
    return error{errc::invalid_argument,
                 source.empty() ? decoded.error().message : source + ": " + decoded.error().message};
  }
  return decoded;
}

result<std::map<std::string, component_config>> parse_component_configs(std::string_view text,
                                                                        const std::string& source) {
  auto fail = [&](const std::string& what) {
    return error{errc::invalid_argument, "component configuration " + source + ": " + what};
  };
  boost::system::error_code ec;
  boost::json::parse_options options;
  options.max_depth = max_json_depth;
  boost::json::value doc = boost::json::parse(text, ec, {}, options);
  if (ec) return fail("not JSON: " + ec.message());
  if (!doc.is_object()) return fail("expected a JSON object with a \"components\" member");
  const boost::json::value* components = doc.get_object().if_contains("components");
  if (components == nullptr || !components->is_object()) {
    return fail("expected a \"components\" member mapping component names to their settings");
  }
  std::map<std::string, component_config> configs;
  for (const auto& [key_view, value] : components->get_object()) {
    const std::string key(key_view);
    const std::string where = "components." + sanitize(key);
    if (!value.is_object()) return fail(where + ": expected an object");
    const boost::json::object& fields = value.get_object();
    component_config c;
    if (const auto* type = fields.if_contains("type")) {
      if (!type->is_string()) return fail(where + ".type: expected a string");
      c.type = component_type_from_string(type->get_string());
      if (c.type == component_type::unset || c.type == component_type::unrecognized) {
        return fail(where + ".type: " + quote(type->get_string()) +
                    " is not a component type (input, processor, output, storage, gateway)");
      }
    } else {
      return fail(where + ": \"type\" is missing");
    }
    if (const auto* name = fields.if_contains("name")) {
      if (!name->is_string()) return fail(where + ".name: expected a string");
      c.name = std::string(name->get_string());
    }
    if (const auto* enabled = fields.if_contains("enabled"); enabled != nullptr && !enabled->is_null()) {
      if (!enabled->is_bool()) return fail(where + ".enabled: expected true or false");
      c.enabled = enabled->get_bool();
    }
    if (const auto* config = fields.if_contains("config")) c.config = *config;
    configs.emplace(key, std::move(c));
  }
  return configs;
}

std::string event_json(const flow_event& event) {
  const char* kind = "put";
  switch (event.type) {
    case flow_event::kind::put:
      kind = "put";
      break;
    case flow_event::kind::deleted:
      kind = "deleted";
      break;
    case flow_event::kind::purged:
      kind = "purged";
      break;
    case flow_event::kind::initial_values_done:
      return R"({"event":"initial_values_done"})";
  }
  std::string line = std::string(R"({"event":")") + kind + R"(","id":)" +
                     boost::json::serialize(boost::json::value(boost::json::string(event.id))) + R"(,"revision":)" +
                     std::to_string(event.revision) + R"(,"time":")" + event.time.to_string() + '"';
  if (event.value) {
    auto json = to_json(*event.value);
    if (json) {
      line += R"(,"flow":)" + *json;
    } else {
      line += R"(,"error":)" + boost::json::serialize(boost::json::value(boost::json::string(json.error().message)));
    }
  }
  if (event.problem) {
    line += R"(,"error":)" + boost::json::serialize(boost::json::value(boost::json::string(event.problem->message)));
  }
  return line + '}';
}

}  // namespace flowstore::cli
