// nats.c statuses as flowstore errors: codes, conditions, and nats.c's own texts without the
// source locations it puts before them.
#include "nats/handles.hpp"

#include <catch2/catch.hpp>

using flowstore::condition;
using flowstore::errc;
using flowstore::detail::code_from_status;
using flowstore::detail::error_from_status;
using flowstore::detail::without_source_location;

TEST_CASE("nats.c texts lose their source location and keep everything else", "[nats]") {
  CHECK(without_source_location("(conn.c:2088): No server available for connection") ==
        "No server available for connection");
  CHECK(without_source_location("(jsm.c:2867): workqueue stream requires explicit ack") ==
        "workqueue stream requires explicit ack");
  CHECK(without_source_location("No server available") == "No server available");
  CHECK(without_source_location("(not a location): text") == "(not a location): text");
  CHECK(without_source_location("(conn.c:1") == "(conn.c:1");
  CHECK(without_source_location("") == "");
}

TEST_CASE("a failed nats.c call is an error naming the operation, with nats.c's text cleaned", "[nats]") {
  REQUIRE(nats_Open(-1) == NATS_OK);
  natsConnection* nc = nullptr;
  // Nothing listens on port 1: nats.c fails and records why.
  natsOptions* opts = nullptr;
  REQUIRE(natsOptions_Create(&opts) == NATS_OK);
  natsOptions_SetURL(opts, "nats://127.0.0.1:1");
  natsOptions_SetTimeout(opts, 200);
  const natsStatus s = natsConnection_Connect(&nc, opts);
  natsOptions_Destroy(opts);
  REQUIRE(s != NATS_OK);
  const auto e = error_from_status(s, "connect to nats://127.0.0.1:1");
  CHECK(e.code == errc::connection_failed);
  CHECK(e.code == condition::transient);
  CHECK(e.message.starts_with("connect to nats://127.0.0.1:1: "));
  CHECK(e.server_text.find(".c:") == std::string::npos);
  CHECK(code_from_status(NATS_TIMEOUT) == errc::timeout);
  CHECK(code_from_status(NATS_NOT_PERMITTED) == errc::permission_denied);
}
