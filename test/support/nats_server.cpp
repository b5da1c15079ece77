#include "support/nats_server.hpp"

#include <boost/json/parse.hpp>
#include <boost/json/serialize.hpp>
#include <boost/json/value.hpp>

#include <nats.h>

// The listener below needs Catch2's reporter interfaces; the implementation is in catch_main.cpp.
#define CATCH_CONFIG_EXTERNAL_INTERFACES
#include <catch2/catch.hpp>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <fstream>
#include <iostream>
#include <mutex>
#include <random>
#include <set>
#include <sstream>
#include <stdexcept>
#include <stdlib.h>
#include <string.h>
#include <system_error>
#include <thread>

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

namespace flowstore::test {
namespace {

using clock = std::chrono::steady_clock;
using namespace std::chrono_literals;

// Polling an external process while it comes up; nothing to await in-process.
constexpr auto poll_interval = 25ms;

[[noreturn]] void throw_errno(const char* what) {
  throw std::system_error(errno, std::generic_category(), what);
}

std::string read_file(const std::filesystem::path& path) {
  std::ifstream in(path, std::ios::binary);
  std::ostringstream text;
  text << in.rdbuf();
  return std::move(text).str();
}

std::string last_lines(const std::string& text, std::size_t max_lines) {
  std::size_t pos = text.size();
  if (pos > 0 && text[pos - 1] == '\n') --pos;
  for (std::size_t lines = 0; pos > 0; --pos) {
    if (text[pos - 1] == '\n' && ++lines == max_lines) break;
  }
  return text.substr(pos);
}

std::string describe_status(int status) {
  if (WIFEXITED(status)) return "exit code " + std::to_string(WEXITSTATUS(status));
  if (WIFSIGNALED(status)) return std::string("killed by signal ") + ::strsignal(WTERMSIG(status));
  return "status " + std::to_string(status);
}

std::string ms_text(std::chrono::milliseconds d) {
  return std::to_string(d.count()) + " ms";
}

// --- log registry for the failure listener ---------------------------------------------

struct retired_log {
  std::string title;
  std::string tail;
};

struct log_registry {
  std::mutex mutex;
  std::set<const nats_server*> live;
  std::vector<retired_log> retired;  // servers destroyed during the current test case
};

log_registry& registry() {
  // Leaked on purpose: servers in static storage may outlive any other static.
  static auto* r = new log_registry;
  return *r;
}

std::string title_of(const nats_server& s) {
  return "nats-server " + s.name() + " (" + s.url() + ", log " + s.log_path().string() + ")";
}

}  // namespace

void report_log_on_failure(std::string title, std::string tail) {
  auto& r = registry();
  std::lock_guard lock(r.mutex);
  r.retired.push_back({std::move(title), std::move(tail)});
}

namespace {

class server_log_listener : public Catch::TestEventListenerBase {
 public:
  using TestEventListenerBase::TestEventListenerBase;

  void testCaseStarting(const Catch::TestCaseInfo& info) override {
    {
      std::lock_guard lock(registry().mutex);
      registry().retired.clear();
    }
    TestEventListenerBase::testCaseStarting(info);
  }

  void testCaseEnded(const Catch::TestCaseStats& stats) override {
    if (stats.totals.assertions.failed > 0) {
      auto& r = registry();
      std::lock_guard lock(r.mutex);
      for (const auto& entry : r.retired) print(stats.testInfo.name, entry.title, entry.tail);
      for (const auto* server : r.live) print(stats.testInfo.name, title_of(*server), server->log_tail());
    }
    TestEventListenerBase::testCaseEnded(stats);
  }

 private:
  static void print(const std::string& test, const std::string& title, const std::string& tail) {
    std::cerr << "---- test \"" << test << "\" failed; " << title << ", last lines:\n"
              << tail << (tail.empty() || tail.back() == '\n' ? "" : "\n") << "---- end of " << title << '\n';
  }
};

// --- nats.c handles for the readiness probes -------------------------------------------

struct nats_deleter {
  void operator()(natsConnection* p) const { natsConnection_Destroy(p); }
  void operator()(natsOptions* p) const { natsOptions_Destroy(p); }
  void operator()(natsMsg* p) const { natsMsg_Destroy(p); }
  void operator()(natsSubscription* p) const { natsSubscription_Destroy(p); }
};
template <class T>
using nats_ptr = std::unique_ptr<T, nats_deleter>;

std::string nats_error(const char* what, natsStatus s) {
  std::string text = std::string(what) + ": " + natsStatus_GetText(s);
  natsStatus last = NATS_OK;
  if (const char* detail = nats_GetLastError(&last); detail && *detail) text += std::string(" (") + detail + ")";
  return text;
}

// One connection attempt; on failure returns null and sets `error`.
nats_ptr<natsConnection> probe_connect(const std::string& url, const client_auth& auth, std::string& error) {
  natsOptions* raw = nullptr;
  if (auto s = natsOptions_Create(&raw); s != NATS_OK) {
    error = nats_error("natsOptions_Create", s);
    return nullptr;
  }
  nats_ptr<natsOptions> opts(raw);
  natsStatus s = natsOptions_SetURL(opts.get(), url.c_str());
  if (s == NATS_OK) s = natsOptions_SetName(opts.get(), "flowstore-test-harness");
  if (s == NATS_OK) s = natsOptions_SetTimeout(opts.get(), 2000);
  if (s == NATS_OK) s = natsOptions_SetAllowReconnect(opts.get(), false);
  if (s == NATS_OK && !auth.user.empty())
    s = natsOptions_SetUserInfo(opts.get(), auth.user.c_str(), auth.password.c_str());
  if (s == NATS_OK && !auth.token.empty()) s = natsOptions_SetToken(opts.get(), auth.token.c_str());
  if (s == NATS_OK && !auth.credentials_file.empty())
    s = natsOptions_SetUserCredentialsFromFiles(opts.get(), auth.credentials_file.c_str(), nullptr);
  if (s == NATS_OK && !auth.tls_ca_file.empty()) {
    s = natsOptions_SetSecure(opts.get(), true);
    if (s == NATS_OK) s = natsOptions_LoadCATrustedCertificates(opts.get(), auth.tls_ca_file.c_str());
  }
  if (s == NATS_OK && !auth.tls_cert_file.empty())
    s = natsOptions_LoadCertificatesChain(opts.get(), auth.tls_cert_file.c_str(), auth.tls_key_file.c_str());
  if (s != NATS_OK) {
    error = nats_error("setting probe connection options", s);
    return nullptr;
  }
  natsConnection* nc = nullptr;
  if (s = natsConnection_Connect(&nc, opts.get()); s != NATS_OK) {
    error = nats_error(("connecting to " + url).c_str(), s);
    return nullptr;
  }
  return nats_ptr<natsConnection>(nc);
}

nats_ptr<natsConnection> probe_connect_until(const nats_server& server, clock::time_point deadline,
                                             std::string& error) {
  for (;;) {
    if (auto nc = probe_connect(server.url(), server.options().auth, error)) return nc;
    if (clock::now() >= deadline) return nullptr;
    std::this_thread::sleep_for(poll_interval);
  }
}

// A JetStream API request; true when a reply came and it carries no "error" member.
bool api_request(natsConnection* nc, const std::string& subject, const std::string& body,
                 std::chrono::milliseconds timeout, std::string& error) {
  natsMsg* raw = nullptr;
  natsStatus s =
      natsConnection_Request(&raw, nc, subject.c_str(), body.data(), static_cast<int>(body.size()), timeout.count());
  if (s != NATS_OK) {
    error = nats_error(subject.c_str(), s);
    return false;
  }
  nats_ptr<natsMsg> reply(raw);
  std::string_view data(natsMsg_GetData(reply.get()), static_cast<std::size_t>(natsMsg_GetDataLength(reply.get())));
  boost::system::error_code ec;
  boost::json::value json = boost::json::parse(data, ec);
  if (ec || !json.is_object()) {
    error = subject + ": reply is not a JSON object: " + std::string(data);
    return false;
  }
  if (const auto* e = json.as_object().if_contains("error")) {
    error = subject + ": " + boost::json::serialize(*e);
    return false;
  }
  return true;
}

bool tcp_accepts(int port) {
  int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) throw_errno("socket");
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(static_cast<std::uint16_t>(port));
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  bool ok = ::connect(fd, reinterpret_cast<const sockaddr*>(&addr), sizeof addr) == 0;
  ::close(fd);
  return ok;
}

std::string unique_token() {
  static std::atomic<unsigned> counter{0};
  static const auto seed = std::random_device{}();
  return std::to_string(::getpid()) + "_" + std::to_string(seed % 100000) + "_" + std::to_string(counter++);
}

}  // namespace

CATCH_REGISTER_LISTENER(server_log_listener)

// --- ports -----------------------------------------------------------------------------

std::vector<int> free_loopback_ports(std::size_t n) {
  std::vector<int> fds;
  std::vector<int> ports;
  auto close_all = [&] {
    for (int fd : fds) ::close(fd);
  };
  for (std::size_t i = 0; i < n; ++i) {
    int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0) {
      close_all();
      throw_errno("socket");
    }
    fds.push_back(fd);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_port = 0;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t len = sizeof addr;
    if (::bind(fd, reinterpret_cast<const sockaddr*>(&addr), sizeof addr) != 0 ||
        ::getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len) != 0) {
      int saved = errno;
      close_all();
      errno = saved;
      throw_errno("binding a loopback port");
    }
    ports.push_back(ntohs(addr.sin_port));
  }
  close_all();
  return ports;
}

int free_loopback_port() {
  return free_loopback_ports(1).front();
}

// --- nats_server -----------------------------------------------------------------------

nats_server::nats_server(server_options options) : options_(std::move(options)) {
  std::string pattern = (std::filesystem::temp_directory_path() / "flowstore-nats-XXXXXX").string();
  if (::mkdtemp(pattern.data()) == nullptr) throw_errno("mkdtemp");
  dir_ = pattern;
  try {
    // A port picked here can be taken by someone else before the server binds it: retry.
    for (int attempt = 1;; ++attempt) {
      port_ = options_.port != 0 ? options_.port : free_loopback_port();
      name_ = options_.server_name.empty() ? "flowstore-" + std::to_string(port_) : options_.server_name;
      write_config();
      launch();
      try {
        wait_ready();
        break;
      } catch (const std::runtime_error&) {
        kill();
        bool conflict = read_file(log_path()).find("address already in use") != std::string::npos;
        if (options_.port != 0 || !conflict || attempt == 3) throw;
      }
    }
  } catch (...) {
    kill();
    std::error_code ec;
    std::filesystem::remove_all(dir_, ec);
    throw;
  }
  std::lock_guard lock(registry().mutex);
  registry().live.insert(this);
}

nats_server::~nats_server() {
  try {
    stop();
  } catch (...) {
    // Destructors must not throw; kill() below is the last resort.
  }
  if (pid_ != 0) kill();
  {
    auto& r = registry();
    std::lock_guard lock(r.mutex);
    r.live.erase(this);
    try {
      r.retired.push_back({title_of(*this), log_tail()});
    } catch (...) {
    }
  }
  std::error_code ec;
  std::filesystem::remove_all(dir_, ec);
}

std::string nats_server::url() const {
  return "nats://127.0.0.1:" + std::to_string(port_);
}

std::filesystem::path nats_server::store_dir() const {
  return dir_ / "store";
}

std::filesystem::path nats_server::log_path() const {
  return dir_ / "nats-server.log";
}

std::string nats_server::log() const {
  return read_file(log_path());
}

std::string nats_server::log_tail(std::size_t max_lines) const {
  return last_lines(log(), max_lines);
}

void nats_server::write_config() const {
  std::ostringstream c;
  c << "# generated by the flowstore test harness\n"
    << "server_name: \"" << name_ << "\"\n"
    << "listen: \"127.0.0.1:" << port_ << "\"\n";
  if (options_.jetstream) c << "jetstream {\n  store_dir: \"" << store_dir().string() << "\"\n}\n";
  if (const auto& cl = options_.cluster) {
    c << "cluster {\n  name: \"" << cl->name << "\"\n  listen: \"127.0.0.1:" << cl->port << "\"\n  routes: [\n";
    for (int route : cl->routes) c << "    \"nats-route://127.0.0.1:" << route << "\"\n";
    c << "  ]\n}\n";
  }
  c << options_.extra_config << '\n';
  std::ofstream out(dir_ / "nats-server.conf", std::ios::trunc);
  out << c.str();
  if (!out.flush()) throw std::runtime_error("cannot write " + (dir_ / "nats-server.conf").string());
}

void nats_server::launch() {
  std::vector<std::string> args{FLOWSTORE_NATS_SERVER_PATH, "-c", (dir_ / "nats-server.conf").string()};
  std::vector<char*> argv;
  for (auto& a : args) argv.push_back(a.data());
  argv.push_back(nullptr);

  {
    std::ofstream marker(log_path(), std::ios::app);
    marker << "==== flowstore test harness: starting " << name_ << " on " << url() << " ====\n";
  }
  int log_fd = ::open(log_path().c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
  if (log_fd < 0) throw_errno("opening the nats-server log");
  int null_fd = ::open("/dev/null", O_RDONLY | O_CLOEXEC);
  if (null_fd < 0) {
    ::close(log_fd);
    throw_errno("opening /dev/null");
  }
  const pid_t parent = ::getpid();
  const long max_fd = std::clamp(::sysconf(_SC_OPEN_MAX), 256L, 65536L);

  const pid_t child = ::fork();
  if (child == 0) {
    // Only async-signal-safe calls until execv: the parent has threads (nats.c).
    ::dup2(null_fd, STDIN_FILENO);
    ::dup2(log_fd, STDOUT_FILENO);
    ::dup2(log_fd, STDERR_FILENO);
    // Don't leave an orphaned server behind when the test process dies (crash, ctest
    // timeout). Linux sends this when the forking *thread* exits, so create servers on
    // the thread that owns them.
    ::prctl(PR_SET_PDEATHSIG, SIGKILL);
    if (::getppid() != parent) ::_exit(127);
    sigset_t none;
    ::sigemptyset(&none);
    ::sigprocmask(SIG_SETMASK, &none, nullptr);
    // Keep the test's sockets (other servers' clients) out of the server process.
    if (::close_range(3, ~0U, 0) != 0) {
      for (int fd = 3; fd < max_fd; ++fd) ::close(fd);
    }
    ::execv(argv[0], argv.data());
    static const char msg[] = "flowstore test harness: execv(nats-server) failed\n";
    [[maybe_unused]] auto ignored = ::write(STDERR_FILENO, msg, sizeof msg - 1);
    ::_exit(127);
  }
  const int fork_errno = errno;
  ::close(log_fd);
  ::close(null_fd);
  if (child < 0) {
    errno = fork_errno;
    throw_errno("fork");
  }
  pid_ = child;
  paused_ = false;
}

void nats_server::reap(bool block) const {
  if (pid_ == 0) return;
  int status = 0;
  pid_t r;
  do {
    r = ::waitpid(pid_, &status, block ? 0 : WNOHANG);
  } while (r < 0 && errno == EINTR);
  if (r == pid_ || (r < 0 && errno == ECHILD)) {
    pid_ = 0;
    last_status_ = status;
  }
}

bool nats_server::running() const {
  reap(false);
  return pid_ != 0;
}

void nats_server::wait_ready() {
  const auto deadline = clock::now() + options_.ready_timeout;
  const bool needs_jetstream = options_.jetstream && !options_.cluster;
  std::string last_error = "the client port does not accept connections";
  nats_ptr<natsConnection> nc;
  for (;;) {
    if (!running()) fail(name_ + " exited during startup (" + describe_status(last_status_) + ")");
    if (!nc && tcp_accepts(port_)) {
      if (!needs_jetstream) return;
      nc = probe_connect(url(), options_.auth, last_error);
    }
    if (nc && api_request(nc.get(), "$JS.API.INFO", {}, 1s, last_error)) return;
    if (clock::now() >= deadline)
      fail(name_ + " not ready after " + ms_text(options_.ready_timeout) + ": " + last_error);
    std::this_thread::sleep_for(poll_interval);
  }
}

void nats_server::stop(std::chrono::milliseconds grace) {
  if (!running()) return;
  ::kill(pid_, SIGTERM);
  if (paused_) ::kill(pid_, SIGCONT);  // a stopped process would never act on SIGTERM
  paused_ = false;
  const auto deadline = clock::now() + grace;
  while (running()) {
    if (clock::now() >= deadline) {
      kill();
      return;
    }
    std::this_thread::sleep_for(10ms);
  }
}

void nats_server::kill() {
  if (pid_ == 0) return;
  ::kill(pid_, SIGKILL);
  reap(true);
  paused_ = false;
}

void nats_server::start() {
  if (running()) throw std::logic_error("nats_server::start: " + name_ + " is already running");
  launch();
  try {
    wait_ready();
  } catch (...) {
    kill();
    throw;
  }
}

void nats_server::pause() {
  if (!running() || paused_) return;
  ::kill(pid_, SIGSTOP);
  int status = 0;
  pid_t r;
  do {
    r = ::waitpid(pid_, &status, WUNTRACED);
  } while (r < 0 && errno == EINTR);
  if (r == pid_ && WIFSTOPPED(status)) {
    paused_ = true;
  } else if (r == pid_) {
    pid_ = 0;
    last_status_ = status;
    fail(name_ + " exited instead of pausing (" + describe_status(status) + ")");
  }
}

void nats_server::resume() {
  if (!paused_) return;
  ::kill(pid_, SIGCONT);
  paused_ = false;
}

void nats_server::fail(const std::string& what) const {
  throw std::runtime_error(what + "\n---- " + title_of(*this) + ", last lines:\n" + log_tail());
}

// --- nats_cluster ----------------------------------------------------------------------

nats_cluster::nats_cluster(cluster_options options) : options_(std::move(options)) {
  const std::size_t n = options_.size;
  if (n == 0) throw std::invalid_argument("nats_cluster needs at least one node");
  const auto ports = free_loopback_ports(2 * n);
  for (std::size_t i = 0; i < n; ++i) {
    cluster_settings cluster{.name = options_.name, .port = ports[n + i], .routes = {}};
    for (std::size_t j = 0; j < n; ++j) {
      if (j != i) cluster.routes.push_back(ports[n + j]);
    }
    nodes_.push_back(std::make_unique<nats_server>(server_options{
        .jetstream = true,
        .extra_config = options_.extra_config,
        .port = ports[i],
        .server_name = "n" + std::to_string(i + 1),
        .cluster = std::move(cluster),
        .auth = options_.auth,
        .ready_timeout = options_.ready_timeout,
    }));
  }
  const auto deadline = clock::now() + options_.ready_timeout;
  for (std::size_t i = 0; i < n; ++i) wait_routed(i, deadline);
  wait_for_meta_leader(std::chrono::duration_cast<std::chrono::milliseconds>(deadline - clock::now()));
  wait_placement(deadline);
}

nats_cluster::~nats_cluster() {
  // Signal every node first so they shut down in parallel, not one grace period each.
  for (auto& node : nodes_) {
    if (node->running() && !node->paused()) ::kill(node->pid(), SIGTERM);
  }
  nodes_.clear();
}

std::vector<std::string> nats_cluster::urls() const {
  std::vector<std::string> result;
  for (const auto& node : nodes_) result.push_back(node->url());
  return result;
}

void nats_cluster::stop_node(std::size_t i) {
  node(i).stop();
}

void nats_cluster::kill_node(std::size_t i) {
  node(i).kill();
}

void nats_cluster::start_node(std::size_t i) {
  node(i).start();
  const auto deadline = clock::now() + options_.ready_timeout;
  wait_routed(i, deadline);
  wait_for_meta_leader(std::chrono::duration_cast<std::chrono::milliseconds>(deadline - clock::now()));
  wait_placement(deadline);
}

void nats_cluster::wait_routed(std::size_t i, clock::time_point deadline) {
  std::string error;
  auto sub_nc = probe_connect_until(node(i), deadline, error);
  if (!sub_nc) fail(node(i).name() + " does not accept clients: " + error);
  const std::string subject = "_flowstore.harness.route." + unique_token();
  natsSubscription* raw_sub = nullptr;
  if (auto s = natsConnection_SubscribeSync(&raw_sub, sub_nc.get(), subject.c_str()); s != NATS_OK)
    fail(nats_error("subscribing for the route check", s));
  nats_ptr<natsSubscription> sub(raw_sub);
  natsConnection_FlushTimeout(sub_nc.get(), 2000);

  // A message published on node j reaches node i's subscriber only over their route
  // (after node i's interest has propagated to j).
  for (std::size_t j = 0; j < size(); ++j) {
    if (j == i || !node(j).running()) continue;
    auto pub_nc = probe_connect_until(node(j), deadline, error);
    if (!pub_nc) fail(node(j).name() + " does not accept clients: " + error);
    const std::string payload = node(j).name();
    for (bool routed = false; !routed;) {
      natsConnection_PublishString(pub_nc.get(), subject.c_str(), payload.c_str());
      natsConnection_FlushTimeout(pub_nc.get(), 1000);
      natsMsg* raw_msg = nullptr;
      while (!routed && natsSubscription_NextMsg(&raw_msg, sub.get(), 100) == NATS_OK) {
        nats_ptr<natsMsg> msg(raw_msg);
        routed = std::string_view(natsMsg_GetData(msg.get()),
                                  static_cast<std::size_t>(natsMsg_GetDataLength(msg.get()))) == payload;
      }
      if (!routed && clock::now() >= deadline) fail(node(i).name() + " is not routed to " + node(j).name());
    }
  }
}

void nats_cluster::wait_for_meta_leader(std::chrono::milliseconds limit) {
  const auto deadline = clock::now() + limit;
  for (std::size_t i = 0; i < size(); ++i) {
    if (!node(i).running()) continue;
    std::string error;
    auto nc = probe_connect_until(node(i), deadline, error);
    while (!nc || !api_request(nc.get(), "$JS.API.INFO", {}, 1s, error)) {
      if (clock::now() >= deadline)
        fail("no JetStream meta leader answers through " + node(i).name() + " after " + ms_text(limit) + ": " + error);
      std::this_thread::sleep_for(poll_interval);
      if (!nc) nc = probe_connect(node(i).url(), node(i).options().auth, error);
    }
  }
}

// Creating a memory stream with one replica per node succeeds only once the meta leader
// counts every node as an available JetStream peer; until then it answers "insufficient
// resources" (or times out while peers catch up).
void nats_cluster::wait_placement(clock::time_point deadline) {
  for (std::size_t i = 0; i < size(); ++i) {
    if (!node(i).running()) return;  // a down node could never host its replica
  }
  std::string error;
  auto nc = probe_connect_until(node(0), deadline, error);
  if (!nc) fail("node n1 does not accept clients: " + error);
  std::vector<std::string> attempted;
  bool placed = false;
  while (!placed) {
    const std::string stream = "FLOWSTORE_HARNESS_PROBE_" + unique_token();
    attempted.push_back(stream);
    boost::json::object config{{"name", stream},
                               {"subjects", boost::json::array{"_flowstore.harness.probe." + stream}},
                               {"storage", "memory"},
                               {"num_replicas", size()}};
    placed = api_request(nc.get(), "$JS.API.STREAM.CREATE." + stream, boost::json::serialize(config), 5s, error);
    if (!placed && clock::now() >= deadline) break;
    if (!placed) std::this_thread::sleep_for(200ms);
  }
  // Remove every probe, including ones whose creation reply was lost.
  std::string ignored;
  for (const auto& stream : attempted) api_request(nc.get(), "$JS.API.STREAM.DELETE." + stream, {}, 5s, ignored);
  if (!placed) fail("the meta group cannot place a stream with " + std::to_string(size()) + " replicas: " + error);
}

void nats_cluster::fail(const std::string& what) const {
  std::string text = what;
  for (const auto& node : nodes_) text += "\n---- " + title_of(*node) + ", last lines:\n" + node->log_tail(40);
  throw std::runtime_error(text);
}

}  // namespace flowstore::test
