// The single-flow commands and list, history, watch, from-config and validate.
#include <flowstore/json.hpp>
#include <flowstore/store.hpp>
#include <flowstore/watch.hpp>

#include "cli.hpp"
#include "session.hpp"

#include <boost/asio/signal_set.hpp>
#include <boost/asio/this_coro.hpp>

#include <algorithm>
#include <csignal>
#include <filesystem>
#include <iostream>
#include <memory>
#include <string>
#include <utility>
#include <variant>
#include <vector>

#include <unistd.h>

namespace flowstore::cli {

namespace asio = boost::asio;

namespace {

// ---------------------------------------------------------------------------------------------
// Output


// Display width of UTF-8 text: its code points (good enough for names in a table).
std::size_t width_of(std::string_view s) {
  std::size_t n = 0;
  for (char c : s) n += (static_cast<unsigned char>(c) & 0xC0) != 0x80;
  return n;
}

// At most `limit` code points, ending with "…" when cut; control characters as '?', because
// names are user data and must not drive the terminal.
std::string cell(std::string_view s, std::size_t limit = 40) {
  std::string out;
  std::size_t points = 0;
  for (std::size_t i = 0; i < s.size(); ++i) {
    const auto u = static_cast<unsigned char>(s[i]);
    const bool starts_point = (u & 0xC0) != 0x80;
    if (starts_point && ++points > limit) {
      // Replace the last code point with an ellipsis.
      while (!out.empty() && (static_cast<unsigned char>(out.back()) & 0xC0) == 0x80) out.pop_back();
      if (!out.empty()) out.pop_back();
      out += "\u2026";
      break;
    }
    out += (u < 0x20 || u == 0x7f) ? '?' : s[i];
  }
  return out;
}

void print_table(const std::vector<std::vector<std::string>>& rows) {
  if (rows.empty()) return;
  std::vector<std::size_t> widths(rows.front().size(), 0);
  for (const auto& row : rows) {
    for (std::size_t i = 0; i < row.size(); ++i) widths[i] = std::max(widths[i], width_of(row[i]));
  }
  std::string out;
  for (const auto& row : rows) {
    std::string line;
    for (std::size_t i = 0; i < row.size(); ++i) {
      line += row[i];
      if (i + 1 < row.size()) line.append(widths[i] - width_of(row[i]) + 2, ' ');
    }
    out += line + '\n';
  }
  std::cout << out;
}

std::string_view operation_name(revision_operation op) {
  switch (op) {
    case revision_operation::put:
      return "put";
    case revision_operation::deleted:
      return "delete";
    case revision_operation::purged:
      return "purge";
  }
  return "?";
}

std::string state_name(const flow& f) {
  if (f.state == runtime_state::unrecognized) return f.unrecognized_state;
  return std::string(to_string(f.state));
}

// Reads and decodes a flow file; on failure reports and returns the exit code.
std::variant<flow, int> load_flow(const std::string& path) {
  std::string problem;
  auto text = read_input(path, problem);
  if (!text) return report(problem, exit_usage);
  auto decoded = parse_flow_file(*text, path == "-" ? "standard input" : quote(path));
  if (!decoded) return report(decoded.error());
  return std::move(decoded).value();
}

bool check_id(const std::string& id, std::string_view what, int& code) {
  if (valid_flow_id(id)) return true;
  code = report(std::string(what) + " flow " + quote(id) +
                    ": not a valid flow id (1-256 of [-/_=.A-Za-z0-9], no leading, trailing or double dot)",
                exit_invalid);
  return false;
}

// ---------------------------------------------------------------------------------------------
// Commands on an open store

asio::awaitable<int> list_flows(store& s, list_args a) {
  auto listed = co_await s.list();
  if (!listed) co_return report(listed.error());
  int code = exit_ok;
  if (a.json) {
    std::string array = "[";
    for (const flow& f : listed->flows) {
      auto json = to_json(f);
      if (!json) {
        code = report(json.error());
        continue;
      }
      if (array.size() > 1) array += ',';
      array += *json;
    }
    array += ']';
    std::cout << pretty_json(array) << '\n';
  } else {
    std::vector<std::vector<std::string>> rows{{"ID", "NAME", "STATE", "VERSION", "NODES", "UPDATED"}};
    for (const flow& f : listed->flows) {
      rows.push_back({cell(f.id, 256), cell(f.name), cell(state_name(f)), std::to_string(f.version),
                      std::to_string(f.nodes.size()), short_time(f.updated_at)});
    }
    print_table(rows);
  }
  // A corrupt document does not hide the others, but the run is not clean.
  for (const list_failure& failure : listed->failures) code = std::max(code, report(failure.problem));
  co_return code;
}

asio::awaitable<int> get_flow(store& s, get_args a) {
  if (a.raw) {
    // The stored bytes, not decoded: also a document that is not a flow.
    auto stored = co_await s.get_raw(a.id);
    if (!stored) co_return report(stored.error());
    std::cout << stored->document;
    if (isatty(STDOUT_FILENO)) std::cout << '\n';
    co_return exit_ok;
  }
  auto got = co_await s.get(a.id);
  if (!got) co_return report(got.error());
  auto json = to_json(*got);
  if (!json) co_return report(json.error());
  std::cout << pretty_json(*json) << '\n';
  co_return exit_ok;
}

asio::awaitable<int> create_flow(store& s, flow f) {
  auto created = co_await s.create(std::move(f));
  if (!created) co_return report(created.error());
  std::cout << "created flow " << quote(created->id) << " version " << created->version << '\n';
  co_return exit_ok;
}

asio::awaitable<int> update_flow(store& s, flow f) {
  // The document's version is the one the edit was based on: update() compares it with the
  // stored one and refuses with a conflict when somebody else wrote in between.
  f.revision = 0;
  auto updated = co_await s.update(std::move(f));
  if (!updated) co_return report(updated.error());
  std::cout << "updated flow " << quote(updated->id) << " to version " << updated->version << '\n';
  co_return exit_ok;
}

asio::awaitable<int> delete_flow(store& s, delete_args a) {
  result<void> removed = success();
  if (a.expect_version) {
    removed = co_await s.remove(a.id, *a.expect_version);
  } else {
    removed = co_await s.remove(a.id);
  }
  if (!removed) co_return report(removed.error());
  std::cout << "deleted flow " << quote(a.id) << '\n';
  co_return exit_ok;
}

asio::awaitable<int> show_history(store& s, history_args a) {
  auto revisions = co_await s.history(a.id);
  if (!revisions) co_return report(revisions.error());
  int code = exit_ok;
  if (a.json) {
    std::string array = "[";
    for (const flow_revision& r : *revisions) {
      if (array.size() > 1) array += ',';
      array += R"({"revision":)" + std::to_string(r.revision) + R"(,"operation":")" +
               std::string(operation_name(r.operation)) + R"(","time":")" + r.time.to_string() + '"';
      if (r.content && *r.content) {
        auto json = to_json(**r.content);
        if (json) array += R"(,"flow":)" + *json;
      }
      array += '}';
    }
    array += ']';
    std::cout << pretty_json(array) << '\n';
  } else {
    std::vector<std::vector<std::string>> rows{{"REVISION", "OPERATION", "VERSION", "TIME", "NAME"}};
    for (const flow_revision& r : *revisions) {
      std::string version = "-";
      std::string name;
      if (r.content && *r.content) {
        version = std::to_string((*r.content)->version);
        name = cell((*r.content)->name);
      } else if (r.content) {
        version = "?";
        name = "(corrupt document)";
      }
      rows.push_back(
          {std::to_string(r.revision), std::string(operation_name(r.operation)), version, r.time.to_string(), name});
    }
    print_table(rows);
  }
  for (const flow_revision& r : *revisions) {
    if (r.content && !*r.content) code = std::max(code, report(r.content->error()));
  }
  co_return code;
}

// Shared by the watch coroutine, its signal handler and the connection-event callback, which
// may outlive each other.
struct watch_state {
  std::optional<watcher> changes;
  bool interrupted = false;
  bool finishing = false;
};

asio::awaitable<int> watch_flows(store& s, watch_args a, std::shared_ptr<watch_state> state) {
  auto executor = co_await asio::this_coro::executor;
  watch_options options;
  options.start = a.updates_only ? watch_start::updates_only : watch_start::current_values;
  state->changes.emplace(s.watch(a.pattern, options));

  // Ctrl-C or SIGTERM stops the watch; the loop below then ends normally, output flushed.
  asio::signal_set signals(executor, SIGINT, SIGTERM);
  signals.async_wait([state](const boost::system::error_code& ec, int) {
    if (ec) return;
    state->interrupted = true;
    if (state->changes) state->changes->stop();
  });

  int code = exit_ok;
  while (true) {
    auto event = co_await state->changes->next();
    if (!event) {
      if (!(state->interrupted && event.error().code == errc::closed)) code = report(event.error());
      break;
    }
    // One line per event, flushed at once so that a pipe reader sees it immediately.
    std::cout << event_json(*event) << '\n' << std::flush;
    if (!std::cout) {
      code = report("watch: cannot write to standard output", exit_fatal);
      break;
    }
  }
  state->finishing = true;
  signals.cancel();
  // Destroy the watcher here, while its executor still runs.
  state->changes->stop();
  state->changes.reset();
  co_return code;
}

asio::awaitable<int> store_from_config(store& s, flow f) {
  auto created = co_await s.create(std::move(f));
  if (!created) co_return report(created.error());
  std::cout << created->id << '\n';
  co_return exit_ok;
}

}  // namespace

// ---------------------------------------------------------------------------------------------
// Entry points

int run_list(const server_settings& s, const list_args& a) {
  return run_with_store(s, [a](store& st, connection&) { return list_flows(st, a); }, {});
}

int run_get(const server_settings& s, const get_args& a) {
  int code = exit_ok;
  if (!check_id(a.id, "get", code)) return code;
  return run_with_store(s, [a](store& st, connection&) { return get_flow(st, a); }, {});
}

namespace {

// A file given to create or update is meant to be a finished flow: check it before connecting,
// unless --draft says it is a draft (the library stores drafts; the flow builder saves them).
bool passes_validation(flow f, bool creating, int& code) {
  if (creating && f.state == runtime_state::unset) f.state = runtime_state::not_deployed;
  auto valid = validate(f);
  if (valid) return true;
  code = report(valid.error());
  return false;
}

}  // namespace

int run_create(const server_settings& s, const write_args& a) {
  auto loaded = load_flow(a.file);
  if (auto* code = std::get_if<int>(&loaded)) return *code;
  flow f = std::get<flow>(std::move(loaded));
  int code = exit_ok;
  if (!a.draft && !passes_validation(f, true, code)) return code;
  return run_with_store(s, [f](store& st, connection&) { return create_flow(st, f); }, {});
}

int run_update(const server_settings& s, const write_args& a) {
  auto loaded = load_flow(a.file);
  if (auto* code = std::get_if<int>(&loaded)) return *code;
  flow f = std::get<flow>(std::move(loaded));
  int code = exit_ok;
  if (!a.draft && !passes_validation(f, false, code)) return code;
  return run_with_store(s, [f](store& st, connection&) { return update_flow(st, f); }, {});
}

int run_delete(const server_settings& s, const delete_args& a) {
  int code = exit_ok;
  if (!check_id(a.id, "remove", code)) return code;
  return run_with_store(s, [a](store& st, connection&) { return delete_flow(st, a); }, {});
}

int run_history(const server_settings& s, const history_args& a) {
  int code = exit_ok;
  if (!check_id(a.id, "history of", code)) return code;
  return run_with_store(s, [a](store& st, connection&) { return show_history(st, a); }, {});
}

int run_watch(const server_settings& s, const watch_args& a) {
  if (!valid_watch_pattern(a.pattern)) {
    return report("watch " + quote(a.pattern) + ": not a valid pattern (flow id tokens, '*' tokens, a final '>')",
                  exit_invalid);
  }
  auto state = std::make_shared<watch_state>();
  // A long-running watch rides out server restarts; say so on stderr, never on stdout.
  auto on_event = [state](const connection_event& e) {
    if (state->finishing) return;
    switch (e.what) {
      case connection_event::kind::disconnected:
        report("watch: disconnected from the server; reconnecting", exit_transient);
        break;
      case connection_event::kind::reconnected:
        report("watch: reconnected to " + redact_url(e.text), exit_ok);
        break;
      case connection_event::kind::closed:
        report("watch: connection closed", exit_transient);
        break;
      case connection_event::kind::error:
        report("watch: connection error: " + e.text, exit_transient);
        break;
    }
  };
  return run_with_store(
      s, [a, state](store& st, connection&) { return watch_flows(st, a, state); }, std::move(on_event));
}

int run_from_config(const server_settings& s, const from_config_args& a) {
  std::string problem;
  auto text = read_input(a.file, problem);
  if (!text) return report(problem, exit_usage);
  const std::string source = a.file == "-" ? "standard input" : quote(a.file);
  auto configs = parse_component_configs(*text, source);
  if (!configs) return report(configs.error());
  std::string name = a.name;
  if (name.empty()) {
    if (a.file == "-") return report("from-config: --name is required when reading standard input", exit_usage);
    name = std::filesystem::path(a.file).stem().string();
  }
  auto built = from_component_configs(name, *configs);
  if (!built) return report(built.error());
  flow f = std::move(built).value();
  return run_with_store(s, [f](store& st, connection&) { return store_from_config(st, f); }, {});
}

int run_validate(const validate_args& a) {
  auto loaded = load_flow(a.file);
  if (auto* code = std::get_if<int>(&loaded)) return *code;
  flow f = std::get<flow>(std::move(loaded));
  // create() stores a flow without a runtime state as not_deployed; judge it as create would.
  if (f.state == runtime_state::unset) f.state = runtime_state::not_deployed;
  const std::string source = a.file == "-" ? "standard input" : a.file;
  const auto problems = validation_problems(f);
  if (problems.empty()) {
    std::cout << sanitize(source) << ": valid flow " << quote(f.id) << " (" << f.nodes.size()
              << (f.nodes.size() == 1 ? " node, " : " nodes, ") << f.connections.size()
              << (f.connections.size() == 1 ? " connection)\n" : " connections)\n");
    return exit_ok;
  }
  std::cout << sanitize(source) << ": " << problems.size() << (problems.size() == 1 ? " problem\n" : " problems\n");
  for (const auto& p : problems) std::cout << "  " << sanitize(p.to_string()) << '\n';
  return exit_invalid;
}

}  // namespace flowstore::cli
