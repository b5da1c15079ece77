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

TEST_CASE("http_server lists and serves stored flows, and refuses a port that is not a number", "[examples]") {
  flowstore::test::nats_server nats;
  flowstore::test::run_async([&](boost::asio::io_context& io) -> boost::asio::awaitable<void> {
    flowstore::connect_options options;
    options.servers = {nats.url()};
    auto conn = co_await flowstore::connect(io.get_executor(), std::move(options));
    REQUIRE(conn);
    auto store = co_await flowstore::store::open(*conn);
    REQUIRE(store);
    flowstore::flow f;
    f.id = "served";
    f.name = "Served over HTTP";
    auto created = co_await store->create(f);
    REQUIRE(created);
    co_await conn->close();
  });
  child_process server({FLOWSTORE_EXAMPLE_HTTP_SERVER, nats.url(), "0"});
  const auto listening = server.read_line();
  REQUIRE(listening.has_value());
  const std::string prefix = "listening on http://127.0.0.1:";
  REQUIRE(listening->starts_with(prefix));
  const std::string base = "http://127.0.0.1:" + listening->substr(prefix.size());

  const auto listed = http("GET", base + "/flows");
  CHECK(listed.status == 200);
  CHECK(listed.body == R"([{"id":"served","name":"Served over HTTP","version":1}])");
  const auto got = http("GET", base + "/flows/served");
  CHECK(got.status == 200);
  const auto decoded = flowstore::flow_from_json(got.body);
  REQUIRE(decoded);
  CHECK(decoded->name == "Served over HTTP");
  const auto missing = http("GET", base + "/flows/nope");
  CHECK(missing.status == 404);
  CHECK_THAT(missing.body, Catch::StartsWith("{\"error\":\"get flow 'nope'"));
  CHECK(http("POST", base + "/flows", "{}").status == 404);
  CHECK(server.stop(SIGTERM) == -1);

  const auto bad_port = run(std::string(FLOWSTORE_EXAMPLE_HTTP_SERVER) + " " + nats.url() + " http 2>&1");
  CHECK(bad_port.exit_code == 1);
  CHECK_THAT(bad_port.output, Catch::Contains("usage: http_server NATS_URL [PORT]"));
}

TEST_CASE("retry_on_conflict applies every update despite conflicts", "[examples]") {
  flowstore::test::nats_server server;
  const auto result = run(std::string(FLOWSTORE_EXAMPLE_RETRY_ON_CONFLICT) + " " + server.url());
  INFO(result.output);
  CHECK(result.exit_code == 0);
  CHECK_THAT(result.output, Catch::Matches("200 updates applied, [0-9]+ rounds lost to another writer and redone, final "
                                           "version 201\nall marks present\n"));
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

TEST_CASE("deploy takes a flow through deploy, start, stop and undeploy with its components", "[examples]") {
  flowstore::test::nats_server server;
  const auto result = run(std::string(FLOWSTORE_EXAMPLE_DEPLOY) + " " + server.url());
  INFO(result.output);
  CHECK(result.exit_code == 0);
  CHECK_THAT(result.output, Catch::StartsWith("checked  valid: 0 errors, 0 warnings, 1 connection discovered\n"));
  CHECK_THAT(result.output, Catch::Contains("state    deployed_stopped (version 2)\n"
                                            "         components.demo-filter (json_filter, disabled)\n"
                                            "         components.demo-udp (udp, disabled)\n"
                                            "state    running (version 3)\n"
                                            "         components.demo-filter (json_filter, enabled)\n"
                                            "         components.demo-udp (udp, enabled)\n"));
  CHECK_THAT(result.output, Catch::Contains("state    not_deployed (version 5)\n"
                                            "refused  stop flow 'deploy-demo': the flow is not_deployed; stop needs "
                                            "running\n"
                                            "removed  yes\n"));
}
