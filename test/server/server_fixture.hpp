// flowstore-server under test: the real binary started against a real nats-server, spoken to
// over loopback sockets — plain HTTP/1.1 exchanges with raw bytes when needed, and a Beast
// WebSocket client — plus the process figures (fds, threads, RSS) the hostile-client tests print.
#pragma once

#include "support/child_process.hpp"
#include "support/credentials.hpp"
#include "support/nats_server.hpp"

#include <boost/beast/http/parser.hpp>
#include <boost/beast/http/string_body.hpp>
#include <boost/json/parse.hpp>
#include <boost/json/value.hpp>

#include <catch2/catch.hpp>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <csignal>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <map>
#include <optional>
#include <string>
#include <vector>

namespace flowstore::test {

// A client socket to 127.0.0.1:port, closed when destroyed.
class client_socket {
 public:
  explicit client_socket(int port) {
    fd_ = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    REQUIRE(fd_ >= 0);
    sockaddr_in address{};
    address.sin_family = AF_INET;
    address.sin_port = htons(static_cast<std::uint16_t>(port));
    address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    REQUIRE(::connect(fd_, reinterpret_cast<const sockaddr*>(&address), sizeof address) == 0);
  }
  ~client_socket() { close(); }
  client_socket(const client_socket&) = delete;
  client_socket& operator=(const client_socket&) = delete;
  client_socket(client_socket&& other) noexcept : fd_(std::exchange(other.fd_, -1)) {}

  int fd() const noexcept { return fd_; }
  void close() {
    if (fd_ >= 0) ::close(fd_);
    fd_ = -1;
  }
  // Makes the kernel buffer as little as it may for this socket: a client that does not read
  // then stops taking data early.
  void shrink_receive_buffer() {
    int size = 4096;
    REQUIRE(::setsockopt(fd_, SOL_SOCKET, SO_RCVBUF, &size, sizeof size) == 0);
  }

  // Sends everything; false when the peer has closed (EPIPE, ECONNRESET).
  bool send_all(std::string_view bytes) {
    while (!bytes.empty()) {
      const ssize_t n = ::send(fd_, bytes.data(), bytes.size(), MSG_NOSIGNAL);
      if (n < 0 && errno == EINTR) continue;
      if (n <= 0) return false;
      bytes.remove_prefix(static_cast<std::size_t>(n));
    }
    return true;
  }

  // What arrives before `deadline` or the end of the stream: appends to `out`; false at the end
  // of the stream (or a reset), true when the deadline passed first or `enough` says so.
  template <class Enough>
  bool receive_until(std::string& out, std::chrono::steady_clock::time_point deadline, Enough enough) {
    while (!enough(out)) {
      const auto left =
          std::chrono::duration_cast<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now()).count();
      pollfd p{fd_, POLLIN, 0};  // polled at least once, also when the deadline has passed
      const int ready = ::poll(&p, 1, static_cast<int>(std::max<long long>(left, 0)));
      if (ready < 0 && errno == EINTR) continue;
      if (ready <= 0) return true;
      char buffer[65536];
      const ssize_t n = ::recv(fd_, buffer, sizeof buffer, 0);
      if (n < 0 && errno == EINTR) continue;
      if (n <= 0) return false;
      out.append(buffer, static_cast<std::size_t>(n));
    }
    return true;
  }

 private:
  int fd_ = -1;
};

// One HTTP response as a client saw it.
struct http_reply {
  unsigned status = 0;
  std::map<std::string, std::string> headers;  // names lowercased
  std::string body;
  bool closed = false;  // the server closed the connection after it
  std::string header(const std::string& name) const {
    const auto it = headers.find(name);
    return it == headers.end() ? std::string() : it->second;
  }
  boost::json::value json() const {
    boost::system::error_code ec;
    boost::json::value v = boost::json::parse(body, ec);
    INFO("body: " << body);
    REQUIRE_FALSE(ec);
    return v;
  }
};

// Parses the first response in `bytes`; status 0 when there is none.
inline http_reply parse_reply(const std::string& bytes, bool head = false) {
  namespace http = boost::beast::http;
  http::response_parser<http::string_body> parser;
  parser.body_limit(64 * 1024 * 1024);
  parser.skip(head);
  boost::system::error_code ec;
  std::size_t used = 0;
  while (used < bytes.size() && !parser.is_done()) {
    const std::size_t n = parser.put(boost::asio::buffer(bytes.data() + used, bytes.size() - used), ec);
    if (ec == http::error::need_more) break;
    if (ec) return {};
    used += n;
  }
  if (!parser.is_done()) {
    if (!parser.got_some()) return {};
    parser.put_eof(ec);
    if (ec || !parser.is_done()) return {};
  }
  http_reply reply;
  const auto& res = parser.get();
  reply.status = res.result_int();
  for (const auto& field : res) {
    std::string name(field.name_string());
    for (char& c : name) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    reply.headers[name] = std::string(field.value());
  }
  reply.body = res.body();
  return reply;
}

// Sends raw bytes on a new connection and reads until the server closes it (or 10 s pass).
inline http_reply raw_exchange(int port, std::string_view bytes) {
  client_socket s(port);
  s.send_all(bytes);
  std::string received;
  const bool open = s.receive_until(received, std::chrono::steady_clock::now() + std::chrono::seconds(10),
                                    [](const std::string&) { return false; });
  http_reply reply = parse_reply(received);
  reply.closed = !open;
  return reply;
}

// One request with `Connection: close`; the reply as parsed.
inline http_reply http_call(int port, std::string_view method, std::string_view target, std::string_view body = {},
                            std::string_view extra_headers = {}) {
  std::string request = std::string(method) + " " + std::string(target) + " HTTP/1.1\r\nHost: 127.0.0.1\r\n";
  if (!body.empty() || method == "POST" || method == "PUT") {
    request += "Content-Type: application/json\r\nContent-Length: " + std::to_string(body.size()) + "\r\n";
  }
  request += std::string(extra_headers) + "Connection: close\r\n\r\n" + std::string(body);
  client_socket s(port);
  REQUIRE(s.send_all(request));
  std::string received;
  s.receive_until(received, std::chrono::steady_clock::now() + std::chrono::seconds(30),
                  [](const std::string&) { return false; });
  http_reply reply = parse_reply(received, method == "HEAD");
  INFO(method << " " << target << " -> " << received.substr(0, 300));
  REQUIRE(reply.status != 0);
  return reply;
}

// Figures of a process from /proc.
struct process_figures {
  long fds = 0;
  long threads = 0;
  long rss_kb = 0;
};

inline process_figures figures_of(pid_t pid) {
  process_figures f;
  const std::filesystem::path proc = "/proc/" + std::to_string(pid);
  std::error_code ec;
  for (auto it = std::filesystem::directory_iterator(proc / "fd", ec); !ec && it != std::filesystem::directory_iterator();
       it.increment(ec)) {
    ++f.fds;
  }
  std::ifstream status(proc / "status");
  for (std::string line; std::getline(status, line);) {
    if (line.starts_with("Threads:")) f.threads = std::stol(line.substr(8));
    if (line.starts_with("VmRSS:")) f.rss_kb = std::stol(line.substr(6));
  }
  return f;
}

inline std::string describe(const process_figures& f) {
  return std::to_string(f.fds) + " fds, " + std::to_string(f.threads) + " threads, " +
         std::to_string(f.rss_kb / 1024) + " MB RSS";
}

// Waits until `done()` holds, checking every 20 ms, for at most `limit`; whether it came true.
template <class Done>
bool eventually(Done done, std::chrono::milliseconds limit = std::chrono::seconds(10)) {
  const auto deadline = std::chrono::steady_clock::now() + limit;
  while (!done()) {
    if (std::chrono::steady_clock::now() > deadline) return false;
    ::poll(nullptr, 0, 20);
  }
  return true;
}

// flowstore-server, started against `nats`, listening on a free loopback port. Its stderr (a
// log line per request) goes to a file, so that a test that does not read it never blocks it.
class server_process {
 public:
  explicit server_process(const nats_server& nats, std::vector<std::string> extra_args = {},
                          const std::string& launcher = {})
      : process_(start(nats, std::move(extra_args), launcher, log_path())) {
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(30);
    while (true) {
      auto line = process_.read_line(deadline);
      INFO("flowstore-server did not say where it listens; its log: " << log());
      REQUIRE(line);
      if (line->starts_with("listening on ")) {
        port_ = std::stoi(line->substr(line->rfind(':') + 1));
        break;
      }
    }
  }

  ~server_process() {
    const std::string text = log();
    std::size_t start = text.size();
    for (int lines = 0; lines <= 60 && start > 0; ++lines) {
      const auto newline = text.rfind('\n', start - 1);
      start = newline == std::string::npos ? 0 : newline;
    }
    report_log_on_failure("flowstore-server on port " + std::to_string(port_), text.substr(start));
  }
  server_process(const server_process&) = delete;
  server_process& operator=(const server_process&) = delete;

  int port() const noexcept { return port_; }
  pid_t pid() const noexcept { return process_.pid(); }
  process_figures figures() const { return figures_of(process_.pid()); }
  void signal(int sig) { process_.signal(sig); }
  // Ends it with `sig` and returns what it printed and its exit code.
  run_result stop(int sig = SIGINT, std::chrono::milliseconds limit = std::chrono::seconds(60)) {
    process_.signal(sig);
    run_result r = process_.finish(limit);
    r.err = log();
    return r;
  }
  // Everything it wrote to stderr so far.
  std::string log() const {
    std::ifstream in(log_path());
    return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
  }

  http_reply call(std::string_view method, std::string_view target, std::string_view body = {},
                  std::string_view extra_headers = {}) const {
    return http_call(port_, method, target, body, extra_headers);
  }

 private:
  std::string log_path() const { return (dir_.path() / "server.log").string(); }

  static child_process start(const nats_server& nats, std::vector<std::string> extra_args, const std::string& launcher,
                             const std::string& log) {
    std::vector<std::string> args{"--nats", nats.url(), "--listen", "127.0.0.1:0"};
    args.insert(args.end(), extra_args.begin(), extra_args.end());
    // A shell that sets limits first when asked (`launcher`), then becomes the server.
    const std::string script = (launcher.empty() ? std::string() : launcher + " && ") + "exec \"$@\" 2>>'" + log + "'";
    std::vector<std::string> shell_args{"-c", script, "flowstore-server", FLOWSTORE_SERVER};
    shell_args.insert(shell_args.end(), args.begin(), args.end());
    return child_process("/bin/sh", shell_args);
  }

  temp_dir dir_;  // first: the process writes into it
  child_process process_;
  int port_ = 0;
};

}  // namespace flowstore::test
