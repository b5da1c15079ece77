// Owning handles for nats.c objects, and the mapping of nats.c statuses onto flowstore errors.
#pragma once

#include <flowstore/error.hpp>

#include <nats.h>

#include <cstddef>
#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace flowstore::detail {

template <class T, void (*Destroy)(T*)>
struct nats_deleter {
  void operator()(T* p) const noexcept {
    if (p != nullptr) Destroy(p);
  }
};

using nats_options_ptr = std::unique_ptr<natsOptions, nats_deleter<natsOptions, natsOptions_Destroy>>;
using nats_connection_ptr = std::unique_ptr<natsConnection, nats_deleter<natsConnection, natsConnection_Destroy>>;
using nats_subscription_ptr =
    std::unique_ptr<natsSubscription, nats_deleter<natsSubscription, natsSubscription_Destroy>>;

/// Destroys a message now, or hands it to the held_messages a message_release_scope on this
/// thread points at.
void release_message(natsMsg* msg) noexcept;

/// Messages released but not yet destroyed. natsMsg_Destroy hands a message to nats.c's
/// collector thread and wakes that thread when it is idle; done per reply, right after the next
/// request went out, the wake and the collector compete with that request's reply for the
/// cores. Held messages are destroyed together: once the limits are reached, so that holding
/// keeps little memory from the allocator, or when their owner says.
class held_messages {
 public:
  held_messages() = default;
  ~held_messages() { release_all(); }
  held_messages(const held_messages&) = delete;
  held_messages& operator=(const held_messages&) = delete;

  void hold(natsMsg* msg) noexcept;
  void release_all() noexcept;
  std::size_t size() const noexcept { return messages_.size(); }

  static constexpr std::size_t max_messages = 64;
  static constexpr std::size_t max_bytes = 256 * 1024;

 private:
  std::vector<natsMsg*> messages_;
  std::size_t bytes_ = 0;
};

/// While alive, release_message() on this thread holds messages in `target` instead of
/// destroying them. Nests: the innermost scope wins.
class message_release_scope {
 public:
  explicit message_release_scope(held_messages& target) noexcept;
  ~message_release_scope();
  message_release_scope(const message_release_scope&) = delete;
  message_release_scope& operator=(const message_release_scope&) = delete;

 private:
  held_messages* previous_;
};

struct message_releaser {
  void operator()(natsMsg* msg) const noexcept { release_message(msg); }
};
using nats_message_ptr = std::unique_ptr<natsMsg, message_releaser>;

/// The category of nats.c's natsStatus values; each maps to a flowstore condition.
const std::error_category& nats_status_category() noexcept;

/// The flowstore error for a failed nats.c call: the flowstore code where one fits (timeout,
/// disconnected, too large, …), otherwise the status in nats_status_category(). `operation`
/// names what was being done ("get flow 'x'"); nats.c's last error text goes to server_text.
error error_from_status(natsStatus status, std::string operation);

/// `text` without the "(file.c:line): " nats.c puts before its own messages: internals, not
/// words for users. Every nats.c text the library passes on goes through here.
std::string without_source_location(std::string_view text);

/// nats.c's last error on this thread, without its source location.
std::string last_error_text();

/// The flowstore code for a nats.c status, when there is a direct one.
std::error_code code_from_status(natsStatus status) noexcept;

}  // namespace flowstore::detail
