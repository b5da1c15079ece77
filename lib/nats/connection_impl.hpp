// The nats bridge: owns the nats.c connection and its reply inbox, and multiplexes requests
// over that one wildcard subscription. All library state lives on the strand; nats.c callbacks
// only post to it.
#pragma once

#include <flowstore/connection.hpp>
#include <flowstore/error.hpp>

#include "nats/handles.hpp"
#include "nats/io_anchor.hpp"

#include <boost/asio/any_completion_handler.hpp>
#include <boost/asio/async_result.hpp>
#include <boost/asio/awaitable.hpp>
#include <boost/asio/cancellation_signal.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/strand.hpp>
#include <boost/container/small_vector.hpp>

#include <nats.h>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <map>
#include <optional>
#include <memory>
#include <mutex>
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

  /// Connects (on the blocking pool) and sets up the reply inbox.
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

  /// Closes: fails pending requests with errc::closed, closes the nats.c connection off the
  /// caller's executor and waits until no callback can run. Idempotent.
  asio::awaitable<void> close();

  natsConnection* native() const noexcept { return connection_.get(); }
  const asio::any_io_executor& get_executor() const noexcept { return executor_; }
  const asio::strand<asio::any_io_executor>& strand() const noexcept { return *strand_; }
  std::chrono::milliseconds default_timeout() const noexcept { return options_.operation_timeout; }
  std::int64_t max_payload() const noexcept { return max_payload_; }
  bool is_connected() const noexcept;
  bool is_closed() const noexcept { return closed_.load(std::memory_order_acquire); }

  /// Requests currently waiting for a reply (strand only; for tests and diagnostics).
  std::size_t pending_requests() const noexcept { return pending_.size(); }
  /// Replies released but not yet destroyed (strand only; for tests and diagnostics).
  std::size_t held_replies() const noexcept { return held_replies_.size(); }

 private:
  using clock = std::chrono::steady_clock;

  struct pending_request {
    completion done;
    asio::cancellation_slot slot;
    std::multimap<clock::time_point, std::uint64_t>::iterator deadline;
    std::string subject;  // where it was published: a permissions violation names only that
  };

  result<void> connect_blocking();
  void start_request(outgoing_message message, std::chrono::milliseconds timeout, completion done);

  // nats.c threads (through the hub): only post to the strand.
  static void on_inbox_message(natsConnection*, natsSubscription*, natsMsg* msg, void* closure);
  static void on_inbox_complete(void* closure);
  static void on_disconnected(natsConnection*, void* closure);
  static void on_reconnected(natsConnection*, void* closure);
  static void on_closed(natsConnection*, void* closure);
  static void on_async_error(natsConnection*, natsSubscription*, natsStatus status, void* closure);

  // Strand only.
  void handle_reply(nats_message_ptr msg);
  void drain_replies();
  void release_held_replies();
  void complete(std::uint64_t token, std::error_code ec, nats_message_ptr msg);
  void fail_all(errc code);
  void fail_denied_publish(std::string_view violation);
  void cancel_request(std::uint64_t token);
  void arm_timer();
  void handle_timer();
  void emit(connection_event event);

  // Hands the nats.c objects to the blocking pool, which closes them and frees the hub.
  struct nats_resources;
  static void shut_down(nats_resources resources);
  nats_resources release_resources();

  asio::any_io_executor executor_;
  // Destroyed through anchor_ while the io_context's services exist (see io_anchor.hpp).
  std::optional<asio::strand<asio::any_io_executor>> strand_;
  connect_options options_;

  callback_hub* hub_;
  nats_options_ptr nats_options_;
  nats_connection_ptr connection_;
  nats_subscription_ptr inbox_subscription_;
  std::string inbox_prefix_;  // "_INBOX.<unique>." — a request's reply subject appends its token
  std::int64_t max_payload_ = 0;
  std::atomic<bool> closed_{false};

  // Strand only.
  std::uint64_t next_token_ = 1;
  std::unordered_map<std::uint64_t, pending_request> pending_;
  std::vector<nats_message_ptr> draining_;  // replies being handled by drain_replies()
  held_messages held_replies_;               // released while handling replies, destroyed in bulk
  std::multimap<clock::time_point, std::uint64_t> deadlines_;
  std::optional<asio::steady_timer> timer_;
  std::shared_ptr<io_anchor> anchor_;
  clock::time_point timer_expiry_ = clock::time_point::max();
};

/// A server URL without any user:password@ part, for messages.
std::string redact_url(std::string_view url);

}  // namespace flowstore::detail
