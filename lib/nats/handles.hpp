// Owning handles for nats.c objects, and the mapping of nats.c statuses onto flowstore errors.
#pragma once

#include <flowstore/error.hpp>

#include <nats.h>

#include <memory>
#include <string>
#include <string_view>

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

/// Destroys a message now, or at the end of the innermost message_release_batch open on this
/// thread.
void release_message(natsMsg* msg) noexcept;

/// natsMsg_Destroy hands every message to nats.c's collector thread and wakes that thread when
/// it is idle: one futex wake (and often a context switch) per reply. While a batch is open on
/// a thread, releases there wait for its end, so a burst of replies wakes the collector once.
class message_release_batch {
 public:
  message_release_batch() noexcept;
  ~message_release_batch();
  message_release_batch(const message_release_batch&) = delete;
  message_release_batch& operator=(const message_release_batch&) = delete;

 private:
  bool outermost_;
};

struct message_releaser {
  void operator()(natsMsg* msg) const noexcept { release_message(msg); }
};
using nats_message_ptr = std::unique_ptr<natsMsg, message_releaser>;
using js_context_ptr = std::unique_ptr<jsCtx, nats_deleter<jsCtx, jsCtx_Destroy>>;
using kv_store_ptr = std::unique_ptr<kvStore, nats_deleter<kvStore, kvStore_Destroy>>;
using stream_info_ptr = std::unique_ptr<jsStreamInfo, nats_deleter<jsStreamInfo, jsStreamInfo_Destroy>>;

/// The category of nats.c's natsStatus values; each maps to a flowstore condition.
const std::error_category& nats_status_category() noexcept;

/// The flowstore error for a failed nats.c call: the flowstore code where one fits (timeout,
/// disconnected, too large, …), otherwise the status in nats_status_category(). `operation`
/// names what was being done ("get flow 'x'"); nats.c's last error text goes to server_text.
error error_from_status(natsStatus status, std::string operation);

/// The flowstore code for a nats.c status, when there is a direct one.
std::error_code code_from_status(natsStatus status) noexcept;

}  // namespace flowstore::detail
