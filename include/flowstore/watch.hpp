// Live changes of a store's flows: a pull-based async generator of flow_event.
#pragma once

#include <flowstore/error.hpp>
#include <flowstore/flow.hpp>
#include <flowstore/timestamp.hpp>

#include <boost/asio/awaitable.hpp>

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>

namespace flowstore {

namespace asio = boost::asio;

namespace detail {
class watch_impl;
}

/// Where a watch begins.
enum class watch_start {
  current_values,  ///< The current value of every matching flow first, then changes.
  updates_only,    ///< Only changes made after the watch started.
  all_history,     ///< Every retained revision first, then changes.
};

struct watch_options {
  watch_start start = watch_start::current_values;
  bool ignore_deletes = false;  ///< Skip removals and purges.
  /// Events held between the server and next(). When it is full the watch pauses the server's
  /// delivery (flow control) rather than dropping events or growing without bound.
  std::size_t buffer_capacity = 256;
  /// Longest wait for the initial values before the initial_values_done marker is sent anyway;
  /// the store's operation timeout when unset.
  std::optional<std::chrono::milliseconds> initial_values_timeout{};
};

/// A change of a flow, or the marker that the initial values are complete.
struct flow_event {
  enum class kind {
    put,                  ///< Created or updated: `value` holds the flow (or `problem` says why not).
    deleted,              ///< Removed.
    purged,               ///< Purged with its history.
    initial_values_done,  ///< Everything that existed when the watch started was delivered.
  };
  kind type = kind::put;
  std::string id;
  std::uint64_t revision = 0;  ///< KV revision; increases along the watch.
  timestamp time;              ///< When the server stored the change.
  std::optional<flow> value{};
  /// For a put whose stored document is not a flow: errc::corrupt_data naming the id.
  std::optional<error> problem{};
};

/// A watch on a store's flows, made by store::watch(). Move-only; destroying it stops the watch.
///
/// Events come in revision order, each once, also across reconnects and server restarts (the
/// underlying ordered consumer resumes after the last revision delivered). A watcher that lags
/// behind sees what the bucket still keeps: when a flow gets more updates than the bucket's
/// history (store_options::history) before the watcher reaches them, the older ones are gone
/// from the server and skipped; the latest revision of every flow always arrives. The marker
/// initial_values_done comes exactly once, also for an empty bucket and in updates_only mode.
///
/// Thread safety: use one watcher from one thread (or strand) at a time.
class watcher {
 public:
  watcher(watcher&&) noexcept;
  watcher& operator=(watcher&&) noexcept;
  ~watcher();

  /// The next event. Ends with errc::closed once stop() was called or the connection closed;
  /// errc::invalid_id when the pattern was invalid; errc::already_running when another next() is
  /// still waiting; errc::cancelled on cancellation (terminal or partial; no event is lost, the
  /// watch goes on). Completes on the awaiting coroutine's executor.
  ///
  ///     while (auto event = co_await w.next()) { … }
  asio::awaitable<result<flow_event>> next();

  /// Stops the watch: unsubscribes (off the caller's executor) and ends a waiting next() with
  /// errc::closed. Idempotent.
  void stop();

  const std::string& pattern() const noexcept;
  /// Events buffered now, the most ever buffered, and the bound (the marker may add one).
  std::size_t buffered() const;
  std::size_t peak_buffered() const;
  std::size_t capacity() const;

 private:
  friend class store;
  explicit watcher(std::shared_ptr<detail::watch_impl> impl) noexcept;
  std::shared_ptr<detail::watch_impl> impl_;
};

}  // namespace flowstore
