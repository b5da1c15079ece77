// Quickstart: connect, open the store, create, read, update, provoke a conflict, list, look at
// the history and remove — each step printed.
//
//   quickstart [nats://127.0.0.1:4222]
#include <flowstore/connection.hpp>
#include <flowstore/store.hpp>

#include "example_main.hpp"

#include <boost/asio/this_coro.hpp>

#include <iostream>

namespace asio = boost::asio;

asio::awaitable<int> run(std::string url) {
  auto opened = co_await example::connect_and_open(url);
  if (!opened) co_return 1;
  auto& [conn, store] = *opened;
  std::cout << "connected to " << url << ", bucket " << store.bucket() << '\n';

  // Create: a flow with two nodes and a connection between them.
  flowstore::flow f;
  f.id = "quickstart";
  f.name = "Quickstart";
  f.nodes.push_back({.id = "udp-in",
                     .component = "udp",
                     .type = flowstore::component_type::input,
                     .name = "udp-input-1",
                     .pos = {100, 100},
                     .config = {{"port", 5000}}});
  f.nodes.push_back({.id = "graph",
                     .component = "graph-processor",
                     .type = flowstore::component_type::processor,
                     .name = "graph-1",
                     .pos = {400, 100}});
  f.connections.push_back(
      {.id = "c1", .source_node_id = "udp-in", .source_port = "out", .target_node_id = "graph", .target_port = "in"});
  auto created = co_await store.create(f);
  if (!created) {
    std::cerr << created.error().what() << '\n';
    co_return 1;
  }
  std::cout << "created  '" << created->id << "' version " << created->version << " (revision " << created->revision
            << ")\n";

  // Get and update: the flow read carries its revision, so the update is one compare-and-set.
  auto read = co_await store.get("quickstart");
  std::cout << "got      '" << read->name << "' with " << read->nodes.size() << " nodes\n";
  read->name = "Quickstart, renamed";
  auto updated = co_await store.update(*read);
  std::cout << "updated  to version " << updated->version << '\n';

  // A stale copy (still version 1) loses: a conflict, category invalid.
  auto stale = co_await store.update(*created);
  std::cout << "stale    update: " << stale.error().message << "\n         invalid: " << std::boolalpha
            << (stale.error().code == flowstore::condition::invalid)
            << ", transient: " << (stale.error().code == flowstore::condition::transient) << '\n';

  auto listed = co_await store.list();
  std::cout << "list     " << listed->flows.size() << " flow(s):";
  for (const auto& each : listed->flows) std::cout << " '" << each.id << "' v" << each.version;
  std::cout << '\n';

  auto history = co_await store.history("quickstart");
  std::cout << "history  " << history->size() << " revision(s):";
  for (const auto& r : *history) std::cout << ' ' << r.revision;
  std::cout << '\n';

  auto removed = co_await store.remove("quickstart");
  auto gone = co_await store.get("quickstart");
  std::cout << "removed  " << (removed ? "ok" : removed.error().message) << "; get now: " << gone.error().message
            << '\n';

  co_await conn.close();
  co_return 0;
}

int main(int argc, char** argv) { return example::run_to_completion(run(example::server_url(argc, argv))); }
