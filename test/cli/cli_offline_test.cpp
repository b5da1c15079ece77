// Tests of the flowstore command-line tool that need no server: its pure helpers, --help,
// usage errors and offline validation.
#include "cli_test_support.hpp"

using namespace flowstore::test::cli_tests;

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
  CHECK(run({"get"}).exit_code == 1);                        // missing ID
  CHECK(run({"list", "--timeout", "soon"}).exit_code == 1);  // bad duration
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
