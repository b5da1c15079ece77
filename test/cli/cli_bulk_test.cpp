// Tests of the flowstore command-line tool's bulk commands against a real nats-server: export,
// import (also of 1000 flows, pipelined) and from-config.
#include "cli_test_support.hpp"

using namespace flowstore::test::cli_tests;

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
