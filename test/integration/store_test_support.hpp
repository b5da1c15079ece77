// What the store tests share: a sample flow, a pause guard, a retrying get and the names they use.
#pragma once

#include <flowstore/connection.hpp>
#include <flowstore/error.hpp>
#include <flowstore/flow.hpp>
#include <flowstore/json.hpp>
#include <flowstore/store.hpp>
#include <flowstore/timestamp.hpp>

#include "access.hpp"
#include "nats/connection_impl.hpp"
#include "support/async.hpp"
#include "support/flowstore_client.hpp"
#include "support/nats_server.hpp"

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/deferred.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/experimental/awaitable_operators.hpp>
#include <boost/asio/experimental/parallel_group.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/json/parse.hpp>

#include <catch2/catch.hpp>

#include <nats.h>

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <cstring>
#include <exception>
#include <functional>
#include <iostream>
#include <limits>
#include <memory>
#include <string>
#include <utility>
#include <vector>

namespace Catch {
template <>
struct StringMaker<flowstore::timestamp> {
  static std::string convert(const flowstore::timestamp& t) { return t.to_string(); }
};
}  // namespace Catch

namespace flowstore::test::store_tests {

namespace asio = boost::asio;
using namespace std::chrono_literals;
using flowstore::component_type;
using flowstore::condition;
using flowstore::errc;
using flowstore::runtime_state;
using flowstore::test::nats_server;
using flowstore::test::run_async;

// A valid flow with two nodes and a connection; state unset.
inline flowstore::flow sample_flow(std::string id) {
  flowstore::flow f;
  f.id = std::move(id);
  f.name = "Sample " + f.id;
  f.description = "integration test flow";

  flowstore::flow_node input;
  input.id = "udp-in";
  input.component = "udp";
  input.type = component_type::input;
  input.name = "udp-input-1";
  input.pos = {100, 250};
  input.config["bind"] = "0.0.0.0";
  input.config["port"] = 5000;

  flowstore::flow_node processor;
  processor.id = "graph";
  processor.component = "graph-processor";
  processor.type = component_type::processor;
  processor.name = "graph-processor-1";
  processor.pos = {350.5, 250};
  processor.config["ratio"] = 0.75;
  processor.config["tags"] = boost::json::array{"a", "b"};

  flowstore::flow_connection edge;
  edge.id = "conn-1";
  edge.source_node_id = "udp-in";
  edge.source_port = "out";
  edge.target_node_id = "graph";
  edge.target_port = "in";

  f.nodes.push_back(std::move(input));
  f.nodes.push_back(std::move(processor));
  f.connections.push_back(std::move(edge));
  return f;
}

// Resumes a paused server when the test leaves the scope, even through a failed REQUIRE.
struct resume_on_exit {
  nats_server& server;
  ~resume_on_exit() {
    if (server.paused()) server.resume();
  }
};

// Gets `id` until it succeeds (after a pause, nats.c may need a moment), at most `attempts` times.
inline asio::awaitable<flowstore::result<flowstore::flow>> get_eventually(flowstore::store s, std::string id,
                                                                          int attempts) {
  auto got = co_await s.get(id);
  for (int i = 1; i < attempts && !got && got.error().code == condition::transient; ++i) {
    got = co_await s.get(id);
  }
  co_return got;
}

inline double millis(std::chrono::steady_clock::duration d) {
  return std::chrono::duration<double, std::milli>(d).count();
}

}  // namespace flowstore::test::store_tests
