// The examples are programs users copy: each runs here against a real server and must succeed
// and print what its steps promise.
#include <flowstore/connection.hpp>
#include <flowstore/json.hpp>
#include <flowstore/store.hpp>

#include "support/async.hpp"
#include "support/nats_server.hpp"

#include <boost/json/parse.hpp>
#include <boost/json/value.hpp>

#include <catch2/catch.hpp>

#include <array>
#include <chrono>
#include <cstdio>
#include <memory>
#include <optional>
#include <spawn.h>
#include <string>
#include <vector>

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <sys/wait.h>
#include <unistd.h>

extern char** environ;

namespace {

struct run_result {
  int exit_code = -1;
  std::string output;
};

// Runs `command` through the shell, capturing stdout and stderr.
run_result run(const std::string& command) {
  run_result result;
  std::unique_ptr<FILE, int (*)(FILE*)> pipe(popen((command + " 2>&1").c_str(), "r"), pclose);
  REQUIRE(pipe != nullptr);
  std::array<char, 4096> buffer{};
  while (std::fgets(buffer.data(), static_cast<int>(buffer.size()), pipe.get()) != nullptr) {
    result.output += buffer.data();
  }
  const int status = pclose(pipe.release());
  result.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  return result;
}

// A child process whose stdout the test reads line by line; killed when still running at the end.
class child_process {
 public:
  explicit child_process(std::vector<std::string> args) {
    int fds[2];
    REQUIRE(pipe2(fds, O_CLOEXEC) == 0);
    posix_spawn_file_actions_t actions;
    posix_spawn_file_actions_init(&actions);
    posix_spawn_file_actions_adddup2(&actions, fds[1], STDOUT_FILENO);
    std::vector<char*> argv;
    for (auto& a : args) argv.push_back(a.data());
    argv.push_back(nullptr);
    const int spawned = posix_spawnp(&pid_, argv[0], &actions, nullptr, argv.data(), environ);
    posix_spawn_file_actions_destroy(&actions);
    close(fds[1]);
    output_ = fdopen(fds[0], "r");
    if (spawned != 0) pid_ = 0;
    REQUIRE(spawned == 0);
  }
  ~child_process() {
    if (pid_ != 0) {
      kill(pid_, SIGKILL);
      waitpid(pid_, nullptr, 0);
    }
    if (output_ != nullptr) std::fclose(output_);
  }
  child_process(const child_process&) = delete;
  child_process& operator=(const child_process&) = delete;

  // The next line of output without its line end; nullopt at the end of the output.
  std::optional<std::string> read_line() {
    std::string line;
    std::array<char, 4096> buffer{};
    while (std::fgets(buffer.data(), static_cast<int>(buffer.size()), output_) != nullptr) {
      line += buffer.data();
      if (line.back() == '\n') break;
    }
    if (line.empty()) return std::nullopt;
    while (!line.empty() && (line.back() == '\n' || line.back() == '\r')) line.pop_back();
    return line;
  }

  // Sends `signal` and waits: the exit code, or -1 when the process died of a signal.
  int stop(int signal) {
    kill(pid_, signal);
    return wait();
  }

  // Waits for the process to end: the exit code, or -1 when it died of a signal.
  int wait() {
    int status = 0;
    waitpid(pid_, &status, 0);
    pid_ = 0;
    return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  }

 private:
  pid_t pid_ = 0;
  FILE* output_ = nullptr;
};

std::string shell_quoted(const std::string& text) {
  std::string quoted = "'";
  for (char c : text) quoted += c == '\'' ? std::string("'\\''") : std::string(1, c);
  return quoted + "'";
}

struct http_reply {
  int status = 0;
  std::string body;
};

// One request with curl: the status code and the body.
http_reply http(const std::string& method, const std::string& url, const std::string& body = "") {
  std::string command = "curl -s -S --max-time 20 -X " + method + " -w '\\n%{http_code}' ";
  if (!body.empty()) command += "-H 'Content-Type: application/json' --data-binary " + shell_quoted(body) + " ";
  const auto result = run(command + shell_quoted(url));
  INFO(result.output.substr(0, 2000));  // a listing can be megabytes
  REQUIRE(result.exit_code == 0);
  const auto last_line = result.output.rfind('\n');
  REQUIRE(last_line != std::string::npos);
  return {std::stoi(result.output.substr(last_line + 1)), result.output.substr(0, last_line)};
}

// Reads the event stream until the `data:` line of a `type` event for flow `id`.
std::string read_event(child_process& stream, const std::string& type, const std::string& id) {
  const std::string wanted = "data: {\"type\":\"" + type + "\",\"id\":\"" + id + "\"";
  while (true) {
    const auto line = stream.read_line();
    REQUIRE(line.has_value());  // curl's --max-time ends the stream when the event never comes
    if (line->starts_with(wanted)) return *line;
  }
}

}  // namespace

TEST_CASE("quickstart runs the whole cycle", "[examples]") {
  flowstore::test::nats_server server;
  const auto result = run(std::string(FLOWSTORE_EXAMPLE_QUICKSTART) + " " + server.url());
  INFO(result.output);
  CHECK(result.exit_code == 0);
  CHECK_THAT(result.output, Catch::Contains("created  'quickstart' version 1"));
  CHECK_THAT(result.output, Catch::Contains("updated  to version 2"));
  CHECK_THAT(result.output, Catch::Contains("conflict: expected version 1, current version 2"));
  CHECK_THAT(result.output, Catch::Contains("invalid: true, transient: false"));
  CHECK_THAT(result.output, Catch::Contains("history  2 revision(s)"));
  CHECK_THAT(result.output, Catch::Contains("get now: get flow 'quickstart': no such flow"));
}

TEST_CASE("watch prints every change", "[examples]") {
  flowstore::test::nats_server server;
  const auto result = run(std::string(FLOWSTORE_EXAMPLE_WATCH) + " " + server.url());
  INFO(result.output);
  CHECK(result.exit_code == 0);
  CHECK_THAT(result.output, Catch::StartsWith("initial values done\n"));
  CHECK_THAT(result.output, Catch::Contains("put 'watch-demo.3' revision 6 version 2"));
  CHECK_THAT(result.output, Catch::EndsWith("deleted 'watch-demo.3' revision 9\n"));
}

TEST_CASE("asio_integration keeps the loop running under load", "[examples]") {
  flowstore::test::nats_server server;
  const auto result = run(std::string(FLOWSTORE_EXAMPLE_ASIO_INTEGRATION) + " " + server.url());
  INFO(result.output);
  CHECK(result.exit_code == 0);
  CHECK_THAT(result.output, Catch::Contains("store: 8000 gets completed, 0 failed"));
  CHECK_THAT(result.output, Catch::Contains("TCP echoes"));
}

TEST_CASE("http_server serves the flow-builder routes and streams events", "[examples]") {
  flowstore::test::nats_server nats;
  child_process server({FLOWSTORE_EXAMPLE_HTTP_SERVER, nats.url(), "0"});
  const auto listening = server.read_line();
  REQUIRE(listening.has_value());
  const std::string prefix = "listening on http://127.0.0.1:";
  REQUIRE(listening->starts_with(prefix));
  const std::string port = listening->substr(prefix.size());
  const std::string flows = "http://127.0.0.1:" + port + "/flowbuilder/flows";

  // The stream starts before the writes; its first line means the server's watch is in place.
  child_process events({"curl", "-sSN", "--max-time", "120", flows + "/events"});
  CHECK(events.read_line() == ": watching");

  const auto created = http("POST", flows,
                            R"({"name":"HTTP demo","nodes":[{"id":"n1","component":"udp",)"
                            R"("type":"input","name":"udp-1","position":{"x":1,"y":2}}]})");
  INFO(created.body);
  REQUIRE(created.status == 201);
  const auto created_flow = flowstore::flow_from_json(created.body);
  REQUIRE(created_flow);
  const std::string id = created_flow->id;
  CHECK(id.size() == 36);  // a generated UUID
  CHECK(created_flow->version == 1);
  CHECK_THAT(read_event(events, "put", id), Catch::Contains("\"revision\":1,\"flow\":{\"id\":\"" + id + "\""));

  const auto fetched = http("GET", flows + "/" + id);
  CHECK(fetched.status == 200);
  CHECK(fetched.body == created.body);

  auto edited = *created_flow;
  edited.description = "edited over HTTP";
  const auto updated = http("PUT", flows + "/" + id, *flowstore::to_json(edited));
  INFO(updated.body);
  CHECK(updated.status == 200);
  CHECK(boost::json::parse(updated.body).at("version") == 2);

  const auto stale = http("PUT", flows + "/" + id, created.body);
  CHECK(stale.status == 409);
  CHECK_THAT(stale.body, Catch::StartsWith("{\"error\":") && Catch::Contains("conflict"));

  const auto malformed = http("POST", flows, "{\"name\":");
  CHECK(malformed.status == 400);
  CHECK_THAT(malformed.body, Catch::StartsWith("{\"error\":"));

  const auto mismatched = http("PUT", flows + "/another-id", created.body);
  CHECK(mismatched.status == 400);
  CHECK_THAT(mismatched.body, Catch::StartsWith("{\"error\":"));

  const auto missing = http("GET", flows + "/no-such-flow");
  CHECK(missing.status == 404);
  CHECK_THAT(missing.body, Catch::StartsWith("{\"error\":"));

  const auto validated = http("POST", flows + "/draft/validate", R"({"nodes":[{"id":"a","component":"udp"}]})");
  CHECK(validated.status == 200);
  CHECK_THAT(validated.body, Catch::StartsWith("{\"valid\":false,\"problems\":[") &&
                                 Catch::Contains("\"flow: name is required\"") &&
                                 Catch::Contains("\"node[0] 'a': type is required\""));

  const auto listed = http("GET", flows);
  CHECK(listed.status == 200);
  const auto listed_flows = boost::json::parse(listed.body).at("flows").as_array();
  REQUIRE(listed_flows.size() == 1);
  CHECK(listed_flows[0].at("id").as_string() == id);
  CHECK(listed_flows[0].at("version") == 2);

  CHECK(http("DELETE", flows + "/" + id).status == 204);
  CHECK(http("GET", flows + "/" + id).status == 404);
  CHECK(http("DELETE", flows + "/" + id).status == 404);
  CHECK_THAT(read_event(events, "deleted", id), Catch::EndsWith("}"));

  // A client that asks for events and never reads them, while 300 flows of 32 KB are written:
  // 9.6 MB of events, more than its socket buffers (a few MB at most) and its watch buffer
  // (64 events) hold together, so its stream coroutine blocks in its write and its watch
  // pauses, while the server keeps serving everybody else.
  const int stalled = socket(AF_INET, SOCK_STREAM, 0);
  REQUIRE(stalled >= 0);
  const int small_window = 4096;
  setsockopt(stalled, SOL_SOCKET, SO_RCVBUF, &small_window, sizeof small_window);
  const timeval receive_limit{.tv_sec = 20, .tv_usec = 0};
  setsockopt(stalled, SOL_SOCKET, SO_RCVTIMEO, &receive_limit, sizeof receive_limit);
  sockaddr_in address{};
  address.sin_family = AF_INET;
  address.sin_port = htons(static_cast<std::uint16_t>(std::stoi(port)));
  address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  REQUIRE(connect(stalled, reinterpret_cast<const sockaddr*>(&address), sizeof address) == 0);
  const std::string stream_request = "GET /flowbuilder/flows/events HTTP/1.1\r\nHost: x\r\n\r\n";
  REQUIRE(send(stalled, stream_request.data(), stream_request.size(), 0) ==
          static_cast<ssize_t>(stream_request.size()));
  // Its header tells that its watch is in place (the bytes stay unread after the peek).
  std::array<char, 16> peeked{};
  REQUIRE(recv(stalled, peeked.data(), peeked.size(), MSG_PEEK) > 0);

  constexpr int load = 300;
  constexpr int check_every = 50;
  int answered = 0;
  flowstore::test::run_async(
      [&](boost::asio::io_context& io) -> boost::asio::awaitable<void> {
        flowstore::connect_options options;
        options.servers = {nats.url()};
        auto conn = co_await flowstore::connect(io.get_executor(), std::move(options));
        REQUIRE(conn);
        auto store = co_await flowstore::store::open(*conn);
        REQUIRE(store);
        for (int i = 0; i < load; ++i) {
          flowstore::flow f;
          f.id = "load." + std::to_string(i);
          f.name = "Load " + std::to_string(i);
          f.description = std::string(32 * 1024, 'x');
          auto written = co_await store->create(std::move(f));
          REQUIRE(written);
          // Ordinary requests keep being answered while the load goes on (curl blocks only
          // this test's own thread).
          if ((i + 1) % check_every == 0) {
            const auto during_load = http("GET", flows + "/load." + std::to_string(i));
            CHECK(during_load.status == 200);
            if (during_load.status == 200) ++answered;
          }
        }
        co_await conn->close();
      },
      std::chrono::seconds(120));
  CHECK(answered == load / check_every);

  const auto listed_after_load = http("GET", flows);
  CHECK(listed_after_load.status == 200);
  CHECK(boost::json::parse(listed_after_load.body).at("flows").as_array().size() == load);
  // The reading client got everything, the last write included.
  CHECK_THAT(read_event(events, "put", "load." + std::to_string(load - 1)), Catch::Contains("\"version\":1"));

  // Stops cleanly with the stalled client still connected and the stream still open.
  CHECK(server.stop(SIGTERM) == 0);
  close(stalled);
  // The server closed the stream: curl ends normally, not by its --max-time (exit code 28).
  while (const auto rest = events.read_line()) CHECK((rest->empty() || *rest == ": heartbeat"));
  CHECK(events.wait() == 0);
}

TEST_CASE("retry_on_conflict applies every update despite conflicts", "[examples]") {
  flowstore::test::nats_server server;
  const auto result = run(std::string(FLOWSTORE_EXAMPLE_RETRY_ON_CONFLICT) + " " + server.url());
  INFO(result.output);
  CHECK(result.exit_code == 0);
  CHECK_THAT(result.output, Catch::Matches("200 updates applied, [0-9]+ conflicts retried, final version 201\n"
                                           "all marks present\n"));
}

TEST_CASE("from_configs stores a flow built from component configurations", "[examples]") {
  flowstore::test::nats_server server;
  const auto result = run(std::string(FLOWSTORE_EXAMPLE_FROM_CONFIGS) + " " + server.url());
  INFO(result.output);
  CHECK(result.exit_code == 0);
  CHECK_THAT(result.output, Catch::Contains("built    4 nodes from 5 components, 2 connections"));
  CHECK_THAT(result.output, Catch::Contains("node udp-in (input udp) at 950,50"));
  CHECK_THAT(result.output, Catch::Contains("valid    yes"));
  CHECK_THAT(result.output, Catch::Contains("created  'edge-01 pipeline' version 1, state running"));
  CHECK_THAT(result.output, Catch::EndsWith("read     4 nodes, 2 connections\n"));
}
