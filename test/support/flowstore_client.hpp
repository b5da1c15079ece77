// What integration tests share on the client side: result assertions, connecting a store to a
// fixture server, and a raw nats.c client for writing and reading a bucket behind the
// library's back.
#pragma once

#include <flowstore/connection.hpp>
#include <flowstore/error.hpp>
#include <flowstore/flow.hpp>
#include <flowstore/store.hpp>

#include "support/nats_server.hpp"

#include <boost/asio/awaitable.hpp>
#include <boost/asio/this_coro.hpp>

#include <catch2/catch.hpp>

#include <nats.h>

#include <cstdint>
#include <memory>
#include <string>
#include <utility>

namespace flowstore::test {

template <class T>
std::string outcome_text(const flowstore::result<T>& r) {
  return r ? std::string("success") : r.error().what();
}

}  // namespace flowstore::test

// Result assertions. Each takes a named result, never a co_await expression (g++ 12).
#define REQUIRE_OK(res)                                             \
  do {                                                              \
    const auto& req_ok_ = (res);                                    \
    INFO(#res << ": " << ::flowstore::test::outcome_text(req_ok_)); \
    REQUIRE(static_cast<bool>(req_ok_));                            \
  } while (false)

#define CHECK_OK(res)                                               \
  do {                                                              \
    const auto& chk_ok_ = (res);                                    \
    INFO(#res << ": " << ::flowstore::test::outcome_text(chk_ok_)); \
    CHECK(static_cast<bool>(chk_ok_));                              \
  } while (false)

// The result is an error with code `expected` (an errc or a condition).
#define REQUIRE_ERROR(res, expected)                                 \
  do {                                                               \
    const auto& req_err_ = (res);                                    \
    INFO(#res << ": " << ::flowstore::test::outcome_text(req_err_)); \
    REQUIRE_FALSE(static_cast<bool>(req_err_));                      \
    REQUIRE(req_err_.error().code == (expected));                    \
  } while (false)

#define CHECK_ERROR(res, expected)                                   \
  do {                                                               \
    const auto& chk_err_ = (res);                                    \
    INFO(#res << ": " << ::flowstore::test::outcome_text(chk_err_)); \
    CHECK((!chk_err_ && chk_err_.error().code == (expected)));       \
  } while (false)

#define REQUIRE_NATS_OK(call)                                                   \
  do {                                                                          \
    const natsStatus require_status_ = (call);                                  \
    INFO(#call << ": " << ::flowstore::test::describe_status(require_status_)); \
    REQUIRE(require_status_ == NATS_OK);                                        \
  } while (false)

namespace flowstore::test {

// ---------------------------------------------------------------------------------------------
// Connections and stores through the library.

inline flowstore::connect_options options_for(const nats_server& server) {
  flowstore::connect_options options;
  options.servers = {server.url()};
  options.name = "flowstore-tests";
  return options;
}

inline boost::asio::awaitable<flowstore::connection> connect_with(flowstore::connect_options options) {
  const auto executor = co_await boost::asio::this_coro::executor;
  auto conn = co_await flowstore::connect(executor, std::move(options));
  REQUIRE_OK(conn);
  co_return std::move(conn).value();
}

inline boost::asio::awaitable<flowstore::connection> connect_to(const nats_server& server) {
  auto options = options_for(server);
  co_return co_await connect_with(std::move(options));
}

inline boost::asio::awaitable<flowstore::store> open_store(flowstore::connection& conn,
                                                           flowstore::store_options options) {
  auto opened = co_await flowstore::store::open(conn, std::move(options));
  REQUIRE_OK(opened);
  co_return std::move(opened).value();
}

inline boost::asio::awaitable<flowstore::store> open_store(flowstore::connection& conn) {
  flowstore::store_options options;
  co_return co_await open_store(conn, std::move(options));
}

// A valid flow with one UDP input node, named after its id.
inline flowstore::flow one_node_flow(std::string id) {
  flowstore::flow f;
  f.id = std::move(id);
  f.name = "flow " + f.id;
  flowstore::flow_node node;
  node.id = "n";
  node.component = "udp";
  node.type = flowstore::component_type::input;
  node.name = "udp-1";
  f.nodes.push_back(std::move(node));
  return f;
}

// ---------------------------------------------------------------------------------------------
// Raw nats.c.

struct nats_deleter {
  void operator()(natsConnection* p) const { natsConnection_Destroy(p); }
  void operator()(natsMsg* p) const { natsMsg_Destroy(p); }
  void operator()(jsCtx* p) const { jsCtx_Destroy(p); }
  void operator()(kvStore* p) const { kvStore_Destroy(p); }
  void operator()(kvEntry* p) const { kvEntry_Destroy(p); }
  void operator()(jsStreamInfo* p) const { jsStreamInfo_Destroy(p); }
};
template <class T>
using nats_ptr = std::unique_ptr<T, nats_deleter>;

inline std::string describe_status(natsStatus s) {
  std::string text = natsStatus_GetText(s);
  if (const char* detail = nats_GetLastError(nullptr); detail && *detail) text += std::string(" (") + detail + ")";
  return text;
}

// A raw nats.c connection with its JetStream context and, when a bucket was named, the bucket
// (members destroyed in reverse order).
struct raw_client {
  nats_ptr<natsConnection> nc;
  nats_ptr<jsCtx> js;
  nats_ptr<kvStore> kv;
};

inline nats_ptr<kvStore> raw_bind(jsCtx* js, const std::string& bucket) {
  kvStore* kv = nullptr;
  REQUIRE_NATS_OK(js_KeyValue(&kv, js, bucket.c_str()));
  return nats_ptr<kvStore>(kv);
}

inline raw_client raw_connect(const std::string& url, const std::string& bucket = {}) {
  raw_client c;
  natsConnection* nc = nullptr;
  REQUIRE_NATS_OK(natsConnection_ConnectTo(&nc, url.c_str()));
  c.nc.reset(nc);
  jsCtx* js = nullptr;
  REQUIRE_NATS_OK(natsConnection_JetStream(&js, nc, nullptr));
  c.js.reset(js);
  if (!bucket.empty()) c.kv = raw_bind(js, bucket);
  return c;
}

inline std::uint64_t raw_put(kvStore* kv, const std::string& key, const std::string& value) {
  std::uint64_t revision = 0;
  REQUIRE_NATS_OK(kvStore_Put(&revision, kv, key.c_str(), value.data(), static_cast<int>(value.size())));
  REQUIRE(revision > 0);
  return revision;
}

// The current value of `key` and its revision.
inline std::pair<std::string, std::uint64_t> raw_get(kvStore* kv, const std::string& key) {
  kvEntry* raw = nullptr;
  REQUIRE_NATS_OK(kvStore_Get(&raw, kv, key.c_str()));
  nats_ptr<kvEntry> entry(raw);
  const auto* data = static_cast<const char*>(kvEntry_Value(entry.get()));
  std::string value(data, static_cast<std::size_t>(kvEntry_ValueLen(entry.get())));
  return {std::move(value), kvEntry_Revision(entry.get())};
}

}  // namespace flowstore::test
