// The examples are programs users copy: each runs here against a real server and must succeed
// and print what its steps promise.
#include "support/nats_server.hpp"

#include <catch2/catch.hpp>

#include <array>
#include <cstdio>
#include <memory>
#include <string>

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
