// The nats bridge: owns the nats.c connection and its reply inbox, and multiplexes requests
// over that one wildcard subscription. All library state lives on the strand; nats.c callbacks
// only post to it.
#pragma once

#include <flowstore/connection.hpp>
#include <flowstore/error.hpp>

#include "nats/fetch_budget.hpp"
#include "nats/handles.hpp"
#include "nats/io_anchor.hpp"
#include "nats/request_table.hpp"

#include <boost/asio/any_completion_handler.hpp>
#include <boost/asio/async_result.hpp>
#include <boost/asio/awaitable.hpp>
#include <boost/asio/cancellation_signal.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/strand.hpp>
#include <boost/container/small_vector.hpp>

#include <nats.h>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

namespace flowstore::detail {

namespace asio = boost::asio;

/// A message to send as a request: subject, headers, body.
struct outgoing_message {
  struct header {
    const char* name;  // always a literal
    std::string value;
  };
  std::string subject;
  boost::container::small_vector<header, 2> headers;
  std::string body;
};

/// What nats.c callbacks point at. It outlives the connection_impl: it is freed only after the
/// nats.c connection is closed and the inbox subscription has delivered its last callback.
struct callback_hub {
  std::mutex mutex;
  class connection_impl* target = nullptr;  // null once detached: callbacks then only clean up
  std::condition_variable finished;
  bool inbox_complete = false;
  bool connection_closed = false;
  // Replies waiting for the strand. One drain is posted when the first arrives, so a burst of
  // replies costs one trip through the io_context, not one each.
  std::vector<nats_message_ptr> replies;
  // nkey authentication: the seed file, read again for every signature (set before connecting).
  std::string nkey_seed_file;
  // Set when a signature could not be sent (see nats/nkey.hpp): the attempt is worth repeating.
  std::atomic<bool> unsendable_signature{false};
};

/// Receives the messages of a stream: a request whose reply subject takes many messages (a
/// consumer's fetch). Strand only.
class reply_sink {
 public:
  /// A message on the stream's reply subject; or, with an error and no message, the end of the
  /// stream: errc::timeout after its silence, errc::disconnected, errc::closed, or the error
  /// that made publishing it fail.
  virtual void on_stream_reply(std::uint64_t token, std::error_code ec, nats_message_ptr msg) = 0;

 protected:
  ~reply_sink() = default;
};

/// Told what happens to the connection (disconnected, reconnected, closed). Strand only.
class connection_listener {
 public:
  virtual void on_connection_event(connection_event::kind what) = 0;

 protected:
  ~connection_listener() = default;
};

class connection_impl : public std::enable_shared_from_this<connection_impl> {
 public:
  using reply_signature = void(std::error_code, nats_message_ptr);
  using reply_handler = asio::any_completion_handler<reply_signature>;

  /// A type-erased handler and the executor it completes on.
  struct completion {
    reply_handler handler;
    asio::any_io_executor executor;
  };

  connection_impl(asio::any_io_executor executor, connect_options options);
  ~connection_impl();
  connection_impl(const connection_impl&) = delete;
  connection_impl& operator=(const connection_impl&) = delete;

  /// Connects (on a library thread) and sets up the reply inbox.
  static asio::awaitable<result<std::shared_ptr<connection_impl>>> connect(asio::any_io_executor executor,
                                                                           connect_options options);

  /// Sends `message` with a reply subject of our inbox and completes with the reply, or with
  /// errc::timeout / disconnected / closed / cancelled / no_responders or a publish error.
  /// Completion is never inline and goes to the handler's associated executor.
  template <class Token>
  auto async_request(outgoing_message message, std::chrono::milliseconds timeout, Token&& token) {
    return asio::async_initiate<Token, reply_signature>(
        [self = shared_from_this()](auto handler, outgoing_message m, std::chrono::milliseconds t) {
          // The handler's executor, taken before type erasure: completions are posted to it.
          asio::any_io_executor completion_executor = asio::get_associated_executor(handler, self->get_executor());
          self->start_request(std::move(m), t, {reply_handler(std::move(handler)), std::move(completion_executor)});
        },
        token, std::move(message), timeout);
  }

  /// Strand only. Sends `message` with a reply subject of its own; every message on it goes to
  /// `sink` until close_stream(), or until `silence` passes without one (then the sink hears
  /// errc::timeout). Returns the
  /// stream's token; on an error (closed, disconnected, publish failed) returns 0 and the sink
  /// hears nothing.
  std::uint64_t open_stream(outgoing_message message, std::chrono::milliseconds silence,
                            std::shared_ptr<reply_sink> sink, std::error_code& ec);
  /// Strand only. Ends a stream: its later messages are dropped. Idempotent.
  void close_stream(std::uint64_t token);
  /// Strand only. The messages consumer `consumer` of `stream` delivers go to stream `token`, as
  /// its own messages do, until unrouted or routed to another stream. (A delivered message has
  /// the stored key as its subject and `$JS.ACK.<stream>.<consumer>.…` as its reply subject:
  /// only that names where it belongs.)
  void route_deliveries(std::string_view stream, std::string_view consumer, std::uint64_t token);
  /// Strand only. Drops the deliveries of that consumer from now on.
  void unroute_deliveries(std::string_view stream, std::string_view consumer);
  /// Strand only. Sends a request whose reply nobody waits for (it is dropped when it comes).
  void send_and_forget(outgoing_message message, std::chrono::milliseconds timeout);

  /// Strand only. What the connection's scans may have asked for and not received, at most.
  fetch_budget& scan_budget() noexcept { return scan_budget_; }

  /// Strand only. `listener` is told of disconnects, reconnects and the close while it lives.
  void add_listener(std::weak_ptr<connection_listener> listener);

  /// Closes: fails pending requests and streams with errc::closed, tells the listeners, closes
  /// the nats.c connection on a library thread and completes once nats.c has delivered or
  /// released every message of the inbox. Idempotent.
  asio::awaitable<void> close();

  /// Any thread: runs `f` on the strand, later; dropped once the io_context has shut down.
  template <class F>
  void post(F&& f) {
    std::lock_guard lock(strand_mutex_);
    if (strand_) asio::post(*strand_, std::forward<F>(f));
  }

  const asio::any_io_executor& get_executor() const noexcept { return executor_; }
  const asio::strand<asio::any_io_executor>& strand() const noexcept { return *strand_; }
  std::chrono::milliseconds default_timeout() const noexcept { return options_.operation_timeout; }
  std::int64_t max_payload() const noexcept { return max_payload_; }
  bool is_connected() const noexcept;
  bool is_closed() const noexcept { return closed_.load(std::memory_order_acquire); }

  /// Requests and streams currently waiting (strand only; for tests and diagnostics).
  std::size_t pending_requests() const noexcept { return requests_.size(); }
  /// Replies released but not yet destroyed (strand only; for tests and diagnostics).
  std::size_t held_replies() const noexcept { return held_replies_.size(); }

 private:
  using clock = std::chrono::steady_clock;

  // What waits for a reply: a completion (with its cancellation slot) or a stream's sink.
  struct waiter {
    completion done;
    asio::cancellation_slot slot;
    std::shared_ptr<reply_sink> sink;
  };

  result<void> connect_blocking();
  void start_request(outgoing_message message, std::chrono::milliseconds timeout, completion done);
  void send_request(outgoing_message& message, std::chrono::milliseconds timeout, completion done);  // strand
  // Strand only: publishes with the reply subject of a new token. 0 and `ec` on failure.
  std::uint64_t publish_request(outgoing_message& message, std::chrono::milliseconds timeout, waiter w,
                                request_kind kind, std::error_code& ec);

  // nats.c threads (through the hub): only post to the strand.
  static void on_inbox_message(natsConnection*, natsSubscription*, natsMsg* msg, void* closure);
  static void on_inbox_complete(void* closure);
  static void on_disconnected(natsConnection*, void* closure);
  static void on_reconnected(natsConnection*, void* closure);
  static void on_closed(natsConnection*, void* closure);
  static void on_async_error(natsConnection*, natsSubscription*, natsStatus status, void* closure);
  static natsStatus on_sign_nonce(char** error_text, unsigned char** signature, int* length, const char* nonce,
                                  void* closure);

  // Strand only.
  void handle_reply(nats_message_ptr msg);
  void handle_stream_message(std::uint64_t token, nats_message_ptr msg);
  void drain_replies();
  void release_held_replies();
  void complete(std::uint64_t token, std::error_code ec, nats_message_ptr msg);
  void fail_waiter(waiter w, std::error_code ec);
  void end(std::uint64_t token, waiter w, std::error_code ec);
  void fail_all(errc code);
  void fail_denied_publish(std::string_view violation);
  void cancel_request(std::uint64_t token);
  void arm_timer();
  void handle_timer();
  void emit(connection_event event);
  void tell_listeners(connection_event::kind what);

  // Hands the nats.c objects to a library thread, which closes them and frees the hub.
  struct nats_resources;
  static void shut_down(nats_resources resources);
  nats_resources release_resources();

  asio::any_io_executor executor_;
  // Destroyed through anchor_ while the io_context's services exist (see io_anchor.hpp).
  std::optional<asio::strand<asio::any_io_executor>> strand_;
  std::mutex strand_mutex_;  // guards strand_ against its reset at the io_context's shutdown
  connect_options options_;

  callback_hub* hub_;
  nats_options_ptr nats_options_;
  nats_connection_ptr connection_;
  nats_subscription_ptr inbox_subscription_;
  std::string inbox_prefix_;  // "_INBOX.<unique>." — a request's reply subject appends its token
  std::int64_t max_payload_ = 0;
  std::atomic<bool> closed_{false};

  // Strand only.
  request_table<waiter> requests_;
  std::vector<nats_message_ptr> draining_;  // replies being handled by drain_replies()
  held_messages held_replies_;              // released while handling replies, destroyed in bulk
  std::vector<std::weak_ptr<connection_listener>> listeners_;
  struct text_hash {
    using is_transparent = void;
    std::size_t operator()(std::string_view s) const noexcept { return std::hash<std::string_view>{}(s); }
  };
  // "<stream>.<consumer>" → the stream its deliveries go to.
  std::unordered_map<std::string, std::uint64_t, text_hash, std::equal_to<>> routes_;
  // 16 MB: a quarter of what nats-server queues for one client before it drops it as slow.
  fetch_budget scan_budget_{16 * 1024 * 1024, 128 * 1024};
  std::optional<asio::steady_timer> timer_;
  std::shared_ptr<io_anchor> anchor_;
  clock::time_point timer_expiry_ = clock::time_point::max();
};

/// A server URL without any user:password@ part, for messages.
std::string redact_url(std::string_view url);

}  // namespace flowstore::detail
