// Tests of `flowstore watch` against a real nats-server: one JSON line per event while another
// process writes, SIGINT, --updates-only and patterns.
#include "cli_test_support.hpp"

using namespace flowstore::test::cli_tests;

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
