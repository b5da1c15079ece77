// Real nats-server processes for integration tests: one server, or a JetStream cluster.
//
// Each fixture runs `nats-server -c <generated config>` in its own temporary directory
// (config, log, JetStream storage) on free loopback ports and waits until JetStream
// answers. Nothing here mocks the server.
//
// Failure diagnostics: a Catch2 event listener (in nats_server.cpp) prints the log tail of
// every server that lived during a failed test case to stderr when that test case ends.
// Servers are usually destroyed before Catch2 reports the test case's end, so each server
// hands its log tail to the listener in its destructor; the listener drops them when the
// next test case starts. Construction failures throw std::runtime_error carrying the log
// tail themselves.
#pragma once

#include <chrono>
#include <cstddef>
#include <filesystem>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include <sys/types.h>

namespace flowstore::test {

// Credentials the fixture's own readiness probe uses, for servers whose extra_config turns
// on authentication or TLS. Tests can reuse them for their connections.
struct client_auth {
  std::string user;
  std::string password;
  std::string token;
  std::string credentials_file;  // JWT + NKey seed (.creds)
  std::string tls_ca_file;       // set: connect with TLS, trusting this CA
  std::string tls_cert_file;     // client certificate, for verify: true servers
  std::string tls_key_file;
};

// Route settings for a server that is one node of a cluster (nats_cluster fills these).
struct cluster_settings {
  std::string name = "flowstore-test";
  int port = 0;             // route listen port; 0 picks a free one
  std::vector<int> routes;  // route ports of the other nodes
};

struct server_options {
  bool jetstream = true;
  std::string extra_config;  // appended to the generated config file (auth, TLS, limits…)
  int port = 0;              // client port; 0 picks a free one
  std::string server_name;   // empty: "flowstore-<port>"
  std::optional<cluster_settings> cluster;
  client_auth auth;
  std::chrono::milliseconds ready_timeout = std::chrono::seconds(10);
};

// Hands the log of another process of the test (a server under test, say) to the failure
// listener: it is printed after the current test case if that fails.
void report_log_on_failure(std::string title, std::string tail);

// A free TCP port on 127.0.0.1 at the time of the call (bind port 0, read it, close).
int free_loopback_port();
// n distinct free ports: all are held open together before any is released.
std::vector<int> free_loopback_ports(std::size_t n);

// One nats-server child process. Not copyable or movable (the log listener keeps its address).
//
// Readiness: the client port accepts TCP and, for a standalone server with JetStream, a
// nats.c request to $JS.API.INFO gets a reply without an error. A cluster node only waits
// for its client port, because its JetStream needs a quorum; nats_cluster waits for that.
class nats_server {
 public:
  explicit nats_server(server_options options = {});
  ~nats_server();
  nats_server(const nats_server&) = delete;
  nats_server& operator=(const nats_server&) = delete;

  std::string url() const;  // "nats://127.0.0.1:PORT"
  int port() const { return port_; }
  pid_t pid() const { return pid_; }  // 0 when not running
  const std::string& name() const { return name_; }
  const server_options& options() const { return options_; }
  std::filesystem::path store_dir() const;
  std::filesystem::path log_path() const;
  std::string log() const;                                 // the whole log file
  std::string log_tail(std::size_t max_lines = 80) const;  // its last lines

  // SIGTERM, wait up to `grace`, then SIGKILL. No-op when not running.
  void stop(std::chrono::milliseconds grace = std::chrono::seconds(10));
  // SIGKILL and reap: a crash, nothing flushed beyond what the server already wrote.
  void kill();
  // Relaunch with the same port, config and storage, and wait until ready.
  // Throws std::logic_error when already running. The process gets SIGKILL when the thread
  // that launched it ends (PR_SET_PDEATHSIG), so call it from a thread that outlives it.
  void start();
  void pause();   // SIGSTOP, returns once the process is stopped
  void resume();  // SIGCONT
  bool running() const;
  bool paused() const { return paused_; }

  // The client-port/JetStream readiness wait the constructor and start() perform.
  void wait_ready();

 private:
  void write_config() const;
  void launch();
  void reap(bool block) const;
  [[noreturn]] void fail(const std::string& what) const;

  server_options options_;
  int port_ = 0;
  std::string name_;
  std::filesystem::path dir_;
  mutable pid_t pid_ = 0;
  mutable int last_status_ = 0;  // wait status of the last reaped process
  bool paused_ = false;
};

struct cluster_options {
  std::size_t size = 3;
  std::string name = "flowstore-test";
  std::string extra_config;  // appended to every node's config
  client_auth auth;
  std::chrono::milliseconds ready_timeout = std::chrono::seconds(20);
};

// N JetStream nodes "n1".."nN", fully routed. The constructor returns once every node is
// routed to every other and a stream with N replicas can be placed (the meta group has a
// leader and knows all peers).
class nats_cluster {
 public:
  explicit nats_cluster(cluster_options options = {});
  ~nats_cluster();
  nats_cluster(const nats_cluster&) = delete;
  nats_cluster& operator=(const nats_cluster&) = delete;

  std::size_t size() const { return nodes_.size(); }
  nats_server& node(std::size_t i) { return *nodes_.at(i); }
  const nats_server& node(std::size_t i) const { return *nodes_.at(i); }
  std::vector<std::string> urls() const;  // every node's client URL, running or not

  void stop_node(std::size_t i);
  void kill_node(std::size_t i);
  // Restart node i on its ports and storage; returns once it is routed to every running
  // node and, when all nodes run, the meta group can place an N-replica stream again.
  void start_node(std::size_t i);

  // Every running node's $JS.API.INFO is answered (by the meta leader) without an error.
  void wait_for_meta_leader(std::chrono::milliseconds limit = std::chrono::seconds(20));

 private:
  void wait_routed(std::size_t i, std::chrono::steady_clock::time_point deadline);
  void wait_placement(std::chrono::steady_clock::time_point deadline);
  [[noreturn]] void fail(const std::string& what) const;

  cluster_options options_;
  std::vector<std::unique_ptr<nats_server>> nodes_;
};

}  // namespace flowstore::test
