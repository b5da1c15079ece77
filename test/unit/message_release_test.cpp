// Releasing nats.c messages: held inside a release scope, destroyed at once outside one, and
// destroyed together once a holder reaches its limits.
#include "nats/handles.hpp"

#include <catch2/catch.hpp>

#include <string>

using flowstore::detail::held_messages;
using flowstore::detail::message_release_scope;
using flowstore::detail::nats_message_ptr;

namespace {

nats_message_ptr message_of(std::size_t bytes) {
  REQUIRE(nats_Open(-1) == NATS_OK);  // destroying a message needs nats.c's collector thread
  const std::string data(bytes, 'x');
  natsMsg* msg = nullptr;
  REQUIRE(natsMsg_Create(&msg, "subject", nullptr, data.data(), static_cast<int>(data.size())) == NATS_OK);
  return nats_message_ptr(msg);
}

}  // namespace

TEST_CASE("released messages are held inside a release scope and destroyed at once outside one", "[nats]") {
  held_messages held;
  message_of(10).reset();
  CHECK(held.size() == 0);
  {
    const message_release_scope scope(held);
    message_of(10).reset();
    message_of(10).reset();
  }
  CHECK(held.size() == 2);
  message_of(10).reset();
  CHECK(held.size() == 2);
  held.release_all();
  CHECK(held.size() == 0);
}

TEST_CASE("the innermost release scope receives the releases and the outer one resumes after it", "[nats]") {
  held_messages outer;
  held_messages inner;
  const message_release_scope outer_scope(outer);
  {
    const message_release_scope inner_scope(inner);
    message_of(10).reset();
  }
  message_of(10).reset();
  CHECK(inner.size() == 1);
  CHECK(outer.size() == 1);
}

TEST_CASE("a holder destroys what it holds once it reaches its message count or its byte budget", "[nats]") {
  held_messages by_count;
  for (std::size_t i = 0; i + 1 < held_messages::max_messages; ++i) by_count.hold(message_of(10).release());
  CHECK(by_count.size() == held_messages::max_messages - 1);
  by_count.hold(message_of(10).release());
  CHECK(by_count.size() == 0);

  held_messages by_size;
  by_size.hold(message_of(held_messages::max_bytes / 2).release());
  CHECK(by_size.size() == 1);
  by_size.hold(message_of(held_messages::max_bytes / 2).release());
  CHECK(by_size.size() == 0);
}
