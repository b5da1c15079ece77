// Optimistic concurrency: 8 coroutines each make 25 edits to the same flow with
// store::modify(), the read-modify-write loop: read, change, compare-and-set, and when another
// writer got in between (errc::conflict) read again and redo the change. No edit is lost.
//
//   retry_on_conflict [nats://127.0.0.1:4222]
#include <flowstore/flowstore.hpp>

#include "example_main.hpp"

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>

#include <chrono>
#include <functional>
#include <iostream>
#include <string>

namespace asio = boost::asio;

constexpr int writers = 8;
constexpr int rounds = 25;
const std::string flow_id = "retry-demo";

struct tally {
  int applied = 0;
  int changes_made = 0;  // calls of the change function: one per round, more when rounds were lost
  int finished = 0;
  bool gave_up = false;
};

std::string mark_name(int writer, int round) { return "w" + std::to_string(writer) + ".r" + std::to_string(round); }

asio::awaitable<void> writer(flowstore::store store, int number, tally& counts) {
  for (int round = 0; round < rounds && !counts.gave_up; ++round) {
    // The change is made on the flow modify() just read, so it can be made again on a newer one.
    // (A named function: g++ 12 destroys a lambda written inside a co_await expression twice.)
    const std::string mark = mark_name(number, round);
    const std::function<bool(flowstore::flow&)> add_mark = [&counts, mark](flowstore::flow& f) {
      ++counts.changes_made;
      f.nodes.front().config[mark] = true;
      return true;  // false would leave the flow as it is
    };
    auto stored = co_await store.modify(flow_id, add_mark);
    if (!stored) {
      // Conflicts are retried inside modify(); what comes out is an error to act on.
      std::cerr << "giving up: " << stored.error().what() << '\n';
      counts.gave_up = true;
      break;
    }
    ++counts.applied;
  }
}

asio::awaitable<int> run(std::string url) {
  auto executor = co_await asio::this_coro::executor;
  auto opened = co_await example::connect_and_open(url);
  if (!opened) co_return 1;
  auto& [conn, store] = *opened;

  flowstore::flow f;
  f.id = flow_id;
  f.name = "Retry demo";
  flowstore::flow_node marks;
  marks.id = "marks";
  marks.component = "graph-processor";
  marks.type = flowstore::component_type::processor;
  marks.name = "marks-1";
  f.nodes.push_back(std::move(marks));
  auto created = co_await store.create(std::move(f));
  if (!created) {
    std::cerr << created.error().what() << '\n';
    co_return 1;
  }

  // All writers run at once on this thread; each co_await lets another one in, so their reads
  // and updates interleave and many rounds race.
  tally counts;
  asio::steady_timer all_done(executor, std::chrono::steady_clock::time_point::max());
  for (int number = 0; number < writers; ++number) {
    asio::co_spawn(executor, writer(store, number, counts), [&](std::exception_ptr e) {
      if (e) counts.gave_up = true;
      if (++counts.finished == writers) all_done.cancel();
    });
  }
  co_await all_done.async_wait(asio::as_tuple(asio::use_awaitable));

  auto final_flow = co_await store.get(flow_id);
  if (!final_flow) {
    std::cerr << final_flow.error().what() << '\n';
    co_return 1;
  }
  std::cout << counts.applied << " updates applied, " << counts.changes_made - counts.applied
            << " rounds lost to another writer and redone, final version " << final_flow->version << '\n';
  int missing = 0;
  const auto& config = final_flow->nodes.front().config;
  for (int number = 0; number < writers; ++number) {
    for (int round = 0; round < rounds; ++round) {
      if (!config.contains(mark_name(number, round))) ++missing;
    }
  }
  if (missing == 0) {
    std::cout << "all marks present\n";
  } else {
    std::cout << missing << " marks missing\n";
  }
  // Removed so that the example can run again against the same bucket.
  auto removed = co_await store.remove(flow_id);
  if (!removed) std::cerr << removed.error().what() << '\n';
  co_await conn.close();
  const bool consistent = removed && !counts.gave_up && missing == 0 && final_flow->version == 1 + writers * rounds;
  co_return consistent ? 0 : 1;
}

int main(int argc, char** argv) { return example::run_to_completion(run(example::server_url(argc, argv))); }
