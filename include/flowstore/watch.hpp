// Live changes of a store's flows: a pull-based async generator of flow_event.
#pragma once

#include <flowstore/error.hpp>
#include <flowstore/export.hpp>
#include <flowstore/flow.hpp>
#include <flowstore/timestamp.hpp>

#include <boost/asio/awaitable.hpp>

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

namespace flowstore {

namespace detail {
class watch_impl;
}

/// Where a watch begins.
enum class watch_start {
  current_values,  ///< The latest revision of every matching flow first (deletions included), then changes.
  updates_only,    ///< Only changes made after the watch started.
  all_history,     ///< Every retained revision first, then changes.
};

/// Settings for store::watch(): an aggregate; the defaults watch current values and changes.
struct watch_options {
  watch_start start = watch_start::current_values;  ///< Where the watch begins.
  bool ignore_deletes = false;                      ///< Skip removals and purges.
  /// Events held in the watcher for next() (0 counts as 1). The watch asks the server for no
  /// more events than the buffer has room for: a full buffer makes the server send nothing
  /// more, so nothing is dropped and nothing grows.
  std::size_t buffer_capacity = 256;
  /// Longest wait for the initial values before the initial_values_done marker is sent anyway
  /// (a guard against a consumer whose pending count never reaches zero); the store's operation
  /// timeout when unset. Initial values that arrive later come after the marker.
  std::optional<std::chrono::milliseconds> initial_values_timeout{};
};

/// A change of a flow, or the marker that the initial values are complete.
struct flow_event {
  /// The kinds of event.
  enum class kind {
    put,                  ///< Created or updated: `value` holds the flow (or `problem` says why not).
    deleted,              ///< Removed.
    purged,               ///< Purged with its history.
    initial_values_done,  ///< Everything that existed when the watch started was delivered.
  };
  kind type = kind::put;       ///< What happened.
  std::string id;              ///< The flow's id; empty for initial_values_done.
  std::uint64_t revision = 0;  ///< KV revision; increases along the watch. 0 for initial_values_done.
  timestamp time;              ///< When the server stored the change.
  /// For a put: the flow, with `revision` set; empty when the document is not a flow.
  std::optional<flow> value{};
  /// For a put whose stored document is not a flow: errc::corrupt_data naming the id.
  std::optional<error> problem{};
};

/// The name of an event kind: `"put"`, `"deleted"`, `"purged"` or `"initial_values_done"`.
FLOWSTORE_DECL std::string_view to_string(flow_event::kind k) noexcept;

/// A watch on a store's flows, made by store::watch(). Move-only; destroying it stops the watch
/// (once no next() is waiting).
///
/// Events come in revision order, each once, also across reconnects and server restarts (the
/// underlying ordered consumer resumes after the last revision delivered). A watcher that lags
/// behind sees what the bucket still keeps: when a flow gets more updates than the bucket's
/// history (store_options::history) before the watcher reaches them, the older ones are gone
/// from the server and skipped; the latest revision of every flow always arrives. The marker
/// initial_values_done comes exactly once, also for an empty bucket and in updates_only mode.
///
/// Thread safety: use one watcher from one thread (or strand) at a time; stop() and the
/// counters may also be called from another thread while next() waits.
class FLOWSTORE_DECL watcher {
 public:
  /// Takes over the watch; the source is left moved-from (its next() fails with errc::closed).
  watcher(watcher&&) noexcept;
  /// Takes over the watch; the one held before is stopped (once no next() is waiting on it).
  watcher& operator=(watcher&&) noexcept;
  /// Stops the watch (once no next() is waiting on it).
  ~watcher();

  /// The next event, in revision order.
  ///
  ///     while (auto event = co_await w.next()) { … }
  ///
  /// - Errors: errc::closed once stop() was called, the connection closed or the watcher was
  ///   moved from; errc::invalid_id for an invalid pattern (once, then errc::closed);
  ///   errc::already_running when another next() is still waiting; errc::cancelled on
  ///   cancellation. When setting up or running the consumer fails (a transport error, or
  ///   errc::protocol_error for a message without JetStream metadata), that error ends the
  ///   watch and every later next() returns it. A stored document that is not a flow is not
  ///   an error here: it is a put event with `problem` set.
  /// - Lifetimes: the watcher may be moved while next() waits; the wait keeps the watch alive,
  ///   so call stop() to end it.
  /// - Executor: completes on the executor of the awaiting coroutine, never inline.
  /// - Cancellation: terminal and partial; no event is lost and the watch goes on.
  /// - Thread safety: one next() at a time per watcher.
  boost::asio::awaitable<result<flow_event>> next();

  /// Stops the watch: drops the buffered events, deletes its consumer on the server and ends a
  /// waiting next() with errc::closed. Idempotent; never blocks. May be called from any thread.
  void stop();

  /// The pattern given to store::watch(). Not on a moved-from watcher.
  const std::string& pattern() const noexcept;
  /// Events buffered now (for monitoring a slow consumer). Not on a moved-from watcher.
  std::size_t buffered() const;
  /// The most events ever buffered at once. Not on a moved-from watcher.
  std::size_t peak_buffered() const;
  /// The bound on buffered events, watch_options::buffer_capacity (the initial_values_done
  /// marker may add one). Not on a moved-from watcher.
  std::size_t capacity() const;

 private:
  friend class store;
  FLOWSTORE_HIDDEN explicit watcher(std::shared_ptr<detail::watch_impl> impl) noexcept;
  std::shared_ptr<detail::watch_impl> impl_;
};

}  // namespace flowstore
