// Watch: print a line for every change of every flow while another coroutine creates, updates
// and removes flows on the same connection.
//
//   watch [nats://127.0.0.1:4222]
#include <flowstore/connection.hpp>
#include <flowstore/store.hpp>
#include <flowstore/watch.hpp>

#include "example_main.hpp"

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/this_coro.hpp>

#include <iostream>

namespace asio = boost::asio;

// Creates, updates and removes a few flows.
asio::awaitable<void> edit(flowstore::store store) {
  for (int i = 1; i <= 3; ++i) {
    flowstore::flow f;
    f.id = "watch-demo." + std::to_string(i);
    f.name = "Watch demo " + std::to_string(i);
    auto created = co_await store.create(std::move(f));
    if (!created) {
      std::cerr << created.error().what() << '\n';
      co_return;
    }
    created->description = "edited";
    co_await store.update(std::move(*created));
  }
  for (int i = 1; i <= 3; ++i) co_await store.remove("watch-demo." + std::to_string(i));
}

asio::awaitable<int> run(std::string url) {
  auto opened = co_await example::connect_and_open(url);
  if (!opened) co_return 1;
  auto& [conn, store] = *opened;

  flowstore::watcher changes = store.watch("watch-demo.*");
  int removals = 0;
  bool editing = false;
  while (true) {
    auto event = co_await changes.next();
    if (!event) {
      std::cerr << event.error().what() << '\n';
      co_return 1;
    }
    if (event->type == flowstore::flow_event::kind::initial_values_done) {
      std::cout << "initial values done";
    } else {
      std::cout << flowstore::to_string(event->type) << " '" << event->id << "' revision " << event->revision;
    }
    if (event->value) std::cout << " version " << event->value->version << " \"" << event->value->name << '"';
    if (event->problem) std::cout << " (" << event->problem->message << ')';
    std::cout << '\n';
    // Start editing once the current state is known; stop after the last removal.
    if (event->type == flowstore::flow_event::kind::initial_values_done) {
      editing = true;
      asio::co_spawn(co_await asio::this_coro::executor, edit(store), asio::detached);
    }
    if (editing && event->type == flowstore::flow_event::kind::deleted && ++removals == 3) break;
  }
  changes.stop();
  co_await conn.close();
  co_return 0;
}

int main(int argc, char** argv) { return example::run_to_completion(run(example::server_url(argc, argv))); }
