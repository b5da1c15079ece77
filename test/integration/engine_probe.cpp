// Runs one engine operation and kills itself with SIGKILL after its Nth component write, for the
// test that an operation interrupted between writes converges when it is retried.
//
//   flowstore-engine-probe URL FLOW OPERATION N
//     OPERATION: deploy, start, stop or undeploy; N: the component step after which to die
// Exit 0 when the operation finished before the Nth step, 1 when it failed (message on stderr).
#include <flowstore/connection.hpp>
#include <flowstore/engine.hpp>
#include <flowstore/store.hpp>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/this_coro.hpp>

#include <csignal>
#include <cstdio>
#include <exception>
#include <string>

namespace asio = boost::asio;

namespace {

asio::awaitable<int> probe(std::string url, std::string id, std::string operation, int die_after) {
  flowstore::connect_options options;
  options.servers = {url};
  auto conn = co_await flowstore::connect(co_await asio::this_coro::executor, std::move(options));
  if (!conn) {
    std::fprintf(stderr, "connect: %s\n", conn.error().what().c_str());
    co_return 1;
  }
  auto flows = co_await flowstore::store::open(*conn);
  if (!flows) co_return 1;
  auto engine = co_await flowstore::engine::open(*flows, flowstore::component_catalog::standard());
  if (!engine) co_return 1;
  int steps = 0;
  engine->on_event([&](const flowstore::engine_event& e) {
    if (e.what == flowstore::engine_event::kind::state_changed) return;
    if (++steps == die_after) std::raise(SIGKILL);
  });
  flowstore::result<flowstore::flow> done = flowstore::error{};
  if (operation == "deploy") done = co_await engine->deploy(id);
  if (operation == "start") done = co_await engine->start(id);
  if (operation == "stop") done = co_await engine->stop(id);
  if (operation == "undeploy") done = co_await engine->undeploy(id);
  co_await conn->close();
  if (!done) {
    std::fprintf(stderr, "%s: %s\n", operation.c_str(), done.error().what().c_str());
    co_return 1;
  }
  std::printf("%s done after %d component steps\n", operation.c_str(), steps);
  co_return 0;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc != 5) {
    std::fprintf(stderr, "usage: flowstore-engine-probe URL FLOW OPERATION N\n");
    return 2;
  }
  asio::io_context io;
  int code = 1;
  asio::co_spawn(io, probe(argv[1], argv[2], argv[3], std::stoi(argv[4])), [&](std::exception_ptr e, int r) {
    code = e ? 1 : r;
  });
  io.run();
  return code;
}
