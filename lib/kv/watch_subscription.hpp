// A bucket watched through an ordered pull consumer (kv/ordered_consumer), with a bounded buffer
// between the connection's strand and the watcher.
//
// Backpressure by construction: the consumer asks the server for no more entries than the
// buffer has room for, so a watcher that does not read makes the server send nothing more, and
// no thread ever waits. Nothing is ever dropped.
#pragma once

#include "kv/bucket.hpp"
#include "kv/consumer_driver.hpp"

#include <boost/asio/any_completion_handler.hpp>
#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/async_result.hpp>

#include <cstddef>
#include <deque>
#include <memory>
#include <mutex>
#include <optional>

namespace flowstore::detail::kv {

namespace asio = boost::asio;

enum class deliver_policy { last_per_key, all, new_only };

/// One item of a watch: an entry, or (no entry) the marker "all initial values delivered".
struct watch_item {
  std::optional<entry> value;
};

class watch_subscription final : public consumer_output, public std::enable_shared_from_this<watch_subscription> {
 public:
  struct settings {
    std::string pattern;  // a valid KV key pattern
    deliver_policy policy = deliver_policy::last_per_key;
    bool ignore_deletes = false;
    std::size_t capacity = 256;
  };

  using next_signature = void(result<watch_item>);

  /// Starts the watch's consumer; entries are buffered from then on.
  static std::shared_ptr<watch_subscription> start(const bucket& b, settings s, asio::any_io_executor executor);

  watch_subscription(settings s, asio::any_io_executor executor);

  /// The next item. Completes with errc::closed once stopped or when the connection closed,
  /// errc::already_running while another next is outstanding, errc::cancelled when cancelled
  /// (the watch goes on), or the error that ended the consumer.
  template <class Token>
  auto async_next(Token&& token) {
    return asio::async_initiate<Token, next_signature>(
        [self = shared_from_this()](auto handler) {
          asio::any_io_executor executor = asio::get_associated_executor(handler, self->executor_);
          self->start_next({asio::any_completion_handler<next_signature>(std::move(handler)), std::move(executor)});
        },
        token);
  }

  /// Ends the watch: deletes its consumer, drops the buffer and completes a pending next with
  /// errc::closed. Idempotent; never blocks.
  void stop();

  /// Sends the initial-values marker now unless it was sent: the guard against initial values
  /// that never complete.
  void force_marker();

  std::size_t capacity() const noexcept { return settings_.capacity; }
  std::size_t buffered() const;
  std::size_t peak_buffered() const;

  // consumer_output, on the connection's strand.
  void on_entries(std::vector<entry>& entries) override;
  void on_initial_done() override;
  void on_finished() override;
  void on_failed(error why) override;

 private:
  struct waiter {
    asio::any_completion_handler<next_signature> handler;
    asio::any_io_executor executor;
  };

  void start_next(waiter w);
  // Tells the consumer of `n` entries taken out of the buffer (or skipped), a few at a time.
  void report_consumed(std::size_t n, bool buffer_empty);

  // Under mutex_.
  bool no_entry_left_locked() const noexcept;
  void push_marker_locked();
  void wake_consumer_locked();
  void end_locked(error why);

  settings settings_;
  asio::any_io_executor executor_;
  std::shared_ptr<consumer_driver> driver_;  // set by start(); stopped by stop()

  mutable std::mutex mutex_;
  std::deque<watch_item> buffer_;
  std::size_t peak_ = 0;
  std::size_t unreported_ = 0;  // taken from the buffer, not yet told to the consumer
  std::optional<waiter> waiter_;
  bool wake_posted_ = false;
  bool stopping_ = false;
  std::optional<error> ended_;
  bool marker_done_ = false;
};

}  // namespace flowstore::detail::kv
