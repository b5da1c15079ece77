// What the command-line tool's tests share: running the tool as a child process against a
// nats-server, temporary directories, sample flows and reading back what the tool stored.
#pragma once

#include <flowstore/flow.hpp>
#include <flowstore/json.hpp>

#include "cli.hpp"
#include "support/child_process.hpp"
#include "support/nats_server.hpp"

#include <boost/json/parse.hpp>
#include <boost/json/serialize.hpp>
#include <boost/json/value.hpp>

#include <catch2/catch.hpp>

#include <nats.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <csignal>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <limits>
#include <map>
#include <optional>
#include <sstream>
#include <string>
#include <system_error>
#include <utility>
#include <vector>

#include <fcntl.h>
#include <poll.h>
#include <sys/wait.h>
#include <unistd.h>

namespace flowstore::test::cli_tests {

namespace fs = std::filesystem;
using namespace std::chrono_literals;
using clock_type = std::chrono::steady_clock;
using flowstore::test::nats_server;
using flowstore::test::run_result;

// ---------------------------------------------------------------------------------------------
// Running the tool

// The tool as a child process: `flowstore args...`.
struct child : flowstore::test::child_process {
  explicit child(const std::vector<std::string>& args, const std::map<std::string, std::string>& env = {})
      : child_process(FLOWSTORE_CLI, args, env) {}
};

inline run_result run(const std::vector<std::string>& args, const std::string& input = {},
                      const std::map<std::string, std::string>& env = {}) {
  child c(args, env);
  if (!input.empty()) c.write_stdin(input);
  return c.finish();
}

// The tool against a server: `command args... --server URL`.
inline run_result run_at(const nats_server& server, std::vector<std::string> args, const std::string& input = {}) {
  args.push_back("--server");
  args.push_back(server.url());
  return run(args, input);
}

#define INFO_RUN(r) INFO("exit " << (r).exit_code << "\nstdout:\n" << (r).out << "stderr:\n" << (r).err)

// ---------------------------------------------------------------------------------------------
// Files and flows

class temp_dir {
 public:
  temp_dir() {
    std::string pattern = (fs::temp_directory_path() / "flowstore-cli-XXXXXX").string();
    REQUIRE(mkdtemp(pattern.data()) != nullptr);
    path_ = pattern;
  }
  ~temp_dir() {
    std::error_code ec;
    fs::remove_all(path_, ec);
  }
  temp_dir(const temp_dir&) = delete;
  temp_dir& operator=(const temp_dir&) = delete;
  const fs::path& path() const { return path_; }
  std::string operator/(const std::string& name) const { return (path_ / name).string(); }

 private:
  fs::path path_;
};

inline void write_text(const std::string& path, const std::string& text) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out << text;
  REQUIRE(out.good());
}

inline std::string read_text(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::ostringstream text;
  text << in.rdbuf();
  return std::move(text).str();
}

// A flow with `nodes` nodes in a chain, connected in order, with some config to round-trip.
inline flowstore::flow sample_flow(const std::string& id, const std::string& name, int nodes = 3) {
  flowstore::flow f;
  f.id = id;
  f.name = name;
  f.description = "sample <" + id + "> & co";
  f.state = flowstore::runtime_state::not_deployed;
  for (int i = 0; i < nodes; ++i) {
    flowstore::flow_node n;
    n.id = "n" + std::to_string(i);
    n.component = i == 0 ? "udp" : "graph-processor";
    n.type = i == 0 ? flowstore::component_type::input : flowstore::component_type::processor;
    n.name = n.component + "-" + std::to_string(i);
    n.pos = {100.5 + 300 * i, 80};
    n.config = {{"port", 5000 + i}, {"tags", boost::json::array{"a", "b"}}, {"ratio", 0.25}};
    f.nodes.push_back(std::move(n));
  }
  for (int i = 1; i < nodes; ++i) {
    f.connections.push_back({.id = "c" + std::to_string(i),
                             .source_node_id = "n" + std::to_string(i - 1),
                             .source_port = "out",
                             .target_node_id = "n" + std::to_string(i),
                             .target_port = "in"});
  }
  return f;
}

inline std::string json_of(const flowstore::flow& f) {
  auto json = flowstore::to_json(f);
  REQUIRE(json);
  return *json;
}

inline flowstore::flow flow_of(const std::string& json) {
  auto f = flowstore::flow_from_json(json);
  INFO(json);
  REQUIRE(f);
  return *f;
}

// The document without what the store sets itself on create (version and audit times).
inline std::string content_of(flowstore::flow f) {
  f.version = 0;
  f.revision = 0;
  f.created_at = {};
  f.updated_at = {};
  f.last_modified = {};
  return json_of(f);
}

// `list --json` as documents by id.
inline std::map<std::string, flowstore::flow> listed(const nats_server& server,
                                                     const std::vector<std::string>& extra = {}) {
  std::vector<std::string> args{"list", "--json"};
  args.insert(args.end(), extra.begin(), extra.end());
  const auto r = run_at(server, args);
  INFO_RUN(r);
  REQUIRE(r.exit_code == 0);
  const boost::json::value doc = boost::json::parse(r.out);
  REQUIRE(doc.is_array());
  std::map<std::string, flowstore::flow> flows;
  for (const auto& each : doc.get_array()) {
    auto f = flow_of(boost::json::serialize(each));
    flows.emplace(f.id, f);
  }
  return flows;
}

inline void create_with_tool(const nats_server& server, const temp_dir& dir, const flowstore::flow& f) {
  const std::string file = dir / ("in-" + std::to_string(std::hash<std::string>{}(f.id)) + ".json");
  write_text(file, json_of(f));
  const auto r = run_at(server, {"create", file});
  INFO_RUN(r);
  REQUIRE(r.exit_code == 0);
}

}  // namespace flowstore::test::cli_tests
