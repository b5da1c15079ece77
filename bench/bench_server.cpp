#include "bench_server.hpp"

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <stdexcept>
#include <thread>

#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

namespace flowstore::bench {

throwaway_server::throwaway_server() {
  std::string pattern = (std::filesystem::temp_directory_path() / "flowstore-bench.XXXXXX").string();
  if (mkdtemp(pattern.data()) == nullptr) throw std::runtime_error("mkdtemp failed");
  dir_ = pattern;
  const std::string store = dir_ + "/store";
  const std::string log = dir_ + "/server.log";
  pid_ = fork();
  if (pid_ < 0) throw std::runtime_error("fork failed");
  if (pid_ == 0) {
    execlp("nats-server", "nats-server", "-js", "-a", "127.0.0.1", "-p", "-1", "-sd", store.c_str(), "-l", log.c_str(),
           "--ports_file_dir", dir_.c_str(), static_cast<char*>(nullptr));
    _exit(127);
  }
  // Waiting for another process to come up: poll its ports file.
  const std::string ports = dir_ + "/nats-server_" + std::to_string(pid_) + ".ports";
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
  while (std::chrono::steady_clock::now() < deadline) {
    std::ifstream in(ports);
    std::stringstream text;
    text << in.rdbuf();
    const std::string content = text.str();
    const auto start = content.find("nats://");
    if (start != std::string::npos) {
      url_ = content.substr(start, content.find('"', start) - start);
      return;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  throw std::runtime_error("nats-server did not start; see " + log);
}

throwaway_server::~throwaway_server() {
  if (pid_ > 0) {
    kill(pid_, SIGTERM);
    int status = 0;
    waitpid(pid_, &status, 0);
  }
  std::error_code ignored;
  std::filesystem::remove_all(dir_, ignored);
}

std::string throwaway_server::version() const {
  std::string text;
  if (FILE* p = popen("nats-server --version", "r")) {
    char buffer[128];
    while (std::fgets(buffer, sizeof buffer, p) != nullptr) text += buffer;
    pclose(p);
  }
  while (!text.empty() && text.back() == '\n') text.pop_back();
  return text;
}

}  // namespace flowstore::bench
