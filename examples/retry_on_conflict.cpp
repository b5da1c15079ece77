// Optimistic concurrency: 8 coroutines each make 25 edits to the same flow. Every edit is
// get → change → update; when another writer got in between, update() fails with
// errc::conflict and the edit starts over from a fresh read. No edit is lost.
//
//   retry_on_conflict [nats://127.0.0.1:4222]
#include <flowstore/connection.hpp>
#include <flowstore/error.hpp>
#include <flowstore/flow.hpp>
#include <flowstore/store.hpp>

#include "example_main.hpp"

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/redirect_error.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>

#include <chrono>
#include <iostream>
#include <string>

namespace asio = boost::asio;
using namespace std::chrono_literals;

constexpr int writers = 8;
constexpr int rounds = 25;
const std::string flow_id = "retry-demo";
constexpr int max_transient_retries = 6;  // waiting 10 + 20 + … + 320 ms, about 0.6 s in all
constexpr std::chrono::milliseconds first_backoff{10};

struct tally {
  int applied = 0;
  int conflicts = 0;
  int finished = 0;
  bool gave_up = false;
};

std::string mark_name(int writer, int round) { return "w" + std::to_string(writer) + ".r" + std::to_string(round); }

// Applies one edit: adds a mark to the first node's config, retrying until it sticks.
asio::awaitable<bool> add_mark(flowstore::store& store, std::string mark, tally& counts) {
  asio::steady_timer backoff(co_await asio::this_coro::executor);
  auto delay = first_backoff;
  int transient_failures = 0;
  while (true) {
    auto current = co_await store.get(flow_id);
    if (current) {
      current->nodes.front().config[mark] = true;
      auto updated = co_await store.update(std::move(*current));
      if (updated) co_return true;
      current = std::move(updated);  // the error, handled below with a failed read's
    }
    const flowstore::error& problem = current.error();
    if (problem == flowstore::errc::conflict) {
      // Somebody else wrote first: read again and redo the edit at once (their write
      // succeeded, so the writers as a whole make progress).
      ++counts.conflicts;
      continue;
    }
    // Any other invalid or fatal error comes back on every attempt; a transient one (a timeout,
    // a reconnect in progress) may clear up, but not forever.
    if (problem != flowstore::condition::transient || ++transient_failures > max_transient_retries) {
      std::cerr << "giving up: " << problem.what() << '\n';
      co_return false;
    }
    backoff.expires_after(delay);
    delay *= 2;
    boost::system::error_code ignored;
    co_await backoff.async_wait(asio::redirect_error(asio::use_awaitable, ignored));
  }
}

asio::awaitable<void> writer(flowstore::store store, int number, tally& counts) {
  for (int round = 0; round < rounds && !counts.gave_up; ++round) {
    std::string mark = mark_name(number, round);
    const bool applied = co_await add_mark(store, std::move(mark), counts);
    if (!applied) {
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
  flowstore::flow_node counter;
  counter.id = "marks";
  counter.component = "graph-processor";
  counter.type = flowstore::component_type::processor;
  counter.name = "marks-1";
  f.nodes.push_back(std::move(counter));
  auto created = co_await store.create(std::move(f));
  if (!created) {
    std::cerr << created.error().what() << '\n';
    co_return 1;
  }

  // All writers run at once on this thread; each co_await lets another one in, so their reads
  // and updates interleave and most rounds race.
  tally counts;
  asio::steady_timer all_done(executor, std::chrono::steady_clock::time_point::max());
  for (int number = 0; number < writers; ++number) {
    asio::co_spawn(executor, writer(store, number, counts), [&](std::exception_ptr e) {
      if (e) counts.gave_up = true;
      if (++counts.finished == writers) all_done.cancel();
    });
  }
  boost::system::error_code ignored;
  co_await all_done.async_wait(asio::redirect_error(asio::use_awaitable, ignored));

  auto final_flow = co_await store.get(flow_id);
  if (!final_flow) {
    std::cerr << final_flow.error().what() << '\n';
    co_return 1;
  }
  std::cout << counts.applied << " updates applied, " << counts.conflicts << " conflicts retried, final version "
            << final_flow->version << '\n';
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
