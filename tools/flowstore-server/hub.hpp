// The change hub: one store watch for the whole server, fanned out to the stream clients of
// each flow, and the bounded outbox every stream client writes from.
#pragma once

#include "app.hpp"

#include <flowstore/watch.hpp>

#include <boost/asio/awaitable.hpp>
#include <boost/asio/steady_timer.hpp>

#include <deque>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

namespace flowstore::server {

/// Messages waiting for one stream client, bounded in bytes: a client that leaves more than its
/// budget unread overflows, and its session drops it. All on the server's one thread.
class outbox {
 public:
  outbox(asio::any_io_executor executor, std::size_t budget) : signal_(executor), budget_(budget) {}

  /// Queues a message; false (and the outbox overflowed) when the budget would be exceeded.
  bool push(std::string message);
  /// The next message; nullopt when `quiet` passed with nothing queued (a heartbeat is due),
  /// and also when closed or overflowed (see done()).
  asio::awaitable<std::optional<std::string>> pop(std::chrono::milliseconds quiet);
  /// Wakes the reader; pop() then returns nullopt with done() true.
  void close();
  bool done() const noexcept { return closed_ || overflowed_; }
  bool overflowed() const noexcept { return overflowed_; }
  std::size_t queued_bytes() const noexcept { return bytes_; }

 private:
  std::deque<std::string> queue_;
  asio::steady_timer signal_;
  std::size_t budget_;
  std::size_t bytes_ = 0;
  bool closed_ = false;
  bool overflowed_ = false;
};

/// What a stream client is told about a change of a flow it follows.
struct flow_change {
  flow_event::kind kind = flow_event::kind::put;
  std::string id;
  std::uint64_t revision = 0;
  timestamp time;
  const flow* value = nullptr;                   ///< For puts that decoded.
  runtime_state previous = runtime_state::unset;  ///< The state before, when the hub knew it.
};

/// A stream client of the hub.
class subscriber {
 public:
  virtual ~subscriber() = default;
  virtual void on_change(const flow_change& change) = 0;
  /// The hub stops (server shutdown): end the stream.
  virtual void on_shutdown() = 0;
};

class change_hub : public std::enable_shared_from_this<change_hub> {
 public:
  explicit change_hub(app& a) : app_(a) {}

  /// Starts the watch (updates only, every flow).
  void start();
  /// Stops the watch and tells every subscriber.
  void stop();

  /// Follows one flow, or every flow for an empty id; until the subscriber is destroyed.
  void subscribe(const std::string& flow_id, std::weak_ptr<subscriber> s);

  /// The state the hub last saw for a flow, to seed it from a fresh read.
  void remember(const flow& f);

 private:
  asio::awaitable<void> run();
  void dispatch(const flow_event& e);

  app& app_;
  bool stopped_ = false;
  std::optional<flowstore::watcher> watch_;
  std::map<std::string, std::vector<std::weak_ptr<subscriber>>> by_flow_;  // "" = every flow
  std::map<std::string, runtime_state> states_;
};

}  // namespace flowstore::server
