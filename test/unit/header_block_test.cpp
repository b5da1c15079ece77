// Header blocks read in place, and received messages viewed without nats.c lifting their
// headers (the fallback builds the same block from the lifted ones).
#include "nats/header_block.hpp"

#include "nats/message_view.hpp"

#include <catch2/catch.hpp>

#include <nats.h>

#include <array>
#include <string>

using flowstore::detail::header_in_block;
using flowstore::detail::headers_in_block;
using flowstore::detail::message_view;
using flowstore::detail::status_of_block;

TEST_CASE("header blocks: the status line and headers, case-insensitive, trimmed", "[nats]") {
  const std::string found =
      "NATS/1.0\r\nNats-Stream: KV_b\r\nNats-Subject: $KV.b.k\r\nnats-sequence:  12 \r\nNats-Time-Stamp: "
      "2024-05-01T10:20:30.5Z\r\n\r\n";
  CHECK(status_of_block(found).code.empty());
  CHECK(header_in_block(found, "Nats-Sequence") == std::string_view("12"));
  CHECK(header_in_block(found, "NATS-SUBJECT") == std::string_view("$KV.b.k"));
  CHECK_FALSE(header_in_block(found, "KV-Operation"));
  constexpr std::array<std::string_view, 3> names{"Nats-Time-Stamp", "KV-Operation", "Nats-Subject"};
  std::array<std::optional<std::string_view>, 3> values;
  headers_in_block(found, names, values);
  CHECK(values[0] == std::string_view("2024-05-01T10:20:30.5Z"));
  CHECK_FALSE(values[1]);
  CHECK(values[2] == std::string_view("$KV.b.k"));

  const std::string missing = "NATS/1.0 404 Message Not Found\r\n\r\n";
  CHECK(status_of_block(missing).code == "404");
  CHECK(status_of_block(missing).description == "Message Not Found");
  CHECK(status_of_block("NATS/1.0 100\r\n\r\n").code == "100");
  CHECK(status_of_block("NATS/1.0 100\r\n\r\n").description.empty());
  // The status line is not a header, and a header repeated counts once.
  CHECK_FALSE(header_in_block(missing, "404"));
  CHECK(header_in_block("NATS/1.0\r\nA: 1\r\nA: 2\r\n\r\n", "a") == std::string_view("1"));
  CHECK_FALSE(header_in_block("", "A"));
  CHECK(status_of_block("HTTP/1.1 200 OK\r\n").code.empty());
  CHECK(header_in_block("NATS/1.0\nLone: newline\n\n", "Lone") == std::string_view("newline"));
}

TEST_CASE("a message made here (headers lifted, no raw block) is viewed through nats.c's headers", "[nats]") {
  REQUIRE(nats_Open(-1) == NATS_OK);
  natsMsg* raw = nullptr;
  REQUIRE(natsMsg_Create(&raw, "$KV.b.k", "reply.here", "{}", 2) == NATS_OK);
  REQUIRE(natsMsgHeader_Set(raw, "KV-Operation", "DEL") == NATS_OK);
  REQUIRE(natsMsgHeader_Set(raw, "Nats-Sequence", "7") == NATS_OK);
  {
    const message_view v(raw);
    CHECK(v.subject() == "$KV.b.k");
    CHECK(v.reply() == "reply.here");
    CHECK(v.body() == "{}");
    CHECK(v.header("kv-operation") == std::string_view("DEL"));
    CHECK(v.header("Nats-Sequence") == std::string_view("7"));
    CHECK(v.status().code.empty());
  }
  natsMsg_Destroy(raw);

  natsMsg* plain = nullptr;
  REQUIRE(natsMsg_Create(&plain, "s", nullptr, nullptr, 0) == NATS_OK);
  {
    const message_view v(plain);
    CHECK(v.headers().empty());
    CHECK(v.body().empty());
    CHECK(v.reply().empty());
  }
  natsMsg_Destroy(plain);
}
