// A bucket watched through an ordered push consumer, with a bounded buffer between nats.c's
// delivery thread and the consumer.
//
// Backpressure: when the buffer is full the delivery callback waits for room. nats.c answers
// the server's flow-control requests only after the callback for the preceding message has
// returned, so a slow consumer pauses the server's delivery instead of growing any queue.
// Nothing is ever dropped.
#pragma once

#include "kv/bucket.hpp"

#include <boost/asio/any_completion_handler.hpp>
#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/async_result.hpp>

#include <condition_variable>
#include <cstddef>
#include <deque>
#include <memory>
#include <mutex>
#include <optional>

namespace flowstore::detail::kv {

enum class deliver_policy { last_per_key, all, new_only };

/// One item of a watch: an entry, or (no entry) the marker "all initial values delivered".
struct watch_item {
  std::optional<entry> value;
};

class watch_subscription : public std::enable_shared_from_this<watch_subscription> {
 public:
  struct settings {
    std::string pattern;  // a valid KV key pattern
    deliver_policy policy = deliver_policy::last_per_key;
    bool ignore_deletes = false;
    std::size_t capacity = 256;
  };

  using next_signature = void(result<watch_item>);

  /// Starts subscribing (on the blocking pool); items are buffered from then on.
  ///
  /// nats.c's callbacks keep this object alive until their last call, which may come after the
  /// caller's io_context is gone: so it holds no Asio I/O object and no connection.
  static std::shared_ptr<watch_subscription> start(const bucket& b, settings s, asio::any_io_executor executor);

  watch_subscription(std::string key_prefix, settings s, asio::any_io_executor executor);
  ~watch_subscription();

  /// The next item. Completes with errc::closed once stopped or when the connection closed,
  /// errc::already_running while another next is outstanding, errc::cancelled when cancelled
  /// (the watch goes on), or the error that made subscribing fail.
  template <class Token>
  auto async_next(Token&& token) {
    return asio::async_initiate<Token, next_signature>(
        [self = shared_from_this()](auto handler) {
          asio::any_io_executor executor = asio::get_associated_executor(handler, self->executor_);
          self->start_next({asio::any_completion_handler<next_signature>(std::move(handler)), std::move(executor)});
        },
        token);
  }

  /// Ends the watch: unsubscribes (off the caller's executor), wakes a waiting delivery
  /// callback, and completes a pending next with errc::closed. Idempotent.
  void stop();

  /// Sends the initial-values marker now unless it was sent: the guard against a pending count
  /// that never reaches zero (keys removed between the consumer's creation and delivery).
  void force_marker();

  std::size_t capacity() const noexcept { return settings_.capacity; }
  std::size_t buffered() const;
  std::size_t peak_buffered() const;

 private:
  struct waiter {
    asio::any_completion_handler<next_signature> handler;
    asio::any_io_executor executor;
  };

  void subscribe(const bucket& b);  // blocking pool
  void start_next(waiter w);
  void on_message(natsMsg* msg);
  void on_complete();

  // Under mutex_.
  void push_marker_locked();
  void wake_consumer_locked();
  void end_locked(error why);

  static void message_callback(natsConnection*, natsSubscription*, natsMsg* msg, void* closure);
  static void complete_callback(void* closure);

  const std::string prefix_;
  settings settings_;
  asio::any_io_executor executor_;

  mutable std::mutex mutex_;
  std::condition_variable room_;
  std::deque<watch_item> buffer_;
  std::size_t peak_ = 0;
  std::optional<waiter> waiter_;
  bool wake_posted_ = false;
  bool stopping_ = false;
  std::optional<error> ended_;
  bool marker_done_ = false;
  std::uint64_t initial_received_ = 0;
  std::optional<std::uint64_t> initial_expected_;
  std::uint64_t last_revision_ = 0;
  natsSubscription* subscription_ = nullptr;
  natsConnection* connection_ = nullptr;  // set once subscribed; freed after on_complete
};

}  // namespace flowstore::detail::kv
