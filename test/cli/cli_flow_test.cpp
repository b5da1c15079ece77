// Tests of the flowstore command-line tool's single-flow commands against a real nats-server:
// create, get, list, update, history and delete, their exit codes, connection flags, corrupt
// documents and the bucket flag.
#include "cli_test_support.hpp"

using namespace flowstore::test::cli_tests;

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

  // --raw decodes nothing: the stored bytes, exactly, whatever they are.
  const auto raw = run_at(server, {"get", "broken", "--raw"});
  INFO_RUN(raw);
  CHECK(raw.exit_code == 0);
  CHECK(raw.out == "this is not JSON");

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

  // A document in another writer's spelling comes out as stored, not re-encoded.
  const std::string spaced = R"({ "id": "spaced",  "name": "by hand", "version": 1, "extra": 1.0e2 })";
  put_raw(server, "spaced", spaced);
  const auto spaced_raw = run_at(server, {"get", "spaced", "--raw"});
  INFO_RUN(spaced_raw);
  CHECK(spaced_raw.exit_code == 0);
  CHECK(spaced_raw.out == spaced);
}

TEST_CASE("the bucket flag selects the bucket", "[cli]") {
  nats_server server;
  temp_dir dir;
  write_text(dir / "f.json", json_of(sample_flow("elsewhere", "Elsewhere")));
  REQUIRE(run_at(server, {"create", dir / "f.json", "--bucket", "other_flows"}).exit_code == 0);
  CHECK(listed(server).empty());
  CHECK(listed(server, {"--bucket", "other_flows"}).size() == 1);
}
