// Tests of the flowstore command-line tool. Most run the real binary (fork + exec, its stdout
// and stderr captured) against a real nats-server started by the fixture; a few check the
// tool's pure helpers directly.
#include "cli.hpp"

#include <flowstore/flow.hpp>
#include <flowstore/json.hpp>

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

namespace {

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

run_result run(const std::vector<std::string>& args, const std::string& input = {},
               const std::map<std::string, std::string>& env = {}) {
  child c(args, env);
  if (!input.empty()) c.write_stdin(input);
  return c.finish();
}

// The tool against a server: `command args... --server URL`.
run_result run_at(const nats_server& server, std::vector<std::string> args, const std::string& input = {}) {
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

void write_text(const std::string& path, const std::string& text) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out << text;
  REQUIRE(out.good());
}

std::string read_text(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::ostringstream text;
  text << in.rdbuf();
  return std::move(text).str();
}

// A flow with `nodes` nodes in a chain, connected in order, with some config to round-trip.
flowstore::flow sample_flow(const std::string& id, const std::string& name, int nodes = 3) {
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

std::string json_of(const flowstore::flow& f) {
  auto json = flowstore::to_json(f);
  REQUIRE(json);
  return *json;
}

flowstore::flow flow_of(const std::string& json) {
  auto f = flowstore::flow_from_json(json);
  INFO(json);
  REQUIRE(f);
  return *f;
}

// The document without what the store sets itself on create (version and audit times).
std::string content_of(flowstore::flow f) {
  f.version = 0;
  f.revision = 0;
  f.created_at = {};
  f.updated_at = {};
  f.last_modified = {};
  return json_of(f);
}

// `list --json` as documents by id.
std::map<std::string, flowstore::flow> listed(const nats_server& server, const std::vector<std::string>& extra = {}) {
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

void create_with_tool(const nats_server& server, const temp_dir& dir, const flowstore::flow& f) {
  const std::string file = dir / ("in-" + std::to_string(std::hash<std::string>{}(f.id)) + ".json");
  write_text(file, json_of(f));
  const auto r = run_at(server, {"create", file});
  INFO_RUN(r);
  REQUIRE(r.exit_code == 0);
}

}  // namespace

// =============================================================================================
// Pure helpers

TEST_CASE("pretty_json indents like Go's json.Indent and keeps numbers and escapes", "[cli][unit]") {
  using flowstore::cli::pretty_json;
  CHECK(pretty_json(R"({"a":1,"b":[],"c":{},"d":[1.5e+21,"x\"y,{"]})") ==
        "{\n  \"a\": 1,\n  \"b\": [],\n  \"c\": {},\n  \"d\": [\n    1.5e+21,\n    \"x\\\"y,{\"\n  ]\n}");
  CHECK(pretty_json("[]") == "[]");
  CHECK(pretty_json(R"("\\")") == R"("\\")");
  const std::string compact = json_of(sample_flow("p", "P"));
  CHECK(boost::json::parse(pretty_json(compact)) == boost::json::parse(compact));
}

TEST_CASE("durations take milliseconds or a unit", "[cli][unit]") {
  using flowstore::cli::parse_duration;
  CHECK(parse_duration("1500") == 1500ms);
  CHECK(parse_duration("250ms") == 250ms);
  CHECK(parse_duration("5s") == 5000ms);
  CHECK(parse_duration("2m") == 120000ms);
  CHECK_FALSE(parse_duration("0"));
  CHECK_FALSE(parse_duration("-5s"));
  CHECK_FALSE(parse_duration("5h"));
  CHECK_FALSE(parse_duration("s"));
  CHECK_FALSE(parse_duration(""));
}

TEST_CASE("export file names map every id to one file", "[cli][unit]") {
  using flowstore::cli::export_file_name;
  CHECK(export_file_name("plain") == "plain.json");
  CHECK(export_file_name("team/a.b") == "team%2Fa.b.json");
  CHECK(export_file_name("100%") == "100%25.json");
  // Names that would pass 255 bytes: a prefix and the id's hash, all of them different.
  const std::string longest(256, 'x');
  const std::string slashes = std::string(85, '/') + "end";  // 85 slashes become 255 bytes of %2F
  std::vector<std::string> names;
  for (const std::string& id : {longest, longest.substr(1) + "y", slashes,
                                std::string(200, 'a') + "/" + std::string(55, 'b'), std::string(250, 'z')}) {
    const std::string name = export_file_name(id);
    INFO(id);
    CHECK(name.size() <= 255);
    CHECK(name.ends_with(".json"));
    names.push_back(name);
  }
  CHECK(names[0].find('~') != std::string::npos);
  CHECK(names[2].find('~') != std::string::npos);
  CHECK(names[4] == std::string(250, 'z') + ".json");  // 255 exactly: kept as it is
  std::sort(names.begin(), names.end());
  CHECK(std::adjacent_find(names.begin(), names.end()) == names.end());
  // A cut never splits a %-escape.
  const std::string cut = export_file_name(slashes);
  const auto tilde = cut.find('~');
  CHECK(tilde % 3 == 0);
}

TEST_CASE("versions on the command line are whole 64-bit numbers", "[cli][unit]") {
  using flowstore::cli::parse_version;
  CHECK(parse_version("3") == 3);
  CHECK(parse_version("-5") == -5);
  CHECK(parse_version("9223372036854775807") == std::numeric_limits<std::int64_t>::max());
  CHECK_FALSE(parse_version("9223372036854775808"));
  CHECK_FALSE(parse_version("18446744073709551617"));
  CHECK_FALSE(parse_version(""));
  CHECK_FALSE(parse_version("3x"));
  CHECK_FALSE(parse_version("3.0"));
  CHECK_FALSE(parse_version(" 3"));
}

TEST_CASE("component configuration files: fields, defaults and errors", "[cli][unit]") {
  using flowstore::cli::parse_component_configs;
  auto ok = parse_component_configs(
      R"({"components":{"a":{"type":"input","name":"udp","config":{"port":1}},"b":{"type":"output","name":"f","enabled":false}}})",
      "t");
  REQUIRE(ok);
  REQUIRE(ok->size() == 2);
  CHECK(ok->at("a").enabled);
  CHECK(ok->at("a").type == flowstore::component_type::input);
  CHECK(ok->at("a").config.at("port") == 1);
  CHECK_FALSE(ok->at("b").enabled);

  auto bad_type = parse_component_configs(R"({"components":{"a":{"type":"sink","name":"x"}}})", "t");
  REQUIRE_FALSE(bad_type);
  CHECK(bad_type.error().code == flowstore::condition::invalid);
  CHECK_THAT(bad_type.error().message, Catch::Contains("components.a.type") && Catch::Contains("'sink'"));
  CHECK_FALSE(parse_component_configs("[]", "t"));
  CHECK_FALSE(parse_component_configs("{}", "t"));
  CHECK_FALSE(parse_component_configs("{", "t"));
  CHECK_FALSE(parse_component_configs(R"({"components":{"a":{"type":"input","enabled":"yes"}}})", "t"));
}

TEST_CASE("error lines hide secrets, nats.c internals and control characters", "[cli][unit]") {
  using namespace flowstore::cli;
  set_secrets({"hunter2222"});
  CHECK(sanitize("bad password hunter2222\nnext") == "bad password *** next");
  set_secrets({});
  // The library takes nats.c's source locations off; the server's words are kept beside ours.
  const flowstore::error e{flowstore::errc::connection_failed,
                           "connect to nats://x:1: No server available for connection",
                           "No server available for connection"};
  CHECK(describe(e) == "connect to nats://x:1: No server available for connection");
  CHECK(describe({flowstore::errc::server_error, "get flow 'x': JetStream error 10077", "store failed"}) ==
        "get flow 'x': JetStream error 10077 (server: store failed)");
  CHECK(redact_url("nats://u:p@h:4222") == "nats://***@h:4222");
  CHECK(exit_code_for(e) == exit_transient);
  CHECK(exit_code_for({flowstore::errc::conflict, "x"}) == exit_invalid);
  CHECK(exit_code_for({flowstore::errc::corrupt_data, "x"}) == exit_fatal);
}

// =============================================================================================
// Offline: help, usage, validate

TEST_CASE("--help works on every command, with examples and the exit codes", "[cli]") {
  const auto top = run({"--help"});
  INFO_RUN(top);
  CHECK(top.exit_code == 0);
  CHECK_THAT(top.out, Catch::Contains("Exit codes:") && Catch::Contains("3  transient"));
  for (const char* command : {"list", "get", "create", "update", "delete", "history", "watch", "export", "import",
                              "from-config", "validate"}) {
    const auto r = run({command, "--help"});
    INFO(command);
    INFO_RUN(r);
    CHECK(r.exit_code == 0);
    CHECK_THAT(r.out, Catch::Contains("Examples:") && Catch::Contains("flowstore " + std::string(command)) &&
                          Catch::Contains("Exit codes:"));
    if (std::string(command) != "validate")
      CHECK_THAT(r.out, Catch::Contains("--server") && Catch::Contains("--timeout"));
  }
}

TEST_CASE("usage errors exit 1", "[cli]") {
  CHECK(run({}).exit_code == 1);
  CHECK(run({"frobnicate"}).exit_code == 1);
  CHECK(run({"get"}).exit_code == 1);                             // missing ID
  CHECK(run({"list", "--timeout", "soon"}).exit_code == 1);       // bad duration
  CHECK(run({"list", "--nkey-public", "UAVOZ7IVLKTXZH7PTN3YUNBJINIK7JGL7SU5PY6VDK7B6RCUI37UUH3D"}).exit_code == 1);
  const auto unreadable_seed = run({"list", "--nkey", "/nonexistent"});
  INFO_RUN(unreadable_seed);
  CHECK(unreadable_seed.exit_code == 1);
  CHECK_THAT(unreadable_seed.err, Catch::Contains("--nkey: cannot read '/nonexistent'"));
  CHECK(run({"import", "/nonexistent/dir"}).exit_code == 1);
  const auto missing = run({"create", "/nonexistent/flow.json"});
  INFO_RUN(missing);
  CHECK(missing.exit_code == 1);
  CHECK_THAT(missing.err, Catch::StartsWith("flowstore: cannot read '/nonexistent/flow.json': No such file"));

  // A directory where a file is expected: exit 1 saying so, not an abort.
  temp_dir dir;
  for (const char* command : {"validate", "create", "update"}) {
    const auto r = run({command, dir.path().string()});
    INFO_RUN(r);
    CHECK(r.exit_code == 1);
    CHECK_THAT(r.err, Catch::Contains("it is a directory"));
  }
  // Values the tool can check itself are usage errors, not the server's text.
  const auto huge_version = run({"delete", "x", "--expect-version", "18446744073709551617"});
  INFO_RUN(huge_version);
  CHECK(huge_version.exit_code == 1);
  CHECK_THAT(huge_version.err, Catch::Contains("not a version"));
  CHECK(run({"delete", "x", "--expect-version", "2x"}).exit_code == 1);
  const auto long_bucket = run({"list", "--bucket", std::string(257, 'b')});
  INFO_RUN(long_bucket);
  CHECK(long_bucket.exit_code == 1);
  CHECK_THAT(long_bucket.err, Catch::Contains("--bucket: not a bucket name"));
  CHECK(run({"list", "--bucket", "has space"}).exit_code == 1);
  CHECK(run({"list", "--bucket", ""}).exit_code == 1);
  const auto empty_server = run({"list", "-s", ""});
  INFO_RUN(empty_server);
  CHECK(empty_server.exit_code == 1);
  CHECK_THAT(empty_server.err, Catch::Contains("a server URL is empty"));
}

TEST_CASE("validate checks a file offline and prints every problem", "[cli]") {
  temp_dir dir;
  auto good = sample_flow("good", "Good");
  write_text(dir / "good.json", json_of(good));
  const auto ok = run({"validate", dir / "good.json"});
  INFO_RUN(ok);
  CHECK(ok.exit_code == 0);
  CHECK_THAT(ok.out, Catch::Contains("valid flow 'good' (3 nodes, 2 connections)"));

  // From stdin as well.
  const auto piped = run({"validate", "-"}, json_of(good));
  CHECK(piped.exit_code == 0);

  auto bad = sample_flow("bad id", "");
  bad.nodes[1].name.clear();
  bad.connections[0].target_node_id = "ghost";
  write_text(dir / "bad.json", json_of(bad));
  const auto invalid = run({"validate", dir / "bad.json"});
  INFO_RUN(invalid);
  CHECK(invalid.exit_code == 2);
  CHECK_THAT(invalid.out, Catch::Contains("4 problems"));
  CHECK_THAT(invalid.out,
             Catch::Contains("flow: ") && Catch::Contains("node[1] 'n1'") && Catch::Contains("connection[0] 'c1'"));

  write_text(dir / "junk.json", "{\"id\": \"x\", \"nodes\": 3");
  const auto junk = run({"validate", dir / "junk.json"});
  INFO_RUN(junk);
  CHECK(junk.exit_code == 2);
  CHECK_THAT(junk.err, Catch::StartsWith("flowstore: '") && Catch::Contains("junk.json"));
}

// =============================================================================================
// Against a server

TEST_CASE("create, get, list, update, history and delete: the success paths", "[cli]") {
  nats_server server;
  temp_dir dir;
  const auto f = sample_flow("team/pipeline", "Pipeline");
  write_text(dir / "f.json", json_of(f));

  const auto created = run_at(server, {"create", dir / "f.json"});
  INFO_RUN(created);
  REQUIRE(created.exit_code == 0);
  CHECK(created.out == "created flow 'team/pipeline' version 1\n");

  const auto got = run_at(server, {"get", "team/pipeline"});
  INFO_RUN(got);
  REQUIRE(got.exit_code == 0);
  CHECK_THAT(got.out, Catch::StartsWith("{\n  \"id\": \"team/pipeline\",\n  \"name\": \"Pipeline\","));
  const auto stored = flow_of(got.out);
  CHECK(content_of(stored) == content_of(f));
  CHECK(stored.version == 1);

  // --raw is the compact document, the same flow.
  const auto raw = run_at(server, {"get", "team/pipeline", "--raw"});
  REQUIRE(raw.exit_code == 0);
  CHECK(raw.out == json_of(stored));

  const auto table = run_at(server, {"list"});
  INFO_RUN(table);
  REQUIRE(table.exit_code == 0);
  CHECK_THAT(table.out, Catch::StartsWith("ID             NAME      STATE         VERSION  NODES  UPDATED\n"
                                          "team/pipeline  Pipeline  not_deployed  1        3      "));
  CHECK(listed(server).size() == 1);

  // Edit the document read with get, update from stdin.
  auto edited = stored;
  edited.name = "Pipeline v2";
  const auto updated = run_at(server, {"update", "-"}, json_of(edited));
  INFO_RUN(updated);
  REQUIRE(updated.exit_code == 0);
  CHECK(updated.out == "updated flow 'team/pipeline' to version 2\n");
  CHECK(listed(server).at("team/pipeline").name == "Pipeline v2");

  const auto removed = run_at(server, {"delete", "team/pipeline", "--expect-version", "2"});
  INFO_RUN(removed);
  REQUIRE(removed.exit_code == 0);
  CHECK(removed.out == "deleted flow 'team/pipeline'\n");

  const auto history = run_at(server, {"history", "team/pipeline"});
  INFO_RUN(history);
  REQUIRE(history.exit_code == 0);
  std::istringstream lines(history.out);
  std::vector<std::string> rows;
  for (std::string line; std::getline(lines, line);) rows.push_back(line);
  REQUIRE(rows.size() == 4);
  CHECK_THAT(rows[0], Catch::StartsWith("REVISION  OPERATION  VERSION  TIME"));
  CHECK_THAT(rows[1], Catch::StartsWith("1         put        1        20") && Catch::EndsWith("Pipeline"));
  CHECK_THAT(rows[2], Catch::StartsWith("2         put        2        20") && Catch::EndsWith("Pipeline v2"));
  CHECK_THAT(rows[3], Catch::StartsWith("3         delete     -        20"));

  const auto history_json = run_at(server, {"history", "team/pipeline", "--json"});
  REQUIRE(history_json.exit_code == 0);
  const auto revisions = boost::json::parse(history_json.out).as_array();
  REQUIRE(revisions.size() == 3);
  CHECK(revisions[1].at("operation") == "put");
  CHECK(revisions[1].at("flow").at("version") == 2);
  CHECK(revisions[2].at("operation") == "delete");

  CHECK(listed(server).empty());
}

TEST_CASE("a missing flow exits 2, naming the flow", "[cli]") {
  nats_server server;
  for (const char* command : {"get", "delete", "history"}) {
    const auto r = run_at(server, {command, "no-such-flow"});
    INFO_RUN(r);
    CHECK(r.exit_code == 2);
    CHECK(r.out.empty());
    CHECK_THAT(r.err, Catch::StartsWith("flowstore: ") && Catch::Contains("'no-such-flow'") &&
                          Catch::EndsWith("no such flow\n"));
    CHECK(std::count(r.err.begin(), r.err.end(), '\n') == 1);
  }
  temp_dir dir;
  write_text(dir / "f.json", json_of(sample_flow("ghost", "Ghost")));
  const auto update = run_at(server, {"update", dir / "f.json"});
  INFO_RUN(update);
  CHECK(update.exit_code == 2);
  CHECK_THAT(update.err, Catch::Contains("update flow 'ghost': no such flow"));

  const auto bad_id = run_at(server, {"get", "no spaces"});
  CHECK(bad_id.exit_code == 2);
}

TEST_CASE("a version conflict exits 2 with a clear message", "[cli]") {
  nats_server server;
  temp_dir dir;
  create_with_tool(server, dir, sample_flow("shared", "Shared"));
  const std::string v1 = run_at(server, {"get", "shared"}).out;

  // Two editors start from version 1; the first one's update wins.
  auto first = flow_of(v1);
  first.name = "First";
  write_text(dir / "first.json", json_of(first));
  REQUIRE(run_at(server, {"update", dir / "first.json"}).exit_code == 0);

  auto second = flow_of(v1);
  second.name = "Second";
  write_text(dir / "second.json", json_of(second));
  const auto conflict = run_at(server, {"update", dir / "second.json"});
  INFO_RUN(conflict);
  CHECK(conflict.exit_code == 2);
  CHECK(conflict.err == "flowstore: update flow 'shared': conflict: expected version 1, current version 2\n");
  CHECK(listed(server).at("shared").name == "First");

  const auto stale_delete = run_at(server, {"delete", "shared", "--expect-version", "1"});
  INFO_RUN(stale_delete);
  CHECK(stale_delete.exit_code == 2);
  CHECK_THAT(stale_delete.err, Catch::Contains("conflict: expected version 1, current version 2"));

  const auto exists = run_at(server, {"create", dir / "first.json"});
  INFO_RUN(exists);
  CHECK(exists.exit_code == 2);
  CHECK_THAT(exists.err, Catch::Contains("create flow 'shared'"));
}

TEST_CASE("an invalid document exits 2 and nothing is stored, unless --draft says it is a draft", "[cli]") {
  nats_server server;
  temp_dir dir;
  auto broken = sample_flow("broken", "Broken");
  broken.connections[0].source_node_id = "nowhere";
  write_text(dir / "broken.json", json_of(broken));
  const auto invalid = run_at(server, {"create", dir / "broken.json"});
  INFO_RUN(invalid);
  CHECK(invalid.exit_code == 2);
  CHECK_THAT(invalid.err, Catch::Contains("connection[0] 'c1'") && Catch::Contains("nowhere"));

  write_text(dir / "junk.json", "not json at all");
  const auto junk = run_at(server, {"create", dir / "junk.json"});
  INFO_RUN(junk);
  CHECK(junk.exit_code == 2);
  CHECK(std::count(junk.err.begin(), junk.err.end(), '\n') == 1);

  CHECK(listed(server).empty());

  // --draft stores it anyway, as the flow builder saves drafts; update takes it too.
  const auto draft = run_at(server, {"create", "--draft", dir / "broken.json"});
  INFO_RUN(draft);
  CHECK(draft.exit_code == 0);
  const auto stored = listed(server);
  CHECK(stored.size() == 1);
  CHECK(stored.count("broken") == 1);
  broken.version = 1;
  broken.name = "Broken, renamed";
  write_text(dir / "broken.json", json_of(broken));
  const auto refused_update = run_at(server, {"update", dir / "broken.json"});
  INFO_RUN(refused_update);
  CHECK(refused_update.exit_code == 2);
  const auto draft_update = run_at(server, {"update", "--draft", dir / "broken.json"});
  INFO_RUN(draft_update);
  CHECK(draft_update.exit_code == 0);
  CHECK_THAT(draft_update.out, Catch::Contains("version 2"));
}

TEST_CASE("no server reachable exits 3 promptly", "[cli]") {
  const std::string url = "nats://127.0.0.1:" + std::to_string(flowstore::test::free_loopback_port());
  temp_dir dir;
  write_text(dir / "f.json", json_of(sample_flow("f", "F")));
  for (std::vector<std::string> args : {std::vector<std::string>{"list"},
                                        {"get", "f"},
                                        {"create", dir / "f.json"},
                                        {"watch"},
                                        {"import", dir.path()}}) {
    args.insert(args.end(), {"--server", url, "--timeout", "500ms"});
    const auto start = clock_type::now();
    const auto r = run(args);
    INFO(args[0]);
    INFO_RUN(r);
    CHECK(r.exit_code == 3);
    CHECK(clock_type::now() - start < 10s);
    CHECK_THAT(r.err, Catch::StartsWith("flowstore: connect to " + url + ": "));
    CHECK_THAT(r.err, !Catch::Contains(".c:"));  // no nats.c source locations
  }
  // The environment variable and the flag before the command work as well.
  CHECK(run({"list", "--timeout", "500ms"}, {}, {{"FLOWSTORE_SERVER", url}}).exit_code == 3);
  CHECK(run({"--server", url, "--timeout", "1", "list"}).exit_code == 3);
}

TEST_CASE("connection flags: user/password and token authentication, secrets never printed", "[cli]") {
  SECTION("user and password") {
    flowstore::test::server_options options;
    options.extra_config = "authorization { user: alice, password: \"s3cret-pass\" }\n";
    options.auth.user = "alice";
    options.auth.password = "s3cret-pass";
    nats_server server(options);

    const auto ok = run_at(server, {"list", "--user", "alice", "--password", "s3cret-pass"});
    INFO_RUN(ok);
    CHECK(ok.exit_code == 0);
    const auto from_env =
        run({"list"}, {},
            {{"FLOWSTORE_SERVER", server.url()}, {"FLOWSTORE_USER", "alice"}, {"FLOWSTORE_PASSWORD", "s3cret-pass"}});
    INFO_RUN(from_env);
    CHECK(from_env.exit_code == 0);

    const auto refused = run_at(server, {"list", "--user", "alice", "--password", "wrong-password"});
    INFO_RUN(refused);
    CHECK(refused.exit_code == 2);  // authentication_failed: invalid input, retrying cannot help
    CHECK_THAT(refused.err, !Catch::Contains("wrong-password"));

    // Credentials in the URL are masked too.
    const std::string port = std::to_string(server.port());
    const auto in_url = run({"list", "--server", "nats://alice:bad-url-secret@127.0.0.1:" + port});
    INFO_RUN(in_url);
    CHECK(in_url.exit_code == 2);
    CHECK_THAT(in_url.err, !Catch::Contains("bad-url-secret") && Catch::Contains("***@127.0.0.1"));
  }
  SECTION("token") {
    flowstore::test::server_options options;
    options.extra_config = "authorization { token: \"tok-123456\" }\n";
    options.auth.token = "tok-123456";
    nats_server server(options);
    const auto ok = run_at(server, {"list", "--token", "tok-123456"});
    INFO_RUN(ok);
    CHECK(ok.exit_code == 0);
    const auto refused = run_at(server, {"list", "--token", "tok-wrong-99"});
    INFO_RUN(refused);
    CHECK(refused.exit_code == 2);
    CHECK_THAT(refused.err, !Catch::Contains("tok-wrong-99"));
  }
}

namespace {

// Puts bytes that are not a flow under `key`, the way a broken writer would (the tool cannot).
void put_raw(const nats_server& server, const std::string& key, const std::string& bytes) {
  natsConnection* nc = nullptr;
  REQUIRE(natsConnection_ConnectTo(&nc, server.url().c_str()) == NATS_OK);
  natsMsg* reply = nullptr;
  const std::string subject = "$KV.semstreams_flows." + key;
  const natsStatus s =
      natsConnection_Request(&reply, nc, subject.c_str(), bytes.data(), static_cast<int>(bytes.size()), 5000);
  const std::string ack = reply != nullptr ? std::string(natsMsg_GetData(reply), natsMsg_GetDataLength(reply)) : "";
  natsMsg_Destroy(reply);
  natsConnection_Destroy(nc);
  INFO(ack);
  REQUIRE(s == NATS_OK);
  REQUIRE_THAT(ack, Catch::Contains("\"seq\""));
}

}  // namespace

TEST_CASE("a corrupt stored document exits 4 and hides nothing else", "[cli]") {
  nats_server server;
  temp_dir dir;
  create_with_tool(server, dir, sample_flow("fine", "Fine"));
  put_raw(server, "broken", "this is not JSON");

  const auto table = run_at(server, {"list"});
  INFO_RUN(table);
  CHECK(table.exit_code == 4);
  CHECK_THAT(table.out, Catch::Contains("\nfine "));
  CHECK_THAT(table.err, Catch::StartsWith("flowstore: list flow 'broken'"));

  const auto got = run_at(server, {"get", "broken"});
  INFO_RUN(got);
  CHECK(got.exit_code == 4);
  CHECK_THAT(got.err, Catch::StartsWith("flowstore: get flow 'broken'"));

  const auto history = run_at(server, {"history", "broken"});
  INFO_RUN(history);
  CHECK(history.exit_code == 4);
  CHECK_THAT(history.out, Catch::Contains("(corrupt document)"));

  const auto exported = run_at(server, {"export", dir / "out"});
  INFO_RUN(exported);
  CHECK(exported.exit_code == 4);
  CHECK_THAT(exported.out, Catch::StartsWith("exported 1 flow to") && Catch::Contains("1 failed"));
  CHECK(fs::exists(dir / "out/fine.json"));

  // The watch reports it in the event and carries on.
  child watch({"watch", "--server", server.url()});
  const auto deadline = clock_type::now() + 20s;
  std::vector<std::string> lines;
  while (lines.empty() || lines.back() != R"({"event":"initial_values_done"})") {
    auto line = watch.read_line(deadline);
    REQUIRE(line);
    lines.push_back(*line);
  }
  REQUIRE(lines.size() == 3);
  const auto broken = boost::json::parse(lines[0].find("broken") != std::string::npos ? lines[0] : lines[1]);
  CHECK(broken.at("event") == "put");
  CHECK_THAT(std::string(broken.at("error").as_string()), Catch::Contains("'broken'"));
  watch.signal(SIGINT);
  CHECK(watch.finish(10s).exit_code == 0);
}

TEST_CASE("the bucket flag selects the bucket", "[cli]") {
  nats_server server;
  temp_dir dir;
  write_text(dir / "f.json", json_of(sample_flow("elsewhere", "Elsewhere")));
  REQUIRE(run_at(server, {"create", dir / "f.json", "--bucket", "other_flows"}).exit_code == 0);
  CHECK(listed(server).empty());
  CHECK(listed(server, {"--bucket", "other_flows"}).size() == 1);
}

TEST_CASE("export, delete everything, import: the same flows come back", "[cli]") {
  nats_server server;
  temp_dir work;
  std::vector<flowstore::flow> originals{sample_flow("alpha", "Alpha", 1), sample_flow("team/beta", "Beta", 4),
                                         sample_flow("gamma.v2", "Gamma \u00e9\u00e8 <html>", 2)};
  originals[0].state = flowstore::runtime_state::running;
  originals[0].deployed_at = flowstore::timestamp::from_unix(1700000000, 123456789);
  originals[2].created_by = "alice";
  for (const auto& f : originals) create_with_tool(server, work, f);
  const auto before = listed(server);
  REQUIRE(before.size() == 3);

  const std::string backup = work / "backup";
  const auto exported = run_at(server, {"export", backup});
  INFO_RUN(exported);
  REQUIRE(exported.exit_code == 0);
  CHECK_THAT(exported.out, Catch::StartsWith("exported 3 flows to '" + backup + "'"));
  CHECK(fs::exists(backup + "/alpha.json"));
  CHECK(fs::exists(backup + "/team%2Fbeta.json"));
  CHECK(fs::exists(backup + "/gamma.v2.json"));
  // Each file is the stored document, indented.
  CHECK(flow_of(read_text(backup + "/team%2Fbeta.json")) == before.at("team/beta"));

  for (const auto& [id, f] : before) {
    const auto removed = run_at(server, {"delete", id});
    INFO_RUN(removed);
    REQUIRE(removed.exit_code == 0);
  }
  REQUIRE(listed(server).empty());

  const auto imported = run_at(server, {"import", backup});
  INFO_RUN(imported);
  REQUIRE(imported.exit_code == 0);
  CHECK_THAT(imported.out, Catch::Contains("3 files") && Catch::Contains("3 created, 0 updated, 0 skipped") &&
                               Catch::EndsWith("0 failed\n"));

  const auto after = listed(server);
  REQUIRE(after.size() == before.size());
  for (const auto& [id, f] : before) {
    INFO(id);
    // Identical documents, except what create() sets: version 1 and new audit times.
    CHECK(content_of(after.at(id)) == content_of(f));
    CHECK(after.at(id).version == 1);
  }
  CHECK(after.at("alpha").deployed_at == originals[0].deployed_at);

  // Importing again changes nothing.
  const auto again = run_at(server, {"import", backup});
  INFO_RUN(again);
  CHECK(again.exit_code == 0);
  CHECK_THAT(again.out, Catch::Contains("0 created, 0 updated, 3 skipped (3 existing, use --update), 0 failed"));
}

TEST_CASE("export gives every valid id a file name that fits, import brings them back, and failures say why", "[cli]") {
  nats_server server;
  temp_dir work;
  const std::vector<std::string> ids{std::string(256, 'l'), std::string(100, '/') + "x", "short"};
  for (const auto& id : ids) create_with_tool(server, work, sample_flow(id, "long"));
  const std::string backup = work / "backup";
  const auto exported = run_at(server, {"export", backup});
  INFO_RUN(exported);
  REQUIRE(exported.exit_code == 0);
  CHECK_THAT(exported.out, Catch::StartsWith("exported 3 flows"));
  std::size_t files = 0;
  for (const auto& entry : fs::directory_iterator(backup)) {
    ++files;
    CHECK(entry.path().filename().string().size() <= 255);
    CHECK(entry.path().extension() == ".json");
  }
  CHECK(files == 3);
  for (const auto& id : ids) REQUIRE(run_at(server, {"delete", id}).exit_code == 0);
  const auto imported = run_at(server, {"import", backup});
  INFO_RUN(imported);
  REQUIRE(imported.exit_code == 0);
  CHECK_THAT(imported.out, Catch::Contains("3 created"));
  const auto after = listed(server);
  for (const auto& id : ids) CHECK(after.count(id) == 1);

  // A target that cannot be written: the reason, exit 1, and no .partial left behind.
  const std::string locked = work / "locked";
  fs::create_directories(locked);
  fs::create_directory(locked + "/short.json");  // a directory where the file must go
  const auto refused = run_at(server, {"export", locked});
  INFO_RUN(refused);
  CHECK(refused.exit_code == 1);
  CHECK_THAT(refused.err, Catch::Contains("cannot write") && Catch::Contains("short.json") &&
                              (Catch::Contains("Is a directory") || Catch::Contains("File exists")));
  for (const auto& entry : fs::directory_iterator(locked)) {
    CHECK(entry.path().extension() != ".partial");
  }
}

TEST_CASE("import reports *.json entries that are not files as skipped", "[cli]") {
  nats_server server;
  temp_dir work;
  const std::string dir = work / "mixed";
  fs::create_directories(dir + "/folder.json");
  fs::create_symlink(dir + "/nowhere", dir + "/dangling.json");
  write_text(fs::path(dir) / "real.json", json_of(sample_flow("real", "Real")));
  const auto imported = run_at(server, {"import", dir});
  INFO_RUN(imported);
  CHECK(imported.exit_code == 0);
  CHECK_THAT(imported.err, Catch::Contains("import 'dangling.json': skipped: a symbolic link to nothing"));
  CHECK_THAT(imported.err, Catch::Contains("import 'folder.json': skipped: a directory"));
  CHECK_THAT(imported.out,
             Catch::Contains("3 files") && Catch::Contains("1 created, 0 updated, 2 skipped (2 not files)"));
}

TEST_CASE("import --update updates changed flows, honours versions, reports failures", "[cli]") {
  nats_server server;
  temp_dir work;
  for (const char* id : {"a", "b", "c"}) create_with_tool(server, work, sample_flow(id, id));
  const std::string dir = work / "export";
  REQUIRE(run_at(server, {"export", dir}).exit_code == 0);

  // a: edited in the file (its version is still the stored one) → updated.
  auto a = flow_of(read_text(dir + "/a.json"));
  a.name = "a, edited";
  write_text(dir + "/a.json", json_of(a));
  // b: edited in the file, but changed in the store meanwhile → conflict.
  auto b = flow_of(read_text(dir + "/b.json"));
  b.name = "b, edited in the file";
  write_text(dir + "/b.json", json_of(b));
  auto b_store = b;
  b_store.name = "b, edited in the store";
  write_text(work / "b-store.json", json_of(b_store));
  REQUIRE(run_at(server, {"update", work / "b-store.json"}).exit_code == 0);
  // c: unchanged → skipped. d: new → created. broken: not a flow → failed.
  write_text(dir + "/d.json", json_of(sample_flow("d", "d")));
  write_text(dir + "/broken.json", "{\"id\": ");
  write_text(dir + "/notes.txt", "not imported: not *.json");

  const auto r = run_at(server, {"import", dir, "--update"});
  INFO_RUN(r);
  CHECK(r.exit_code == 2);
  CHECK_THAT(r.out, Catch::Contains("5 files in "));
  CHECK_THAT(r.out, Catch::Contains("1 created, 1 updated, 1 skipped (1 unchanged), 2 failed"));
  CHECK_THAT(r.err, Catch::Contains("flowstore: import 'b.json': update flow 'b': conflict: the file has version 1, "
                                    "the store version 2"));
  CHECK_THAT(r.err, Catch::Contains("flowstore: import 'broken.json': "));
  const auto now = listed(server);
  CHECK(now.at("a").name == "a, edited");
  CHECK(now.at("a").version == 2);
  CHECK(now.at("b").name == "b, edited in the store");
  CHECK(now.contains("d"));

  // --force overwrites whatever is stored.
  fs::remove(dir + "/broken.json");
  const auto forced = run_at(server, {"import", dir, "--force"});
  INFO_RUN(forced);
  CHECK(forced.exit_code == 0);
  CHECK_THAT(forced.out, Catch::Contains("0 created, 1 updated, 3 skipped (3 unchanged), 0 failed"));
  CHECK(listed(server).at("b").name == "b, edited in the file");
}

TEST_CASE("from-config stores the flow built from a component configuration", "[cli]") {
  nats_server server;
  const std::string config = std::string(FLOWSTORE_CLI_TEST_DATA) + "/components.json";
  const auto r = run_at(server, {"from-config", config, "--name", "Edge pipeline"});
  INFO_RUN(r);
  REQUIRE(r.exit_code == 0);
  REQUIRE(r.out.size() == 37);  // a UUID and a newline
  const std::string id = r.out.substr(0, 36);

  const auto got = run_at(server, {"get", id});
  REQUIRE(got.exit_code == 0);
  const auto f = flow_of(got.out);
  CHECK(f.name == "Edge pipeline");
  CHECK(f.state == flowstore::runtime_state::running);
  CHECK(f.connections.empty());
  // Enabled components in key order, on a grid of 4 per row.
  REQUIRE(f.nodes.size() == 4);
  CHECK(f.nodes[0].id == "api");
  CHECK(f.nodes[0].type == flowstore::component_type::gateway);
  CHECK(f.nodes[0].config == boost::json::object{{"raw", R"(["not","an","object"])"}});
  CHECK(f.nodes[1].id == "archive");
  CHECK(f.nodes[1].config.empty());
  CHECK(f.nodes[2].id == "graph");
  CHECK(f.nodes[2].component == "graph-processor");
  CHECK(f.nodes[3].id == "udp-in");
  CHECK(f.nodes[3].config.at("port") == 5000);
  CHECK(f.nodes[3].pos == flowstore::position{950, 50});

  // Without --name the file name is the flow name.
  const auto unnamed = run_at(server, {"from-config", config});
  REQUIRE(unnamed.exit_code == 0);
  CHECK(flow_of(run_at(server, {"get", unnamed.out.substr(0, 36)}).out).name == "components");

  temp_dir dir;
  write_text(dir / "bad.json", R"({"components": {"x": {"type": "sink", "name": "y"}}})");
  const auto bad = run_at(server, {"from-config", dir / "bad.json"});
  INFO_RUN(bad);
  CHECK(bad.exit_code == 2);
  CHECK_THAT(bad.err, Catch::Contains("components.x.type"));
}

TEST_CASE("watch prints one JSON line per event while another process writes, SIGINT ends it cleanly", "[cli]") {
  nats_server server;
  temp_dir dir;
  create_with_tool(server, dir, sample_flow("existing", "Existing"));

  child watch({"watch", "--server", server.url()});
  const auto deadline = clock_type::now() + 30s;
  std::vector<boost::json::value> events;
  auto read_until = [&](auto done) {
    while (!done()) {
      auto line = watch.read_line(deadline);
      if (!line) {
        auto rest = watch.finish(1s);
        FAIL("watch output ended or timed out; stderr: " << rest.err);
      }
      INFO(*line);
      boost::system::error_code ec;
      events.push_back(boost::json::parse(*line, ec));
      REQUIRE_FALSE(ec);
    }
  };
  auto seen = [&](const char* kind, const char* id, std::int64_t version = 0) {
    return std::any_of(events.begin(), events.end(), [&](const boost::json::value& e) {
      if (e.at("event") != kind) return false;
      if (id == nullptr) return true;
      if (e.at("id") != id) return false;
      return version == 0 || e.at("flow").at("version") == version;
    });
  };

  // The current value first, then the marker.
  read_until([&] { return seen("initial_values_done", nullptr); });
  REQUIRE(events.size() == 2);
  CHECK(events[0].at("event") == "put");
  CHECK(events[0].at("id") == "existing");
  CHECK(flow_of(boost::json::serialize(events[0].at("flow"))).name == "Existing");

  // Writes by other processes show up.
  auto f = sample_flow("live", "Live");
  write_text(dir / "live.json", json_of(f));
  REQUIRE(run_at(server, {"create", dir / "live.json"}).exit_code == 0);
  auto v1 = flow_of(run_at(server, {"get", "live"}).out);
  v1.name = "Live, renamed";
  write_text(dir / "live.json", json_of(v1));
  REQUIRE(run_at(server, {"update", dir / "live.json"}).exit_code == 0);
  REQUIRE(run_at(server, {"delete", "live"}).exit_code == 0);
  read_until([&] { return seen("put", "live", 1) && seen("put", "live", 2) && seen("deleted", "live"); });
  const auto& last = events.back();
  CHECK(last.at("event") == "deleted");
  CHECK(last.at("revision").as_int64() > events[0].at("revision").as_int64());

  watch.signal(SIGINT);
  const auto end = watch.finish(10s);
  INFO_RUN(end);
  CHECK(end.exit_code == 0);
  CHECK(end.out.empty());  // every line was complete and already read
  CHECK(end.err.empty());
}

TEST_CASE("watch --updates-only and a pattern skip the current values and other flows", "[cli]") {
  nats_server server;
  temp_dir dir;
  create_with_tool(server, dir, sample_flow("team.old", "Old"));

  child watch({"watch", "team.*", "--updates-only", "--server", server.url()});
  const auto deadline = clock_type::now() + 30s;
  auto first = watch.read_line(deadline);
  REQUIRE(first);
  CHECK(*first == R"({"event":"initial_values_done"})");

  create_with_tool(server, dir, sample_flow("other", "Other"));
  create_with_tool(server, dir, sample_flow("team.new", "New"));
  auto next = watch.read_line(deadline);
  REQUIRE(next);
  const auto event = boost::json::parse(*next);
  CHECK(event.at("event") == "put");
  CHECK(event.at("id") == "team.new");

  watch.signal(SIGTERM);
  const auto end = watch.finish(10s);
  INFO_RUN(end);
  CHECK(end.exit_code == 0);
}

TEST_CASE("import of 1000 flows, pipelined (timed)", "[cli][timing]") {
  nats_server server;
  temp_dir dir;
  const std::string files = dir / "flows";
  fs::create_directory(files);
  constexpr int count = 1000;
  for (int i = 0; i < count; ++i) {
    const std::string id = "bulk." + std::to_string(i);
    write_text(files + "/" + id + ".json", json_of(sample_flow(id, "Bulk flow " + std::to_string(i), 5)));
  }

  auto timed_import = [&](const std::string& bucket, const std::string& concurrency) {
    const auto start = clock_type::now();
    const auto r = run_at(server, {"import", files, "--bucket", bucket, "--concurrency", concurrency});
    const auto elapsed = std::chrono::duration<double>(clock_type::now() - start).count();
    INFO_RUN(r);
    REQUIRE(r.exit_code == 0);
    CHECK_THAT(r.out, Catch::Contains("1000 created, 0 updated, 0 skipped, 0 failed"));
    // Not a terminal: plain counts, at most one line per tenth.
    CHECK_THAT(r.err, Catch::StartsWith("import: 100/1000\n") && Catch::EndsWith("import: 1000/1000\n"));
    return elapsed;
  };
  const double pipelined = timed_import("bulk_pipelined", "64");
  const double one_by_one = timed_import("bulk_sequential", "1");
  std::cout << "flowstore import of " << count
            << " flows (5 nodes each), whole process including connect: " << pipelined << " s with 64 in flight, "
            << one_by_one << " s one at a time\n";
  CHECK(listed(server, {"--bucket", "bulk_pipelined"}).size() == count);
}
