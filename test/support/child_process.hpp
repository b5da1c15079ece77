// Child processes for tests that run programs (the CLI, the server, probes): fork + exec with
// stdin, stdout and stderr on pipes, read without blocking on either, and a bounded wait.
#pragma once

#include <catch2/catch.hpp>

#include <cerrno>
#include <chrono>
#include <csignal>
#include <cstring>
#include <map>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include <fcntl.h>
#include <poll.h>
#include <sys/wait.h>
#include <unistd.h>

namespace flowstore::test {

using namespace std::chrono_literals;

struct run_result {
  int exit_code = -1;  // -1 when killed by a signal
  std::string out;
  std::string err;
};

// The environment a child sees: the test's own, without FLOWSTORE_* (so that a developer's
// settings cannot change the results), plus `extra`.
inline std::vector<std::string> child_environment(const std::map<std::string, std::string>& extra) {
  std::vector<std::string> env;
  for (char** e = environ; *e != nullptr; ++e) {
    if (std::strncmp(*e, "FLOWSTORE_", 10) != 0) env.emplace_back(*e);
  }
  for (const auto& [name, value] : extra) env.push_back(name + "=" + value);
  return env;
}

// A child process, its stdin, stdout and stderr connected to pipes; killed when destroyed.
class child_process {
 public:
  child_process(const std::string& executable, const std::vector<std::string>& args,
                const std::map<std::string, std::string>& env = {}) {
    int in[2], out[2], err[2];
    REQUIRE(pipe2(in, O_CLOEXEC) == 0);
    REQUIRE(pipe2(out, O_CLOEXEC) == 0);
    REQUIRE(pipe2(err, O_CLOEXEC) == 0);
    std::vector<std::string> argv_text{executable};
    argv_text.insert(argv_text.end(), args.begin(), args.end());
    std::vector<char*> argv;
    for (auto& a : argv_text) argv.push_back(a.data());
    argv.push_back(nullptr);
    std::vector<std::string> env_text = child_environment(env);
    std::vector<char*> envp;
    for (auto& e : env_text) envp.push_back(e.data());
    envp.push_back(nullptr);

    pid_ = fork();
    if (pid_ == 0) {  // only async-signal-safe calls until exec: the test process has threads
      dup2(in[0], STDIN_FILENO);
      dup2(out[1], STDOUT_FILENO);
      dup2(err[1], STDERR_FILENO);
      execve(argv[0], argv.data(), envp.data());
      _exit(127);
    }
    REQUIRE(pid_ > 0);
    ::close(in[0]);
    ::close(out[1]);
    ::close(err[1]);
    stdin_ = in[1];
    stdout_ = out[0];
    stderr_ = err[0];
  }
  ~child_process() {
    close_stdin();
    if (pid_ > 0) {
      ::kill(pid_, SIGKILL);
      waitpid(pid_, nullptr, 0);
    }
    if (stdout_ >= 0) ::close(stdout_);
    if (stderr_ >= 0) ::close(stderr_);
  }
  child_process(const child_process&) = delete;
  child_process& operator=(const child_process&) = delete;

  pid_t pid() const noexcept { return pid_; }

  void write_stdin(const std::string& text) {
    std::size_t written = 0;
    while (written < text.size()) {
      const ssize_t n = ::write(stdin_, text.data() + written, text.size() - written);
      if (n < 0 && errno == EINTR) continue;
      REQUIRE(n > 0);
      written += static_cast<std::size_t>(n);
    }
  }
  void close_stdin() {
    if (stdin_ >= 0) ::close(stdin_);
    stdin_ = -1;
  }

  void signal(int sig) { REQUIRE(::kill(pid_, sig) == 0); }

  // The next complete stdout line (without its newline), or nullopt at end of output or when
  // `deadline` passes. Reads stderr meanwhile so that the child never blocks on it.
  std::optional<std::string> read_line(std::chrono::steady_clock::time_point deadline) {
    while (true) {
      if (const auto nl = out_.find('\n'); nl != std::string::npos) {
        std::string line = out_.substr(0, nl);
        out_.erase(0, nl + 1);
        return line;
      }
      if (stdout_ < 0 || !pump(deadline)) return std::nullopt;
    }
  }

  // Reads stdout and stderr to their end and waits for the exit, killing the child when
  // `limit` passes first.
  run_result finish(std::chrono::milliseconds limit = 120s) {
    close_stdin();
    const auto deadline = std::chrono::steady_clock::now() + limit;
    while ((stdout_ >= 0 || stderr_ >= 0) && pump(deadline)) {
    }
    if (stdout_ >= 0 || stderr_ >= 0) {
      ::kill(pid_, SIGKILL);
      FAIL_CHECK("the child did not finish within " << limit.count() << " ms; stderr: " << err_);
    }
    int status = 0;
    waitpid(pid_, &status, 0);
    pid_ = -1;
    run_result r;
    r.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
    r.out = std::exchange(out_, {});
    r.err = std::exchange(err_, {});
    return r;
  }

 private:
  // Waits for output until `deadline`; false when it passed or both pipes are at their end.
  bool pump(std::chrono::steady_clock::time_point deadline) {
    pollfd fds[2];
    nfds_t n = 0;
    if (stdout_ >= 0) fds[n++] = {stdout_, POLLIN, 0};
    if (stderr_ >= 0) fds[n++] = {stderr_, POLLIN, 0};
    if (n == 0) return false;
    const auto left =
        std::chrono::duration_cast<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now()).count();
    if (left <= 0) return false;
    const int ready = ::poll(fds, n, static_cast<int>(left));
    if (ready < 0 && errno == EINTR) return true;
    if (ready <= 0) return false;
    for (nfds_t i = 0; i < n; ++i) {
      if (fds[i].revents == 0) continue;
      char buffer[65536];
      const ssize_t got = ::read(fds[i].fd, buffer, sizeof buffer);
      const bool is_out = fds[i].fd == stdout_;
      if (got > 0) {
        (is_out ? out_ : err_).append(buffer, static_cast<std::size_t>(got));
      } else if (got == 0 || errno != EINTR) {
        ::close(fds[i].fd);
        (is_out ? stdout_ : stderr_) = -1;
      }
    }
    return true;
  }

  pid_t pid_ = -1;
  int stdin_ = -1;
  int stdout_ = -1;
  int stderr_ = -1;
  std::string out_;
  std::string err_;
};

}  // namespace flowstore::test
